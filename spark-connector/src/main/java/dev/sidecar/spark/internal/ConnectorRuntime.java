package dev.sidecar.spark.internal;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.spark.RunOptions;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one owner of what the connector keeps in a JVM, on an executor and on a driver (which in
 * local mode is its own executor). Nothing else in the connector holds state in static fields;
 * each of these is an instance this runtime creates, holds and ends:
 *
 * <ul>
 *   <li>{@link #sidecars()}: the running sidecars and the tasks' leases on them
 *       ({@link SidecarRegistry});
 *   <li>{@link #bundles()}: the bundle archives this JVM fetched and unpacked into the
 *       {@linkplain SidecarCache cache} ({@link ExecutorBundles});
 *   <li>the sidecars' scratch directories and ONNX Runtime's verified native libraries
 *       ({@link SidecarScratch}), and the sidecars' class path ({@link SidecarClassPath});
 *   <li>{@link #shipper()}: on a driver, each application's staged archives and broadcast
 *       Hadoop configuration, dropped when the application ends ({@link BundleShipper});
 *   <li>{@link #archives()}: on a driver, the local archives it verified in full and may
 *       take as verified while they are unchanged ({@link VerifiedArchives}).
 * </ul>
 *
 * <p>Lifecycle: the first {@link #get()} in a JVM creates the runtime, which registers one JVM
 * shutdown hook; every later {@code get()} returns the same runtime until it is closed.
 * {@link #close()} (the hook calls it when the JVM exits) stops every sidecar and waits for it,
 * deletes their scratch directories and the driver's staged archives, and clears what was
 * cached in memory; it removes the hook. The next {@code get()} after a close creates a fresh
 * runtime, which starts sidecars again as tasks need them (tests rely on this to reset). The
 * files in the cache that outlive a JVM on purpose (unpacked bundles, native libraries, fetched
 * archives, a failed sidecar's log) are not the runtime's and stay.
 */
public final class ConnectorRuntime implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ConnectorRuntime.class);

  /**
   * The holder: this JVM's runtime, or the last one closed (whose counter numbers the next
   * one's sidecars, so names stay unique in the JVM). The connector's only static state.
   */
  private static volatile ConnectorRuntime current;

  private final AtomicInteger sidecarNumbers;
  private final SidecarScratch scratch = new SidecarScratch();
  private final SidecarClassPath classPath = new SidecarClassPath();
  private final SidecarRegistry sidecars = new SidecarRegistry(this::start);
  private final ExecutorBundles bundles = new ExecutorBundles();
  private final BundleShipper shipper = new BundleShipper();
  private final VerifiedArchives archives = new VerifiedArchives();
  private final AtomicBoolean sharedMemoryUsed = new AtomicBoolean();
  private final Thread hook;
  private volatile boolean closed;

  private ConnectorRuntime(int sidecarsBefore) {
    this.sidecarNumbers = new AtomicInteger(sidecarsBefore);
    this.hook = new Thread(this::close, "sidecar-runtime-shutdown");
    try {
      Runtime.getRuntime().addShutdownHook(hook);
    } catch (IllegalStateException e) {
      throw new IllegalStateException("the JVM is exiting: the sidecar connector starts"
          + " nothing new", e);
    }
  }

  /** This JVM's runtime, created when there is none or the last one was closed. */
  public static ConnectorRuntime get() {
    ConnectorRuntime rt = current;
    if (rt != null && !rt.closed) {
      return rt;
    }
    synchronized (ConnectorRuntime.class) {
      rt = current;
      if (rt == null || rt.closed) {
        rt = new ConnectorRuntime(rt == null ? 0 : rt.sidecarNumbers.get());
        current = rt;
      }
      return rt;
    }
  }

  /**
   * This JVM's runtime as it is, without creating one: null before the first {@link #get()},
   * possibly closed. For counters that should neither start a runtime nor fail while the JVM
   * exits.
   */
  static ConnectorRuntime peek() {
    return current;
  }

  /** The sidecars of this runtime and the leases on them. */
  public SidecarRegistry sidecars() {
    return sidecars;
  }

  /** What this runtime fetched and unpacked. */
  public ExecutorBundles bundles() {
    return bundles;
  }

  /** The driver side: archives shipped to executors and remote sources, per application. */
  public BundleShipper shipper() {
    return shipper;
  }

  /** The driver side: local archives verified in full, remembered while unchanged. */
  public VerifiedArchives archives() {
    return archives;
  }

  public boolean isClosed() {
    return closed;
  }

  /**
   * True the first time a scorer of this runtime maps shared memory: it then deletes regions
   * that ended processes of this user left in {@code /dev/shm}.
   */
  boolean firstSharedMemoryUse() {
    return sharedMemoryUsed.compareAndSet(false, true);
  }

  /** A task's lease on the sidecar for {@code plan}, unpacking and starting as needed. */
  SidecarRegistry.Lease lease(ScoringPlan plan) {
    return sidecars.acquire(plan.sidecarKey(), () -> bundles.bundle(plan), plan.options());
  }

  /** Starts a sidecar process as an executor does, outside the registry (for benchmarks). */
  public SidecarProcess startProcess(Bundle bundle, RunOptions options) {
    return SidecarProcess.start(bundle, options, sidecarNumbers.incrementAndGet(), scratch,
        classPath);
  }

  private SidecarHandle start(SidecarKey key, Bundle bundle, RunOptions options) {
    return key.mode() == RunOptions.SidecarMode.IN_PROCESS
        ? InProcessSidecar.start(bundle, options, sidecarNumbers.incrementAndGet())
        : startProcess(bundle, options);
  }

  /**
   * Stops every sidecar (waiting for each process to exit), deletes their scratch directories
   * and the staged archives, clears the caches and removes the shutdown hook. Idempotent; a
   * lease taken before returns without effect, and the next {@link #get()} makes a new runtime.
   */
  @Override
  public void close() {
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
    }
    if (Thread.currentThread() != hook) {
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException e) {
        // The JVM is exiting; the hook may be running this very close concurrently.
      }
    }
    sidecars.shutdown();
    scratch.close();
    shipper.close();
    classPath.clear();
    LOG.debug("sidecar connector runtime closed");
  }
}
