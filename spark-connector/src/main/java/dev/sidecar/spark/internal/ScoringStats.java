package dev.sidecar.spark.internal;

import java.util.concurrent.atomic.AtomicLong;

/**
 * High-water marks of this JVM's partition scorers: the most requests ever unanswered on one
 * stream and the most input rows one scorer ever held. They show that memory stays bounded by
 * {@code chunksInFlight} and {@code chunkRows}, whatever the partition size. Also counts the
 * rows scored in this JVM, which {@code sidecar run} shows as progress.
 *
 * <p>The counters belong to the {@link ConnectorRuntime} (they start again at zero with a new
 * one); the static methods read and update those of the runtime in place, and count nothing
 * (read 0) before the JVM has one.
 */
public final class ScoringStats {
  private final AtomicLong maxInFlight = new AtomicLong();
  private final AtomicLong maxRowsHeld = new AtomicLong();
  private final AtomicLong rowsScored = new AtomicLong();
  private final AtomicLong chunksShared = new AtomicLong();
  private final AtomicLong chunksStreamed = new AtomicLong();

  ScoringStats() {
  }

  /** The current runtime's counters, or null when the JVM has no runtime yet. */
  private static ScoringStats current() {
    ConnectorRuntime rt = ConnectorRuntime.peek();
    return rt == null ? null : rt.stats();
  }

  static void inFlight(long chunks) {
    ScoringStats s = current();
    if (s != null) {
      s.maxInFlight.accumulateAndGet(chunks, Math::max);
    }
  }

  static void rowsHeld(long rows) {
    ScoringStats s = current();
    if (s != null) {
      s.maxRowsHeld.accumulateAndGet(rows, Math::max);
    }
  }

  static void scored(long rows) {
    ScoringStats s = current();
    if (s != null) {
      s.rowsScored.addAndGet(rows);
    }
  }

  static void sent(boolean throughSharedMemory) {
    ScoringStats s = current();
    if (s != null) {
      (throughSharedMemory ? s.chunksShared : s.chunksStreamed).incrementAndGet();
    }
  }

  /** Chunks this JVM's scorers passed to their sidecar through shared memory. */
  public static long chunksThroughSharedMemory() {
    ScoringStats s = current();
    return s == null ? 0 : s.chunksShared.get();
  }

  /** Chunks this JVM's scorers sent as bytes on the stream. */
  public static long chunksStreamed() {
    ScoringStats s = current();
    return s == null ? 0 : s.chunksStreamed.get();
  }

  /** Rows this JVM's scorers have received answers for (a progress counter for local runs). */
  public static long rowsScored() {
    ScoringStats s = current();
    return s == null ? 0 : s.rowsScored.get();
  }

  public static long maxChunksInFlight() {
    ScoringStats s = current();
    return s == null ? 0 : s.maxInFlight.get();
  }

  public static long maxRowsHeld() {
    ScoringStats s = current();
    return s == null ? 0 : s.maxRowsHeld.get();
  }

  public static void reset() {
    ScoringStats s = current();
    if (s != null) {
      s.maxInFlight.set(0);
      s.maxRowsHeld.set(0);
    }
  }
}
