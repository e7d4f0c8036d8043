package dev.sidecar.bundle;

import dev.sidecar.bundle.files.Digests;
import dev.sidecar.bundle.files.FileTrees;
import dev.sidecar.bundle.files.Locks;
import dev.sidecar.bundle.files.PrivateFiles;
import dev.sidecar.bundle.internal.ArchiveReader;
import dev.sidecar.bundle.internal.Names;
import dev.sidecar.bundle.internal.VerifiedMarker;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
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

    /**
     * The largest archive file accepted (what an import copies at most): the expanded limit
     * plus gzip's worst case on incompressible data (under 1/64), a tar header and padding per
     * entry and 2 MiB of slack for the tar end blocks and the gzip header and trailer.
     */
    public long maxArchiveBytes() {
      long overhead = maxExpandedBytes / 64 + 1024L * (maxEntries + 2L) + (2L << 20);
      return maxExpandedBytes > Long.MAX_VALUE - overhead ? Long.MAX_VALUE
          : maxExpandedBytes + overhead;
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
    return inspect(archive, archive.toString(), limits);
  }

  /**
   * As {@link #inspect(Path, Limits)}; messages name {@code shownAs} (where the file came from,
   * such as the URI it was downloaded from) instead of the file.
   */
  public static BundleInfo inspect(Path archive, String shownAs, Limits limits) {
    ArchiveReader.Result r = ArchiveReader.read(archive, shownAs, limits, null);
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

  /**
   * As {@link #peek(Path)}, from the start of an archive's bytes (a download, a remote object):
   * reads only as far as the manifest. Messages name {@code shownAs}. The caller closes
   * {@code in}.
   */
  public static BundleInfo peek(InputStream in, String shownAs) {
    ArchiveReader.Result r = ArchiveReader.peek(in, shownAs);
    return new BundleInfo(r.manifest(), r.digest());
  }

  /**
   * Unpacks into {@code targetDir}, which must not exist yet; verified, atomic. Directories are
   * created 0700 and files 0600, whatever the umask.
   */
  public static Bundle unpack(Path archive, Path targetDir) {
    return unpack(archive, targetDir, Limits.defaults());
  }

  public static Bundle unpack(Path archive, Path targetDir, Limits limits) {
    Path target = targetDir.toAbsolutePath().normalize();
    if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
      throw new BundleException(target + " already exists; unpack needs a new directory");
    }
    Path tmp = FileTrees.tempSibling(target, "unpack");
    boolean done = false;
    try {
      PrivateFiles.directory(tmp);
      ArchiveReader.Result r = ArchiveReader.read(archive, limits, tmp);
      try (OutputStream out = PrivateFiles.newFile(tmp.resolve(Names.MANIFEST))) {
        out.write(r.manifestBytes());
      }
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
   * Unpacks into {@code cacheRoot/<digest hex>/} unless a verified copy is already there, in
   * which case it is reused without copying. Safe when several threads and processes call it
   * at once for the same archive: one unpacks (under a file lock, into a temporary directory
   * renamed into place), the others wait and reuse its result.
   *
   * <p>An unpack hashes every file once, as it writes it. What is reused is what the digest
   * says: a copy is trusted without hashing only while its {@link VerifiedMarker} (written
   * right after each verification, trusted at once) still matches every file's
   * size, mtime, ctime and inode; otherwise it is hashed again in full. A damaged copy — edited,
   * truncated, a link, writable by group or others — is moved aside and unpacked again from
   * the archive, with a WARN naming what was wrong. The cache root must be this user's and
   * writable by nobody else (it is created 0700 when missing); a cache entry that belongs to
   * another user is refused.
   */
  public static UnpackResult unpackCached(Path archive, Path cacheRoot) {
    return unpackCached(archive, cacheRoot, Limits.defaults());
  }

  public static UnpackResult unpackCached(Path archive, Path cacheRoot, Limits limits) {
    return unpackCached(archive, cacheRoot, limits, null);
  }

  /**
   * As {@link #unpackCached(Path, Path, Limits)} for a bundle whose digest is already known
   * (e.g. planned on a Spark driver): an archive with another digest is refused, naming both,
   * before anything is reused or unpacked; the files are hashed once, as they are unpacked, and
   * the manifest unpacked must have that digest too (an archive replaced meanwhile is refused).
   *
   * @param expectedDigest {@code sha256:<hex>}, or null for whatever the archive holds
   */
  public static UnpackResult unpackCached(Path archive, Path cacheRoot, Limits limits,
      String expectedDigest) {
    CacheOutcome o = cached(archive, cacheRoot, limits, true, expectedDigest);
    return new UnpackResult(o.bundle(), o.unpacked());
  }

  /**
   * What {@link #cached} found: the bundle (null when verifying and nothing is cached), whether
   * it was unpacked by this call, and what was wrong with the copy it replaced (null if none).
   */
  record CacheOutcome(Bundle bundle, boolean unpacked, String damage) {
  }

  /**
   * The cached copy of {@code archive} under {@code cacheRoot}. {@code load}: reuse a copy that
   * is provably unchanged, else verify it in full, else unpack. Otherwise (verify): hash an
   * existing copy in full whatever its marker says and repair it if damaged; unpack nothing
   * new.
   */
  static CacheOutcome cached(Path archive, Path cacheRoot, Limits limits, boolean load) {
    return cached(archive, cacheRoot, limits, load, null);
  }

  private static CacheOutcome cached(Path archive, Path cacheRoot, Limits limits, boolean load,
      String expectedDigest) {
    String digest = ArchiveReader.peek(archive).digest();
    if (expectedDigest != null && !expectedDigest.equals(digest)) {
      throw new BundleException(archive + ": holds bundle digest " + digest + ", expected "
          + expectedDigest);
    }
    String hex = Digests.hexOf(digest);
    Path root;
    try {
      root = PrivateFiles.directory(cacheRoot);
    } catch (IOException e) {
      throw new BundleException("cannot use the bundle cache directory: " + e.getMessage(), e);
    }
    Path dir = root.resolve(hex);
    if (load) {
      Bundle ready = Bundle.openIfVerified(dir, digest);
      if (ready != null) {
        return new CacheOutcome(ready, false, null);
      }
    }
    return Locks.withLock(root.resolve(".locks").resolve(hex + ".lock"), () -> {
      if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
        return load ? new CacheOutcome(unpackEntry(archive, dir, digest, limits), true, null)
            : new CacheOutcome(null, false, null);
      }
      checkNotForeign(dir);
      if (load) {
        Bundle again = Bundle.openIfVerified(dir, digest);
        if (again != null) {
          return new CacheOutcome(again, false, null);
        }
      }
      String damage;
      try {
        PrivateFiles.checkOwnedTree(dir);
        Bundle b = Bundle.open(dir, digest);
        VerifiedMarker.write(dir, digest, Bundle.stampedPaths(b.manifest()));
        return new CacheOutcome(b, false, null);
      } catch (IOException | BundleException e) {
        damage = e.getMessage();
      }
      LOG.warn("cached bundle {} is damaged ({}); unpacking it again from {}", dir, damage,
          archive);
      VerifiedMarker.delete(dir);
      Path trash = FileTrees.tempSibling(dir, "trash");
      try {
        FileTrees.moveAtomic(dir, trash, false);
      } catch (IOException e) {
        throw new BundleException("cannot replace damaged cache entry " + dir + ": "
            + e.getMessage(), e);
      }
      FileTrees.deleteQuietly(trash);
      return new CacheOutcome(unpackEntry(archive, dir, digest, limits), true, damage);
    });
  }

  private static void checkNotForeign(Path dir) {
    try {
      if (!PrivateFiles.ownedByCurrentUser(dir)) {
        throw new BundleException("cache entry " + dir + " belongs to "
            + Files.getOwner(dir, LinkOption.NOFOLLOW_LINKS).getName() + ", not to "
            + System.getProperty("user.name") + "; refusing to use it (remove it or use another"
            + " cache directory)");
      }
    } catch (IOException e) {
      throw new BundleException("cannot check cache entry " + dir + ": " + e.getMessage(), e);
    }
  }

  /** Unpacks a fresh cache entry (the lock is held) and records it as verified. */
  private static Bundle unpackEntry(Path archive, Path dir, String digest, Limits limits) {
    Bundle b = unpack(archive, dir, limits);
    if (!b.digest().equals(digest)) {
      FileTrees.deleteQuietly(dir);
      throw new BundleException(archive + " changed while it was being unpacked");
    }
    try {
      if (!VerifiedMarker.write(dir, digest, Bundle.stampedPaths(b.manifest()))) {
        LOG.info("{} is not recorded as verified (no ctime on this file system, or a file"
            + " changed meanwhile); it will be hashed again when reused", dir);
      }
    } catch (IOException e) {
      LOG.warn("cannot record {} as verified ({}); it will be hashed again when reused", dir,
          e.getMessage());
    }
    LOG.info("unpacked {} ({}) into {}", b.tag(), digest, dir);
    return b;
  }
}
