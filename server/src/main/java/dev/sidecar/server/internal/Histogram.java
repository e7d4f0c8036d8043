package dev.sidecar.server.internal;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A lock-free latency histogram: log-spaced buckets (about 4% wide) from 1 microsecond to
 * about 20 minutes; percentiles are read as the geometric middle of the bucket they fall in.
 */
final class Histogram {
  private static final double MIN_MS = 0.001;
  private static final double GROWTH = 1.04;
  private static final double LOG_GROWTH = Math.log(GROWTH);
  private static final int BUCKETS = 530;

  private final AtomicLongArray counts = new AtomicLongArray(BUCKETS);

  void record(double ms) {
    int i = ms <= MIN_MS ? 0 : (int) (Math.log(ms / MIN_MS) / LOG_GROWTH) + 1;
    counts.incrementAndGet(Math.min(i, BUCKETS - 1));
  }

  /** The q-quantile (0..1) in milliseconds; 0 when nothing was recorded. */
  double quantile(double q) {
    long[] snap = new long[BUCKETS];
    long total = 0;
    for (int i = 0; i < BUCKETS; i++) {
      snap[i] = counts.get(i);
      total += snap[i];
    }
    if (total == 0) {
      return 0;
    }
    long rank = (long) Math.ceil(q * total);
    long seen = 0;
    for (int i = 0; i < BUCKETS; i++) {
      seen += snap[i];
      if (seen >= rank && snap[i] > 0) {
        if (i == 0) {
          return MIN_MS;
        }
        double lo = MIN_MS * Math.pow(GROWTH, i - 1);
        return lo * Math.sqrt(GROWTH);
      }
    }
    return MIN_MS * Math.pow(GROWTH, BUCKETS - 1);
  }
}
