package dev.sidecar.bundle;

/**
 * Adaptive batching settings of one API: rows from concurrent requests are merged into model
 * calls of at most {@code maxBatchSize} rows, and no row waits longer than
 * {@code maxLatencyMs} for its batch to start.
 */
public record BatchingSpec(boolean enabled, int maxBatchSize, int maxLatencyMs) {
  public static final int DEFAULT_MAX_BATCH_SIZE = 1024;
  public static final int DEFAULT_MAX_LATENCY_MS = 10;

  public static BatchingSpec defaults() {
    return new BatchingSpec(true, DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_LATENCY_MS);
  }
}
