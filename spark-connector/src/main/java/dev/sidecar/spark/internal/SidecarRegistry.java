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
    private int currentLeases;
    private final Map<SidecarHandle, Integer> retired = new ConcurrentHashMap<>();
    private int starts;

    Slot(Starter starter) {
      this.starter = starter;
    }

    synchronized SidecarHandle current() {
      return current;
    }

    synchronized Lease acquire(SidecarKey key, Supplier<Bundle> bundle, RunOptions options) {
      if (current != null && !current.isAlive()) {
        LOG.warn("sidecar {} for {} is gone; starting a fresh one", current.target(), key);
        retire();
      }
      if (current == null) {
        current = starter.start(key, bundle.get(), options);
        currentLeases = 0;
        starts++;
      }
      currentLeases++;
      return new Lease(this, current);
    }

    /** Called with the lock held: the current sidecar stops taking new leases. */
    private void retire() {
      SidecarHandle old = current;
      current = null;
      if (currentLeases == 0) {
        old.close();
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
        h.close();
      } else {
        retired.put(h, left - 1);
      }
    }

    synchronized List<SidecarHandle> drain() {
      List<SidecarHandle> all = new ArrayList<>(retired.keySet());
      retired.clear();
      if (current != null) {
        all.add(current);
        current = null;
      }
      return all;
    }
  }

  /** A task's use of a sidecar; return it exactly once with {@link #close()}. */
  static final class Lease implements AutoCloseable {
    private final Slot slot;
    private final SidecarHandle handle;
    private boolean broken;
    private boolean released;

    private Lease(Slot slot, SidecarHandle handle) {
      this.slot = slot;
      this.handle = handle;
    }

    SidecarHandle handle() {
      return handle;
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
