package dev.sidecar.spark.internal;

import dev.sidecar.proto.inference.GRPCInferenceServiceGrpc;
import dev.sidecar.proto.inference.SystemSharedMemoryRegisterRequest;
import dev.sidecar.proto.inference.SystemSharedMemoryStatusRequest;
import dev.sidecar.proto.inference.SystemSharedMemoryUnregisterRequest;
import dev.sidecar.proto.inference.SystemSharedMemoryUnregisterResponse;
import dev.sidecar.wire.SharedMemoryFiles;
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.nio.MappedByteBuffer;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The shared-memory regions registered with one sidecar, kept for the sidecar's life and lent
 * to its tasks: a task borrows one region per chunk it may have in flight and gives them back
 * when it ends, so the next task of the executor reuses them instead of creating, mapping,
 * registering, unregistering and unmapping regions of its own (and faulting their pages in
 * again). The {@link SidecarRegistry} makes one pool per sidecar it starts and closes it when
 * that sidecar is stopped or replaced, or the {@link ConnectorRuntime} closes.
 *
 * <p>Each region is created 0600 under an unguessable name, mapped here, registered with the
 * sidecar (which maps it too), and its name unlinked at once: it lives only in the two mappings
 * and vanishes with them, however either process ends.
 *
 * <p>Bounds: the pool holds only regions some task asked for, at most the tasks' chunks in
 * flight at the busiest moment (per region size), and the sidecar refuses registrations beyond
 * its per-connection budget; on a refusal the pool first unregisters its idle regions (other
 * sizes) and tries once more, then the task falls back to the stream. Regions left free for
 * {@link #DEFAULT_TRIM_AFTER} or more (e.g. of a size no task has used since) are unregistered
 * and unmapped at the next borrow.
 *
 * <p>A region is reused only once the sidecar is done with it. A task that ends normally has
 * every chunk answered and gives its regions {@linkplain #giveBack back}. A task that fails or is
 * cancelled with chunks unanswered {@linkplain #discard discards} those chunks' regions: the
 * sidecar may still be running them and write their outputs later, so they are unregistered
 * (the sidecar unmaps its side once no request uses it) and unmapped here, never lent again.
 *
 * <p>The sidecar drops a connection's regions when the connection closes (e.g. the channel went
 * idle between jobs and reconnected): each {@link #borrow} first asks the sidecar which regions
 * it holds and forgets those it no longer does.
 */
final class SharedMemoryPool implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(SharedMemoryPool.class);

  /** One registered region of {@link #bytes} bytes, lent to one task at a time. */
  static final class Slot {
    final String name;
    final long bytes;
    final MappedByteBuffer memory;
    /** When it was last given back (System.nanoTime); guarded by the pool. */
    long freeSince;

    Slot(String name, long bytes, MappedByteBuffer memory) {
      this.name = name;
      this.bytes = bytes;
      this.memory = memory;
    }
  }

  /** How long a region may stay free before the next borrow unregisters it. */
  static final Duration DEFAULT_TRIM_AFTER = Duration.ofMinutes(5);

  private final Channel channel;
  private volatile long trimAfterNanos = DEFAULT_TRIM_AFTER.toNanos();
  /** Every region registered by this pool and not discarded: free or lent. Guarded by this. */
  private final Set<Slot> owned = new HashSet<>();
  /** The free ones by size, most recently used last. Guarded by this. */
  private final Map<Long, ArrayDeque<Slot>> free = new HashMap<>();
  private long registrations;
  private boolean closed;

  /** @param channel the sidecar's channel; the pool does not own it */
  SharedMemoryPool(Channel channel) {
    this.channel = channel;
  }

  /**
   * {@code n} regions of {@code bytes} bytes each, registered with the sidecar: free ones of the
   * pool first, new ones for the rest. Throws when the sidecar refuses a registration (then the
   * caller sends bytes on the stream), having given back what it took.
   */
  List<Slot> borrow(long bytes, int n) throws IOException {
    Set<String> live = liveNames();
    List<Slot> got = new ArrayList<>(n);
    List<Slot> gone = new ArrayList<>();
    List<Slot> stale = new ArrayList<>();
    synchronized (this) {
      if (closed) {
        throw new IllegalStateException("the shared-memory regions of this sidecar are closed"
            + " (it was stopped or replaced)");
      }
      for (ArrayDeque<Slot> d : free.values()) {
        d.removeIf(s -> {
          if (!live.contains(s.name)) {
            gone.add(s);
            owned.remove(s);
            return true;
          }
          return false;
        });
      }
      ArrayDeque<Slot> d = free.get(bytes);
      while (d != null && got.size() < n && !d.isEmpty()) {
        got.add(d.pollLast());
      }
      long now = System.nanoTime();
      for (ArrayDeque<Slot> q : free.values()) {
        q.removeIf(s -> {
          if (now - s.freeSince >= trimAfterNanos) {
            stale.add(s);
            owned.remove(s);
            return true;
          }
          return false;
        });
      }
      free.values().removeIf(ArrayDeque::isEmpty);
    }
    if (!gone.isEmpty()) {
      LOG.info("the sidecar no longer holds {} shared-memory region(s) of this executor (its"
          + " connection was replaced); registering new ones", gone.size());
      for (Slot s : gone) {
        drop(s); // unregistered too, in case it was registered after the status was read
      }
    }
    for (Slot s : stale) {
      drop(s);
    }
    boolean trimmed = false;
    try {
      while (got.size() < n) {
        try {
          got.add(register(bytes));
        } catch (StatusRuntimeException e) {
          if (trimmed || e.getStatus().getCode() != Status.Code.RESOURCE_EXHAUSTED
              || trimIdle() == 0) {
            throw e;
          }
          trimmed = true;
        }
      }
      return got;
    } catch (IOException | RuntimeException e) {
      for (Slot s : got) {
        giveBack(s);
      }
      throw e;
    }
  }

  /** The names of the regions the sidecar holds now (from every connection). */
  private Set<String> liveNames() {
    return new HashSet<>(GRPCInferenceServiceGrpc.newBlockingStub(channel)
        .withDeadlineAfter(30, TimeUnit.SECONDS)
        .systemSharedMemoryStatus(SystemSharedMemoryStatusRequest.getDefaultInstance())
        .getRegionsMap().keySet());
  }

  private Slot register(long bytes) throws IOException {
    String key = SharedMemoryFiles.create(bytes);
    String name = key.substring(1);
    MappedByteBuffer m = null;
    try {
      m = SharedMemoryFiles.map(key, 0, bytes);
      GRPCInferenceServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
          .systemSharedMemoryRegister(SystemSharedMemoryRegisterRequest.newBuilder()
              .setName(name).setKey(key).setOffset(0).setByteSize(bytes).build());
      Slot s = new Slot(name, bytes, m);
      m = null;
      boolean late;
      synchronized (this) {
        late = closed;
        if (!late) {
          owned.add(s);
          registrations++;
        }
      }
      if (late) {
        drop(s);
        throw new IllegalStateException("the shared-memory regions of this sidecar were closed"
            + " while region " + name + " was being registered");
      }
      return s;
    } finally {
      SharedMemoryFiles.unlink(key);
      SharedMemoryFiles.unmap(m);
    }
  }

  /**
   * Gives back a region the sidecar is done with (every request that named it was answered):
   * the next task may use it. After {@link #close()} it is unmapped instead.
   */
  void giveBack(Slot s) {
    synchronized (this) {
      if (!closed && owned.contains(s)) {
        s.freeSince = System.nanoTime();
        free.computeIfAbsent(s.bytes, b -> new ArrayDeque<>()).addLast(s);
        return;
      }
      owned.remove(s);
    }
    SharedMemoryFiles.unmap(s.memory);
  }

  /**
   * Drops a region the sidecar may still write into (a request naming it was sent and not
   * answered): unregisters it without waiting and unmaps it here. Never lent again.
   */
  void discard(Slot s) {
    boolean wasClosed;
    synchronized (this) {
      wasClosed = closed;
      owned.remove(s);
    }
    if (wasClosed) {
      SharedMemoryFiles.unmap(s.memory);
    } else {
      drop(s);
    }
  }

  /**
   * Unregisters and unmaps every free region (waiting for the sidecar's answers, so that its
   * budget is free again); returns how many.
   */
  private int trimIdle() {
    List<Slot> idle;
    synchronized (this) {
      idle = takeFree();
    }
    for (Slot s : idle) {
      unregister(s, true);
      SharedMemoryFiles.unmap(s.memory);
    }
    if (!idle.isEmpty()) {
      LOG.info("unregistered {} idle shared-memory region(s) to stay within the sidecar's"
          + " budget", idle.size());
    }
    return idle.size();
  }

  /** Every free region, taken out of the pool (called holding its lock). */
  private List<Slot> takeFree() {
    List<Slot> taken = new ArrayList<>();
    for (ArrayDeque<Slot> d : free.values()) {
      taken.addAll(d);
    }
    free.clear();
    owned.removeAll(taken);
    return taken;
  }

  /** Unregisters {@code s} without waiting and unmaps it here. */
  private void drop(Slot s) {
    unregister(s, false);
    SharedMemoryFiles.unmap(s.memory);
  }

  /** Unregisters {@code s} with the sidecar, waiting for its answer or not; failures logged. */
  private void unregister(Slot s, boolean wait) {
    SystemSharedMemoryUnregisterRequest request =
        SystemSharedMemoryUnregisterRequest.newBuilder().setName(s.name).build();
    try {
      if (wait) {
        GRPCInferenceServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
            .systemSharedMemoryUnregister(request);
      } else {
        GRPCInferenceServiceGrpc.newStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
            .systemSharedMemoryUnregister(request, IGNORE);
      }
    } catch (RuntimeException e) {
      LOG.debug("unregistering shared-memory region {} failed", s.name, e);
    }
  }

  /** The sidecar's channel the pool registers through (tests). */
  Channel channel() {
    return channel;
  }

  /** Sets how long a region may stay free before the next borrow drops it (tests). */
  void trimAfter(Duration d) {
    trimAfterNanos = d.toNanos();
  }

  /** Regions registered by this pool since it was made. */
  synchronized long registrations() {
    return registrations;
  }

  /** Regions this pool holds registered now, free or lent. */
  synchronized int size() {
    return owned.size();
  }

  /** The names of the regions this pool holds registered now, free or lent (for tests). */
  synchronized Set<String> names() {
    Set<String> n = new HashSet<>();
    for (Slot s : owned) {
      n.add(s.name);
    }
    return n;
  }

  synchronized boolean isClosed() {
    return closed;
  }

  /** Free regions now. */
  synchronized int idle() {
    int n = 0;
    for (ArrayDeque<Slot> d : free.values()) {
      n += d.size();
    }
    return n;
  }

  /**
   * Unregisters (without waiting) and unmaps every free region; regions lent to a task are
   * unmapped when it gives them back. Called when the sidecar is stopped or replaced, before its
   * channel closes. Idempotent.
   */
  @Override
  public void close() {
    List<Slot> idle;
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
      idle = takeFree();
    }
    for (Slot s : idle) {
      drop(s);
    }
  }

  private static final StreamObserver<SystemSharedMemoryUnregisterResponse> IGNORE =
      new StreamObserver<>() {
        @Override
        public void onNext(SystemSharedMemoryUnregisterResponse value) {
        }

        @Override
        public void onError(Throwable t) {
        }

        @Override
        public void onCompleted() {
        }
      };
}
