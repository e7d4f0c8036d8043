package dev.sidecar.spark.internal;

import java.util.concurrent.atomic.AtomicLong;

/**
 * High-water marks of this JVM's partition scorers: the most requests ever unanswered on one
 * stream and the most input rows one scorer ever held. They show that memory stays bounded by
 * {@code chunksInFlight} and {@code chunkRows}, whatever the partition size. Also counts the
 * rows scored in this JVM, which {@code sidecar run} shows as progress.
 */
public final class ScoringStats {
  private static final AtomicLong MAX_IN_FLIGHT = new AtomicLong();
  private static final AtomicLong MAX_ROWS_HELD = new AtomicLong();
  private static final AtomicLong ROWS_SCORED = new AtomicLong();
  private static final AtomicLong CHUNKS_SHARED = new AtomicLong();
  private static final AtomicLong CHUNKS_STREAMED = new AtomicLong();

  private ScoringStats() {
  }

  static void inFlight(long chunks) {
    MAX_IN_FLIGHT.accumulateAndGet(chunks, Math::max);
  }

  static void rowsHeld(long rows) {
    MAX_ROWS_HELD.accumulateAndGet(rows, Math::max);
  }

  static void scored(long rows) {
    ROWS_SCORED.addAndGet(rows);
  }

  static void sent(boolean throughSharedMemory) {
    (throughSharedMemory ? CHUNKS_SHARED : CHUNKS_STREAMED).incrementAndGet();
  }

  /** Chunks this JVM's scorers passed to their sidecar through shared memory. */
  public static long chunksThroughSharedMemory() {
    return CHUNKS_SHARED.get();
  }

  /** Chunks this JVM's scorers sent as bytes on the stream. */
  public static long chunksStreamed() {
    return CHUNKS_STREAMED.get();
  }

  /** Rows this JVM's scorers have received answers for (a progress counter for local runs). */
  public static long rowsScored() {
    return ROWS_SCORED.get();
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
