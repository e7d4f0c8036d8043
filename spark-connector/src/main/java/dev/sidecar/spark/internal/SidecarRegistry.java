package dev.sidecar.spark.internal;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.proto.stats.SidecarStatsServiceGrpc;
import dev.sidecar.proto.stats.StatsRequest;
import dev.sidecar.proto.stats.StatsResponse;
import dev.sidecar.spark.RunOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sidecars of a {@link ConnectorRuntime}: one per {@link SidecarKey} (bundle digest, mode
 * and the settings that shape the sidecar), started by the first task that needs it and shared
 * by every concurrent and later task with the same key. Tasks hold a {@link Lease}; a sidecar
 * found dead (or reported broken by a task) is replaced by a fresh one on the next acquire and
 * stopped once its last lease is returned. The runtime's close stops them all
 * ({@link #shutdown()}).
 *
 * <p>Each sidecar comes with its {@link SharedMemoryPool}: the shared-memory regions registered
 * with it, lent to its tasks ({@link Lease#regions()}) and kept between them. The pool closes
 * (its idle regions unregistered and unmapped here) just before its sidecar is stopped: when it
 * is replaced and its last lease returned, or when the runtime closes.
 */
public final class SidecarRegistry {
  private static final Logger LOG = LoggerFactory.getLogger(SidecarRegistry.class);

  /** How the registry starts a sidecar; the runtime's, which numbers and places it. */
  @FunctionalInterface
  interface Starter {
    SidecarHandle start(SidecarKey key, Bundle bundle, RunOptions options);
  }

  private final Starter starter;
  private final Map<SidecarKey, Slot> slots = new ConcurrentHashMap<>();
  private volatile boolean shutDown;

  SidecarRegistry(Starter starter) {
    this.starter = starter;
  }

  /** The registry of this JVM's runtime: {@code ConnectorRuntime.get().sidecars()}. */
  public static SidecarRegistry get() {
    return ConnectorRuntime.get().sidecars();
  }

  /**
   * A lease on the live sidecar for {@code key}, starting one (from the bundle {@code bundle}
   * supplies) when there is none or the current one is dead.
   */
  Lease acquire(SidecarKey key, Supplier<Bundle> bundle, RunOptions options) {
    if (shutDown) {
      throw closedError();
    }
    Slot slot = slots.computeIfAbsent(key, k -> new Slot(starter));
    Lease lease = slot.acquire(key, bundle, options);
    if (shutDown) {
      // Closed while this sidecar started: shutdown() may have drained the slot before it.
      lease.close();
      closeAll(slot.drain());
      throw closedError();
    }
    return lease;
  }

  private static IllegalStateException closedError() {
    return new IllegalStateException("the sidecar connector's runtime this task started with"
        + " is closed (the JVM is exiting, or ConnectorRuntime.close was called)");
  }

  /** Stats from the running sidecar for {@code key}, without starting one. */
  public Optional<StatsResponse> stats(SidecarKey key) {
    Slot slot = slots.get(key);
    SidecarHandle h = slot == null ? null : slot.current();
    if (h == null || !h.isAlive()) {
      return Optional.empty();
    }
    return Optional.of(SidecarStatsServiceGrpc.newBlockingStub(h.channel())
        .withDeadlineAfter(30, TimeUnit.SECONDS).stats(StatsRequest.getDefaultInstance()));
  }

  /** The process id of the running sidecar for {@code key}, if any. */
  public Optional<Long> pid(SidecarKey key) {
    Slot slot = slots.get(key);
    SidecarHandle h = slot == null ? null : slot.current();
    return h == null || !h.isAlive() ? Optional.empty() : Optional.of(h.pid());
  }

  /** The shared-memory pool of the running sidecar for {@code key}, if any (for tests). */
  Optional<SharedMemoryPool> regions(SidecarKey key) {
    Slot slot = slots.get(key);
    SidecarHandle h = slot == null ? null : slot.current();
    return h == null ? Optional.empty() : Optional.ofNullable(slot.pool(h));
  }

  /** How many sidecars this registry has started for {@code key}. */
  public int starts(SidecarKey key) {
    Slot slot = slots.get(key);
    return slot == null ? 0 : slot.starts;
  }

  /** Stops every sidecar and waits for it; later acquires fail. Called by the runtime's close. */
  void shutdown() {
    shutDown = true;
    List<SidecarHandle> all = new ArrayList<>();
    for (Slot s : slots.values()) {
      all.addAll(s.drain());
    }
    slots.clear();
    closeAll(all);
  }

  private static void closeAll(List<SidecarHandle> all) {
    for (SidecarHandle h : all) {
      try {
        h.close();
      } catch (RuntimeException e) {
        LOG.warn("stopping {} failed: {}", h.target(), e.toString());
      }
    }
  }

  /** One key's sidecar, the leases on it, and retired sidecars waiting for their last lease. */
  private static final class Slot {
    private final Starter starter;
    private SidecarHandle current;
    /** The shared-memory pool of each sidecar of this slot not yet stopped. */
    private final Map<SidecarHandle, SharedMemoryPool> pools = new ConcurrentHashMap<>();
    private int currentLeases;
    private final Map<SidecarHandle, Integer> retired = new ConcurrentHashMap<>();
    private int starts;

    Slot(Starter starter) {
      this.starter = starter;
    }

    synchronized SidecarHandle current() {
      return current;
    }

    SharedMemoryPool pool(SidecarHandle h) {
      return pools.get(h);
    }

    /** Closes {@code h}'s pool, then stops {@code h}. */
    private void stop(SidecarHandle h) {
      SharedMemoryPool p = pools.remove(h);
      if (p != null) {
        p.close();
      }
      h.close();
    }

    synchronized Lease acquire(SidecarKey key, Supplier<Bundle> bundle, RunOptions options) {
      if (current != null && !current.isAlive()) {
        LOG.warn("sidecar {} for {} is gone; starting a fresh one", current.target(), key);
        retire();
      }
      if (current == null) {
        current = starter.start(key, bundle.get(), options);
        pools.put(current, new SharedMemoryPool(current.channel()));
        currentLeases = 0;
        starts++;
      }
      currentLeases++;
      return new Lease(this, current, pools.get(current));
    }

    /** Called with the lock held: the current sidecar stops taking new leases. */
    private void retire() {
      SidecarHandle old = current;
      current = null;
      if (currentLeases == 0) {
        stop(old);
      } else {
        retired.put(old, currentLeases);
      }
      currentLeases = 0;
    }

    synchronized void release(SidecarHandle h, boolean broken) {
      if (h == current) {
        currentLeases--;
        if (broken) {
          retire();
        }
        return;
      }
      Integer left = retired.get(h);
      if (left == null) {
        return;
      }
      if (left <= 1) {
        retired.remove(h);
        stop(h);
      } else {
        retired.put(h, left - 1);
      }
    }

    /**
     * Takes every sidecar out of this slot, closing their pools; the caller stops them. A task
     * still holding a region keeps it mapped until it gives it back.
     */
    synchronized List<SidecarHandle> drain() {
      List<SidecarHandle> all = new ArrayList<>(retired.keySet());
      retired.clear();
      if (current != null) {
        all.add(current);
        current = null;
      }
      for (SidecarHandle h : all) {
        SharedMemoryPool p = pools.remove(h);
        if (p != null) {
          p.close();
        }
      }
      return all;
    }
  }

  /** A task's use of a sidecar; return it exactly once with {@link #close()}. */
  static final class Lease implements AutoCloseable {
    private final Slot slot;
    private final SidecarHandle handle;
    private final SharedMemoryPool regions;
    private boolean broken;
    private boolean released;

    private Lease(Slot slot, SidecarHandle handle, SharedMemoryPool regions) {
      this.slot = slot;
      this.handle = handle;
      this.regions = regions;
    }

    SidecarHandle handle() {
      return handle;
    }

    /** The sidecar's shared-memory regions, to borrow from for this task's chunks. */
    SharedMemoryPool regions() {
      return regions;
    }

    /** Reports that the sidecar failed this task: the next acquire starts a fresh one. */
    void markBroken() {
      broken = true;
    }

    @Override
    public void close() {
      if (!released) {
        released = true;
        slot.release(handle, broken);
      }
    }
  }
}
