package dev.sidecar.spark.internal;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.bundle.BundleArchive;
import dev.sidecar.spark.SidecarSparkException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.spark.SparkEnv;
import org.apache.spark.SparkFiles;

/**
 * Executor side of bundle distribution: finds the archive Spark shipped for a plan and unpacks it
 * once into this machine's cache ({@code ${java.io.tmpdir}/sidecar-cache}, or the system property
 * {@code sidecar.cache.dir}); the unpack is shared by processes through the bundle module's file
 * lock and by tasks of this JVM through a map keyed by digest.
 */
public final class ExecutorBundles {
  /** System property naming the executor-local directory bundles are unpacked into. */
  public static final String CACHE_DIR_PROPERTY = "sidecar.cache.dir";

  private static final Map<String, Bundle> LOADED = new ConcurrentHashMap<>();
  private static final Map<String, AtomicInteger> UNPACKS = new ConcurrentHashMap<>();
  private static final AtomicInteger FETCHES = new AtomicInteger();

  private ExecutorBundles() {
  }

  /** The unpacked, verified bundle of {@code plan}, unpacking it on first use in this JVM. */
  static Bundle bundle(ScoringPlan plan) {
    Bundle known = LOADED.get(plan.bundleDigest());
    if (known != null && Files.isDirectory(known.root())) {
      return known;
    }
    synchronized (ExecutorBundles.class) {
      known = LOADED.get(plan.bundleDigest());
      if (known != null && Files.isDirectory(known.root())) {
        return known;
      }
      Bundle b = unpack(plan);
      LOADED.put(plan.bundleDigest(), b);
      return b;
    }
  }

  private static Bundle unpack(ScoringPlan plan) {
    Path archive = Path.of(SparkFiles.get(plan.shippedFileName()));
    if (!Files.isRegularFile(archive)) {
      archive = fetchFromDriver(plan);
    }
    var result = BundleArchive.unpackCached(archive, cacheRoot());
    Bundle b = result.bundle();
    if (!b.digest().equals(plan.bundleDigest())) {
      throw new SidecarSparkException("the archive shipped as " + plan.shippedFileName()
          + " has digest " + b.digest() + ", expected " + plan.bundleDigest());
    }
    if (result.unpacked()) {
      UNPACKS.computeIfAbsent(plan.bundleDigest(), d -> new AtomicInteger()).incrementAndGet();
    }
    return b;
  }

  /**
   * Fetches the archive from the driver's file server into the cache when Spark did not place
   * it among this task's files (Spark 4 runs a session's queries with the session's own file
   * set, which does not include files added to the context outside it). Once per machine.
   */
  private static Path fetchFromDriver(ScoringPlan plan) {
    Path dir = cacheRoot().resolve("archives");
    Path target = dir.resolve(plan.shippedFileName());
    if (Files.isRegularFile(target)) {
      return target;
    }
    String uri = plan.shippedUri();
    try {
      Files.createDirectories(dir);
      Path tmp = Files.createTempFile(dir, plan.shippedFileName(), ".part");
      try {
        if (uri.startsWith("file:")) {
          Files.copy(Path.of(java.net.URI.create(uri)), tmp,
              java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } else {
          try (java.nio.channels.ReadableByteChannel in = SparkEnv.get().rpcEnv().openChannel(uri);
              java.nio.channels.FileChannel out = java.nio.channels.FileChannel.open(tmp,
                  java.nio.file.StandardOpenOption.WRITE,
                  java.nio.file.StandardOpenOption.TRUNCATE_EXISTING)) {
            java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocateDirect(1 << 16);
            while (in.read(buf) >= 0) {
              buf.flip();
              while (buf.hasRemaining()) {
                out.write(buf);
              }
              buf.clear();
            }
          }
        }
        Files.move(tmp, target, java.nio.file.StandardCopyOption.ATOMIC_MOVE,
            java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      } finally {
        Files.deleteIfExists(tmp);
      }
      FETCHES.incrementAndGet();
      return target;
    } catch (java.io.IOException | RuntimeException e) {
      throw new SidecarSparkException("the archive of bundle " + plan.bundleTag() + " ("
          + plan.shippedFileName() + ") is not among this task's files and cannot be fetched"
          + " from the driver at " + uri + ": " + e, e);
    }
  }

  /** Where bundles are unpacked on this machine. */
  public static Path cacheRoot() {
    String dir = System.getProperty(CACHE_DIR_PROPERTY);
    return dir != null ? Path.of(dir)
        : Path.of(System.getProperty("java.io.tmpdir"), "sidecar-cache");
  }

  /** How many archives this JVM fetched from the driver itself (see {@link #fetchFromDriver}). */
  public static int fetches() {
    return FETCHES.get();
  }

  /** How many times this JVM unpacked the bundle with {@code digest} (0 when another did). */
  public static int unpacks(String digest) {
    AtomicInteger n = UNPACKS.get(digest);
    return n == null ? 0 : n.get();
  }
}
