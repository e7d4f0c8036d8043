package dev.sidecar.bench;

import com.sun.management.GarbageCollectionNotificationInfo;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.lang.management.MemoryUsage;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.management.ListenerNotFoundException;
import javax.management.NotificationEmitter;
import javax.management.NotificationListener;
import javax.management.openmbean.CompositeData;

/**
 * Peak memory of this JVM (the executor: driver and executor are one JVM in local mode) and of
 * the sidecar processes it started, over one measured window. A thread samples every 20 ms:
 * heap in use, direct buffers, resident set size; a GC listener records the heap left after
 * each collection (the live set); {@code /proc/<pid>/status} VmHWM, reset at the start when the
 * kernel allows, catches peaks between samples.
 */
final class MemorySampler implements AutoCloseable {
  /** Peaks over one window, bytes; -1 where not measured. */
  record Peaks(long rss, long heapUsed, long heapAfterGc, long direct, long sidecarRss, long sidecarPid,
      long selfCpuNanos, long sidecarCpuNanos) {
    Peaks(long rss, long heapUsed, long heapAfterGc, long direct, long sidecarRss, long sidecarPid) {
      this(rss, heapUsed, heapAfterGc, direct, sidecarRss, sidecarPid, -1, -1);
    }

    /** The larger of each figure over two windows; {@code a} may be null. */
    /** These peaks without a sidecar (for a way that runs none; an idle one may be around). */
    Peaks withoutSidecar() {
      return new Peaks(rss, heapUsed, heapAfterGc, direct, -1, -1, selfCpuNanos, -1);
    }

    static Peaks max(Peaks a, Peaks b) {
      if (a == null) {
        return b;
      }
      return new Peaks(Math.max(a.rss, b.rss), Math.max(a.heapUsed, b.heapUsed),
          Math.max(a.heapAfterGc, b.heapAfterGc), Math.max(a.direct, b.direct),
          Math.max(a.sidecarRss, b.sidecarRss), b.sidecarPid >= 0 ? b.sidecarPid : a.sidecarPid,
          a.selfCpuNanos + b.selfCpuNanos, b.sidecarCpuNanos < 0 ? a.sidecarCpuNanos
              : Math.max(0, a.sidecarCpuNanos) + b.sidecarCpuNanos);
    }
  }

  private static final long SELF = ProcessHandle.current().pid();

  private final MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
  private final BufferPoolMXBean directPool = ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)
      .stream().filter(b -> b.getName().equals("direct")).findFirst().orElse(null);
  private final Map<Long, Long> cpuAtStart = new HashMap<>();
  private final Map<Long, Long> sidecarRss = new HashMap<>();
  private final Map<Long, Boolean> sidecarReset = new HashMap<>();
  private final List<NotificationEmitter> emitters = new ArrayList<>();
  private final NotificationListener gcListener = (n, h) -> onGc(n.getUserData());
  private final Thread thread;
  private final boolean selfReset;
  private volatile boolean running = true;
  private volatile long rss;
  private volatile long heap;
  private volatile long heapAfterGc = -1;   // stays -1 when no GC ran in the window
  private volatile long direct;

  private final long selfCpuAtStart = ProcStatus.cpuNanos(ProcessHandle.current());

  private MemorySampler() {
    for (ProcessHandle p : ProcStatus.sidecars()) {
      cpuAtStart.put(p.pid(), ProcStatus.cpuNanos(p));
      sidecarReset.put(p.pid(), ProcStatus.resetPeak(p.pid()));
    }
    selfReset = ProcStatus.resetPeak(SELF);
    for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
      if (gc instanceof NotificationEmitter e) {
        e.addNotificationListener(gcListener, null, null);
        emitters.add(e);
      }
    }
    thread = new Thread(this::loop, "bench-memory-sampler");
    thread.setDaemon(true);
    sample();
    thread.start();
  }

  /** Starts a window now. */
  static MemorySampler start() {
    return new MemorySampler();
  }

  private void loop() {
    int tick = 0;
    while (running) {
      sample();
      if (tick++ % 10 == 0) {
        sampleSidecars();
      }
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  private void sample() {
    rss = Math.max(rss, ProcStatus.rss(SELF));
    heap = Math.max(heap, memory.getHeapMemoryUsage().getUsed());
    if (directPool != null) {
      direct = Math.max(direct, directPool.getMemoryUsed());
    }
  }

  private synchronized void sampleSidecars() {
    for (ProcessHandle p : ProcStatus.sidecars()) {
      sidecarRss.merge(p.pid(), ProcStatus.rss(p.pid()), Math::max);
    }
  }

  private void onGc(Object userData) {
    if (!(userData instanceof CompositeData cd)) {
      return;
    }
    GarbageCollectionNotificationInfo info = GarbageCollectionNotificationInfo.from(cd);
    long used = 0;
    for (MemoryUsage u : info.getGcInfo().getMemoryUsageAfterGc().values()) {
      used += u.getUsed();
    }
    long u = used;
    synchronized (this) {
      heapAfterGc = Math.max(heapAfterGc, u);
    }
  }

  /** Ends the window and returns its peaks; the sidecar is the one that used the most CPU in it. */
  Peaks stop() {
    running = false;
    thread.interrupt();
    try {
      thread.join(1000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    sample();
    sampleSidecars();
    removeListeners();
    long selfPeak = rss;
    if (selfReset) {
      selfPeak = Math.max(selfPeak, ProcStatus.peakRss(SELF));
    }
    long busiest = -1;
    long busiestCpu = -1;
    for (ProcessHandle p : ProcStatus.sidecars()) {
      long used = ProcStatus.cpuNanos(p) - cpuAtStart.getOrDefault(p.pid(), 0L);
      if (used > busiestCpu) {
        busiestCpu = used;
        busiest = p.pid();
      }
    }
    long sidecarPeak = -1;
    if (busiest >= 0) {
      sidecarPeak = sidecarRss.getOrDefault(busiest, -1L);
      // VmHWM is this window's peak if it was reset at the start, else the process lifetime's
      // (a sidecar started inside the window has no earlier lifetime): both are fair here.
      if (sidecarReset.getOrDefault(busiest, Boolean.TRUE)) {
        sidecarPeak = Math.max(sidecarPeak, ProcStatus.peakRss(busiest));
      }
    }
    return new Peaks(selfPeak, heap, heapAfterGc, directPool == null ? -1 : direct, sidecarPeak, busiest,
        ProcStatus.cpuNanos(ProcessHandle.current()) - selfCpuAtStart, busiest >= 0 ? busiestCpu : -1);
  }

  private void removeListeners() {
    for (NotificationEmitter e : emitters) {
      try {
        e.removeNotificationListener(gcListener);
      } catch (ListenerNotFoundException ignored) {
        // already gone
      }
    }
    emitters.clear();
  }

  @Override
  public void close() {
    if (running) {
      stop();
    }
  }
}
