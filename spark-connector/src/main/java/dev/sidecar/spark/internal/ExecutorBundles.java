package dev.sidecar.spark.internal;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.bundle.BundleArchive;
import dev.sidecar.spark.SidecarSparkException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
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
      throw new SidecarSparkException("the archive of bundle " + plan.bundleTag() + " ("
          + plan.shippedFileName() + ") was not shipped to this executor: " + archive
          + " does not exist");
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

  /** Where bundles are unpacked on this machine. */
  public static Path cacheRoot() {
    String dir = System.getProperty(CACHE_DIR_PROPERTY);
    return dir != null ? Path.of(dir)
        : Path.of(System.getProperty("java.io.tmpdir"), "sidecar-cache");
  }

  /** How many times this JVM unpacked the bundle with {@code digest} (0 when another did). */
  public static int unpacks(String digest) {
    AtomicInteger n = UNPACKS.get(digest);
    return n == null ? 0 : n.get();
  }
}
