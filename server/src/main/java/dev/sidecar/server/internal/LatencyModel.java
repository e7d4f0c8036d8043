package dev.sidecar.server.internal;

/**
 * The batcher's online model of inference time: {@code t(n) = fixed + perRow * n} milliseconds
 * for a batch of n rows, fitted by least squares over every measured batch with exponential
 * forgetting (old measurements fade, so the model follows load and warm-up changes).
 */
final class LatencyModel {
  /** Weight kept by the past at each new measurement (effective memory ~ 1/(1-DECAY) batches). */
  static final double DECAY = 0.98;
  /** Batches measured before the model is trusted for waiting decisions. */
  static final int WARMUP_BATCHES = 8;

  private double s0;
  private double sn;
  private double snn;
  private double st;
  private double snt;
  private long samples;
  private double fixedMs;
  private double perRowMs;

  synchronized void observe(int rows, double ms) {
    s0 = s0 * DECAY + 1;
    sn = sn * DECAY + rows;
    snn = snn * DECAY + (double) rows * rows;
    st = st * DECAY + ms;
    snt = snt * DECAY + rows * ms;
    samples++;
    fit();
  }

  private void fit() {
    double det = s0 * snn - sn * sn;
    double b;
    double a;
    if (det > 1e-9 * s0 * snn) {
      b = (s0 * snt - sn * st) / det;
      a = (st - b * sn) / s0;
    } else {
      // Every batch had the same size: the time cannot be split, so it all counts as fixed.
      b = 0;
      a = st / s0;
    }
    if (b < 0) {
      b = 0;
      a = st / s0;
    }
    if (a < 0) {
      a = 0;
      b = snn > 0 ? snt / snn : 0;
    }
    fixedMs = a;
    perRowMs = b;
  }

  synchronized boolean ready() {
    return samples >= WARMUP_BATCHES;
  }

  synchronized double fixedMs() {
    return fixedMs;
  }

  synchronized double perRowMs() {
    return perRowMs;
  }

  synchronized double predictMs(int rows) {
    return fixedMs + perRowMs * rows;
  }
}
