package dev.sidecar.spark.internal;

import java.util.concurrent.atomic.AtomicLong;

/**
 * High-water marks of this JVM's partition scorers: the most requests ever unanswered on one
 * stream and the most input rows one scorer ever held. They show that memory stays bounded by
 * {@code chunksInFlight} and {@code chunkRows}, whatever the partition size.
 */
public final class ScoringStats {
  private static final AtomicLong MAX_IN_FLIGHT = new AtomicLong();
  private static final AtomicLong MAX_ROWS_HELD = new AtomicLong();

  private ScoringStats() {
  }

  static void inFlight(long chunks) {
    MAX_IN_FLIGHT.accumulateAndGet(chunks, Math::max);
  }

  static void rowsHeld(long rows) {
    MAX_ROWS_HELD.accumulateAndGet(rows, Math::max);
  }

  public static long maxChunksInFlight() {
    return MAX_IN_FLIGHT.get();
  }

  public static long maxRowsHeld() {
    return MAX_ROWS_HELD.get();
  }

  public static void reset() {
    MAX_IN_FLIGHT.set(0);
    MAX_ROWS_HELD.set(0);
  }
}
