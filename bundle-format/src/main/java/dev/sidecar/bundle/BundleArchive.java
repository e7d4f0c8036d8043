package dev.sidecar.bundle;

import dev.sidecar.bundle.internal.ArchiveReader;
import dev.sidecar.bundle.internal.Digests;
import dev.sidecar.bundle.internal.FileTrees;
import dev.sidecar.bundle.internal.Locks;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads {@code .bundle} archives safely. Every read verifies the manifest and every entry's
 * size and SHA-256, and refuses {@code ..} or absolute names, links, devices, entries larger
 * than declared, archives expanding past {@link Limits}, truncated or corrupt files, files
 * missing from or not listed in the manifest, and unknown format versions. Unpacking writes
 * into a temporary directory beside the target and renames it into place only when everything
 * checked out; on failure nothing is left behind.
 */
public final class BundleArchive {
  private static final Logger LOG = LoggerFactory.getLogger(BundleArchive.class);

  private BundleArchive() {
  }

  /**
   * Bounds on what reading an archive may expand to. Defaults: 8 GiB and 10,000 entries,
   * overridable with the system properties {@code sidecar.bundle.maxExpandedBytes} and
   * {@code sidecar.bundle.maxEntries}.
   */
  public record Limits(long maxExpandedBytes, int maxEntries) {
    public static final long DEFAULT_MAX_EXPANDED_BYTES = 8L << 30;
    public static final int DEFAULT_MAX_ENTRIES = 10_000;

    public Limits {
      if (maxExpandedBytes <= 0 || maxEntries <= 0) {
        throw new IllegalArgumentException("limits must be positive");
      }
    }

    /** The defaults, or the system properties when set. */
    public static Limits defaults() {
      return new Limits(Long.getLong("sidecar.bundle.maxExpandedBytes", DEFAULT_MAX_EXPANDED_BYTES),
          Integer.getInteger("sidecar.bundle.maxEntries", DEFAULT_MAX_ENTRIES));
    }
  }

  /** An unpacked bundle and whether this call unpacked it ({@code false}: reused from the cache). */
  public record UnpackResult(Bundle bundle, boolean unpacked) {
  }

  /** Reads and verifies the whole archive without writing anything. */
  public static BundleInfo inspect(Path archive) {
    return inspect(archive, Limits.defaults());
  }

  public static BundleInfo inspect(Path archive, Limits limits) {
    ArchiveReader.Result r = ArchiveReader.read(archive, limits.maxExpandedBytes(),
        limits.maxEntries(), null);
    return new BundleInfo(r.manifest(), r.digest());
  }

  /**
   * Reads the archive's manifest and digest only (the first entry), without verifying the
   * files. Cheap; use {@link #inspect(Path)} to verify.
   */
  public static BundleInfo peek(Path archive) {
    ArchiveReader.Result r = ArchiveReader.peek(archive);
    return new BundleInfo(r.manifest(), r.digest());
  }

  /** Unpacks into {@code targetDir}, which must not exist yet; verified, atomic. */
  public static Bundle unpack(Path archive, Path targetDir) {
    return unpack(archive, targetDir, Limits.defaults());
  }

  public static Bundle unpack(Path archive, Path targetDir, Limits limits) {
    Path target = targetDir.toAbsolutePath().normalize();
    if (Files.exists(target)) {
      throw new BundleException(target + " already exists; unpack needs a new directory");
    }
    Path tmp = FileTrees.tempSibling(target, "unpack");
    boolean done = false;
    try {
      Files.createDirectories(tmp);
      ArchiveReader.Result r = ArchiveReader.read(archive, limits.maxExpandedBytes(),
          limits.maxEntries(), tmp);
      Files.write(tmp.resolve("manifest.json"), r.manifestBytes());
      FileTrees.moveAtomic(tmp, target, false);
      done = true;
      return Bundle.of(target, r.manifest(), r.digest());
    } catch (IOException e) {
      throw new BundleException("cannot unpack " + archive + " into " + target + ": "
          + e.getMessage(), e);
    } finally {
      if (!done) {
        FileTrees.deleteQuietly(tmp);
      }
    }
  }

  /**
   * Unpacks into {@code cacheRoot/<digest hex>/} unless that directory is already there, in
   * which case it is reused without copying. Safe when several threads and processes call it
   * at once for the same archive: one unpacks (under a file lock, into a temporary directory
   * renamed into place), the others wait and reuse its result.
   */
  public static UnpackResult unpackCached(Path archive, Path cacheRoot) {
    return unpackCached(archive, cacheRoot, Limits.defaults());
  }

  public static UnpackResult unpackCached(Path archive, Path cacheRoot, Limits limits) {
    String digest = ArchiveReader.peek(archive).digest();
    String hex = Digests.hexOf(digest);
    Path root = cacheRoot.toAbsolutePath().normalize();
    Path dir = root.resolve(hex);
    Bundle ready = Bundle.openCached(dir, digest);
    if (ready != null) {
      return new UnpackResult(ready, false);
    }
    return Locks.withLock(root.resolve(".locks").resolve(hex + ".lock"), () -> {
      Bundle again = Bundle.openCached(dir, digest);
      if (again != null) {
        return new UnpackResult(again, false);
      }
      if (Files.exists(dir)) {
        LOG.warn("cached bundle {} is damaged; unpacking it again", dir);
        Path trash = FileTrees.tempSibling(dir, "trash");
        try {
          FileTrees.moveAtomic(dir, trash, false);
        } catch (IOException e) {
          throw new BundleException("cannot replace damaged cache entry " + dir + ": "
              + e.getMessage(), e);
        }
        FileTrees.deleteQuietly(trash);
      }
      Bundle b = unpack(archive, dir, limits);
      if (!b.digest().equals(digest)) {
        FileTrees.deleteQuietly(dir);
        throw new BundleException(archive + " changed while it was being unpacked");
      }
      LOG.info("unpacked {} ({}) into {}", b.tag(), digest, dir);
      return new UnpackResult(b, true);
    });
  }
}
