package dev.sidecar.spark.internal;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.bundle.BundleArchive;
import dev.sidecar.bundle.BundleException;
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
 * {@link BundleArchive#unpackCached} with the digest the driver planned with: an archive of
 * another bundle is refused before anything is reused or unpacked, a fresh unpack hashes every
 * file once as it writes it, and a cached copy is reused only while its verified marker matches
 * (else it is hashed again and, if damaged, unpacked again). The sidecar process then opens
 * the entry through the same marker instead of hashing it again.
 * One per {@link ConnectorRuntime}, which also holds its counters.
 */
public final class ExecutorBundles {
  private static final Logger LOG = LoggerFactory.getLogger(ExecutorBundles.class);
  private final Map<String, AtomicInteger> unpacks = new ConcurrentHashMap<>();
  private final AtomicInteger fetches = new AtomicInteger();
  private final AtomicInteger remoteFetches = new AtomicInteger();

  ExecutorBundles() {
  }

  /** The unpacked, verified bundle of {@code plan}, unpacking it when the cache lacks it. */
  Bundle bundle(ScoringPlan plan) {
    Path cache = SidecarCache.root();
    Path archive;
    boolean ownCopy = true;
    if (plan.remote() != null) {
      archive = RemoteArchives.fetch(plan, cache, remoteFetches);
    } else {
      archive = Path.of(SparkFiles.get(plan.shippedFileName()));
      ownCopy = !Files.isRegularFile(archive);
      if (ownCopy) {
        archive = fetchFromDriver(plan, cache);
      }
    }
    // The planned digest goes with the archive: another bundle is refused before anything is
    // reused or unpacked, and the files are hashed once, as they are unpacked.
    BundleArchive.UnpackResult result;
    try {
      result = BundleArchive.unpackCached(archive, cache, BundleArchive.Limits.defaults(),
          plan.bundleDigest());
    } catch (BundleException e) {
      if (ownCopy) {
        discardCopy(archive); // truncated or replaced: the next attempt copies it afresh
      }
      throw new SidecarSparkException("the archive " + (plan.remote() != null
          ? "read from " + plan.remote().uri() : "shipped as " + plan.shippedFileName())
          + " cannot be used for bundle " + plan.bundleTag() + " (" + plan.bundleDigest()
          + ", as planned on the driver): " + e.getMessage(), e);
    }
    Bundle b = result.bundle();
    if (result.unpacked()) {
      unpacks.computeIfAbsent(plan.bundleDigest(), d -> new AtomicInteger()).incrementAndGet();
    }
    return b;
  }

  /**
   * Fetches the archive from the driver's file server into the cache when Spark did not place
   * it among this task's files (Spark 4 runs a session's queries with the session's own file
   * set, which does not include files added to the context outside it). Once per cache.
   */
  private Path fetchFromDriver(ScoringPlan plan, Path cache) {
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
      fetches.incrementAndGet();
      return target;
    } catch (java.io.IOException | RuntimeException e) {
      throw new SidecarSparkException("the archive of bundle " + plan.bundleTag() + " ("
          + plan.shippedFileName() + ") is not among this task's files and cannot be fetched"
          + " from the driver at " + uri + ": " + e, e);
    }
  }

  /** Removes this cache's copy of an archive that failed verification. */
  private static void discardCopy(Path archive) {
    try {
      if (Files.deleteIfExists(archive)) {
        LOG.warn("removed {}: it failed verification", archive);
      }
    } catch (IOException e) {
      LOG.warn("cannot remove {} after it failed verification: {}", archive, e.toString());
    }
  }

  /** How many archives this runtime fetched from the driver itself (see {@link #fetchFromDriver}). */
  public int fetches() {
    return fetches.get();
  }

  /** How many archives this runtime copied from URIs (see {@link RemoteArchives#fetch}). */
  public int remoteFetches() {
    return remoteFetches.get();
  }

  /** How many times this runtime unpacked the bundle with {@code digest} (0 when another did). */
  public int unpacks(String digest) {
    AtomicInteger n = unpacks.get(digest);
    return n == null ? 0 : n.get();
  }
}
