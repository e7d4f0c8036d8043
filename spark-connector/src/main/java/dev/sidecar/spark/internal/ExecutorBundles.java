package dev.sidecar.spark.internal;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.bundle.BundleArchive;
import dev.sidecar.bundle.files.FileTrees;
import dev.sidecar.bundle.files.PrivateFiles;
import dev.sidecar.spark.SidecarSparkException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.spark.SparkEnv;
import org.apache.spark.SparkFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Executor side of bundle distribution: finds the archive Spark shipped for a plan (or copies it
 * from the plan's URI, {@link RemoteArchives#fetch}) and unpacks it
 * into the {@linkplain SidecarCache cache} once per cache; the unpack is shared by processes
 * through the bundle module's file lock. Every sidecar start goes through
 * {@link BundleArchive#unpackCached}, which checks the cached copy before it is served again.
 */
public final class ExecutorBundles {
  private static final Logger LOG = LoggerFactory.getLogger(ExecutorBundles.class);
  private static final Map<String, AtomicInteger> UNPACKS = new ConcurrentHashMap<>();
  private static final AtomicInteger FETCHES = new AtomicInteger();

  private ExecutorBundles() {
  }

  /** The unpacked, verified bundle of {@code plan}, unpacking it when the cache lacks it. */
  static Bundle bundle(ScoringPlan plan) {
    Path cache = SidecarCache.root();
    Path archive;
    if (plan.remote() != null) {
      archive = RemoteArchives.fetch(plan, cache);
    } else {
      archive = Path.of(SparkFiles.get(plan.shippedFileName()));
      if (!Files.isRegularFile(archive)) {
        archive = fetchFromDriver(plan, cache);
      }
    }
    var result = BundleArchive.unpackCached(archive, cache);
    Bundle b = result.bundle();
    if (!b.digest().equals(plan.bundleDigest())) {
      throw new SidecarSparkException("the archive " + (plan.remote() != null
          ? "read from " + plan.remote().uri() : "shipped as " + plan.shippedFileName())
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
   * set, which does not include files added to the context outside it). Once per cache.
   */
  private static Path fetchFromDriver(ScoringPlan plan, Path cache) {
    String uri = plan.shippedUri();
    try {
      Path dir = PrivateFiles.directory(cache.resolve("archives"));
      Path target = dir.resolve(plan.shippedFileName());
      if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
        try {
          PrivateFiles.checkOwned(target, false);
          return target;
        } catch (IOException e) {
          LOG.warn("fetching {} again: {}", target, e.getMessage());
          FileTrees.deleteRecursively(target);
        }
      }
      Path tmp = PrivateFiles.tempFile(dir, plan.shippedFileName(), ".part");
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
