package dev.sidecar.spark.internal;

import dev.sidecar.bundle.BundleArchive;
import dev.sidecar.bundle.BundleInfo;
import dev.sidecar.bundle.files.FileStamp;
import dev.sidecar.bundle.files.PrivateFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The driver's reading of a local archive for {@code runSpark}: verified in full (every file's
 * size and SHA-256) the first time, and not hashed again while the same file is unchanged.
 *
 * <p>What is remembered lives in this JVM's memory only, never on disk, so nothing another
 * process writes can make the driver skip a check. A file counts as the one verified only when
 * its real path, size, mtime, ctime and file key (device, inode) are all those it had when it
 * was read in full, and its manifest, read again on every call (the archive's first entry, a
 * few KB), has the same digest. Any write to a file sets its ctime to the file system's current
 * time, which nobody can set back, and replacing the file (a rename over it) changes its file
 * key. For a later write to show, the clock must have moved past the recorded times before the
 * reading began: a file is remembered only when its times were then more than
 * {@value #SETTLED_SECONDS} seconds old (enough for file systems that keep times to one or two
 * seconds), or, when they are fresher (the staging link {@link BundleShipper#stage} makes before
 * the reading sets the ctime), when a file written on the same file system (in the staging
 * directory, which holds a hard link to the archive) shows a later time. Without a ctime
 * nothing is remembered.
 *
 * <p>One per {@link ConnectorRuntime}; what it remembers goes with it.
 *
 * <p>This check decides only whether the driver fails early. Each executor still hashes the
 * archive it receives once, as it unpacks it, against the digest the driver planned with, so a
 * change the driver could not see is never scored under the planned digest.
 */
public final class VerifiedArchives {
  /** How old a file's times must be, when its reading begins, for it to be remembered. */
  static final long SETTLED_SECONDS = 3;
  /** How long the driver waits at most for the file system's clock to pass a fresh change. */
  private static final long MAX_CLOCK_WAIT_MILLIS = 50;
  private static final int MAX_ENTRIES = 64;
  /** What this driver verified, by real path; the least recently used goes past 64. */
  private final Map<Path, Entry> verified = new LinkedHashMap<>(16, 0.75f, true) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<Path, Entry> eldest) {
      return size() > MAX_ENTRIES;
    }
  };

  VerifiedArchives() {
  }

  private record Entry(FileStamp identity, BundleInfo info) {
  }

  /**
   * The manifest and digest of the archive at {@code archive}, verified in full unless this JVM
   * already verified the same, unchanged file.
   *
   * @param peekedDigest the digest of the archive's manifest as just read ({@code
   *     BundleArchive.peek}), before this call
   * @param sameFileSystemDir a private directory on the archive's file system (the staging
   *     directory holding a link to it) where a file may be written to read that file system's
   *     clock; null when there is none
   * @throws dev.sidecar.bundle.BundleException naming the file and what is wrong with it
   */
  public BundleInfo inspect(Path archive, String peekedDigest, Path sameFileSystemDir) {
    Path real;
    FileStamp before;
    try {
      real = archive.toRealPath();
      before = identity(real);
    } catch (IOException | RuntimeException e) {
      return BundleArchive.inspect(archive); // says what is wrong with it
    }
    Entry known;
    synchronized (verified) {
      known = verified.get(real);
    }
    if (known != null && before != null && known.identity().equals(before)
        && known.info().digest().equals(peekedDigest)) {
      return known.info();
    }
    long startNanos = System.currentTimeMillis() * 1_000_000L;
    long settledBefore = startNanos - TimeUnit.SECONDS.toNanos(SETTLED_SECONDS);
    if (before != null && before.newest() >= settledBefore && sameFileSystemDir != null) {
      // Changed moments ago (a staging link does that): the file system's own clock, past
      // every time recorded, serves instead of the wall clock's margin.
      settledBefore = Math.max(settledBefore, clockPast(sameFileSystemDir, before.newest()));
    }
    BundleInfo info = BundleArchive.inspect(real); // the file whose identity is remembered
    FileStamp after;
    try {
      after = identity(real);
    } catch (IOException | RuntimeException e) {
      after = null;
    }
    synchronized (verified) {
      if (before != null && before.equals(after) && before.newest() < settledBefore) {
        verified.put(real, new Entry(before, info));
      } else {
        verified.remove(real);
      }
    }
    return info;
  }

  /**
   * Writes a probe file in {@code dir} until its mtime is after {@code newest} (a few
   * milliseconds at most where the file system keeps fine times); returns that mtime, or
   * {@code Long.MIN_VALUE} when it did not get there within {@link #MAX_CLOCK_WAIT_MILLIS}.
   */
  private static long clockPast(Path dir, long newest) {
    Path probe = dir.resolve(".clock-probe");
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(MAX_CLOCK_WAIT_MILLIS);
    try {
      while (true) {
        Files.write(probe, new byte[] {1}, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
            StandardOpenOption.TRUNCATE_EXISTING, LinkOption.NOFOLLOW_LINKS);
        PrivateFiles.restrict(probe, false);
        long m = Files.getLastModifiedTime(probe, LinkOption.NOFOLLOW_LINKS)
            .to(TimeUnit.NANOSECONDS);
        if (m > newest) {
          return m;
        }
        if (System.nanoTime() > deadline) {
          return Long.MIN_VALUE;
        }
        Thread.sleep(1);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Long.MIN_VALUE;
    } catch (IOException | RuntimeException e) {
      return Long.MIN_VALUE;
    }
  }

  /** A regular file's stamp, or null when this file system has no ctime or file key. */
  private static FileStamp identity(Path p) throws IOException {
    FileStamp s = FileStamp.of(p);
    return s != null && s.regularFile() ? s : null;
  }

}
