package dev.sidecar.server.internal;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The bytes every {@code ModelStreamInfer} stream holds in the server (requests read and not yet
 * answered, answers its client has not taken), bounded per stream and in total. A stream reads
 * its next request only while both bounds leave room; streams held back by the total are woken
 * when another stream releases bytes.
 */
final class StreamBuffers {
  private final long perStream;
  private final long total;
  private final AtomicLong used = new AtomicLong();
  private final Set<InferStream> waiting = ConcurrentHashMap.newKeySet();

  StreamBuffers(long perStream, long total) {
    this.perStream = perStream;
    this.total = total;
  }

  long perStream() {
    return perStream;
  }

  long total() {
    return total;
  }

  long used() {
    return used.get();
  }

  /** Adds (or, when negative, releases) bytes held by a stream. */
  void charge(long bytes) {
    used.addAndGet(bytes);
  }

  /**
   * True if the total leaves room; otherwise {@code s} is woken by {@link #wake} once it does.
   * Checked again after registering, so that a release in between is not missed.
   */
  boolean roomFor(InferStream s) {
    if (used.get() < total) {
      return true;
    }
    waiting.add(s);
    if (used.get() < total) {
      waiting.remove(s);
      return true;
    }
    return false;
  }

  /** Lets the streams held back by the total read again; call holding no stream's lock. */
  void wake() {
    for (InferStream s : waiting) {
      if (used.get() >= total) {
        return;
      }
      if (waiting.remove(s)) {
        s.pump();
      }
    }
  }

  void forget(InferStream s) {
    waiting.remove(s);
  }
}
