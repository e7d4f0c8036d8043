package dev.sidecar.bundle;

/**
 * Adaptive batching settings of one API: rows from concurrent requests are merged into model
 * calls of at most {@code maxBatchSize} rows, and no row waits longer than
 * {@code maxLatencyMs} for its batch to start.
 *
 * <p>The constructor is the one place these settings are checked: a bundle.yaml, a manifest.json
 * and code all get the same {@link IllegalArgumentException} message (readers add where the value
 * came from).
 */
public record BatchingSpec(boolean enabled, int maxBatchSize, int maxLatencyMs) {
  public static final int DEFAULT_MAX_BATCH_SIZE = 1024;
  public static final int DEFAULT_MAX_LATENCY_MS = 10;
  /** Largest accepted {@code max_batch_size} (rows per model call). */
  public static final int MAX_BATCH_SIZE_LIMIT = 1 << 24;
  /** Largest accepted {@code max_latency_ms} (ten minutes). */
  public static final int MAX_LATENCY_MS_LIMIT = 600_000;

  /** @throws IllegalArgumentException naming the field and the value when a value is out of range */
  public BatchingSpec {
    if (maxBatchSize < 1 || maxBatchSize > MAX_BATCH_SIZE_LIMIT) {
      throw new IllegalArgumentException("max_batch_size must be in [1, " + MAX_BATCH_SIZE_LIMIT
          + "] rows, found " + maxBatchSize);
    }
    if (maxLatencyMs < 0 || maxLatencyMs > MAX_LATENCY_MS_LIMIT) {
      throw new IllegalArgumentException("max_latency_ms must be in [0, " + MAX_LATENCY_MS_LIMIT
          + "] milliseconds, found " + maxLatencyMs);
    }
  }

  public static BatchingSpec defaults() {
    return new BatchingSpec(true, DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_LATENCY_MS);
  }
}
