package dev.sidecar.spark.internal;

import dev.sidecar.bundle.BundleArchive;
import dev.sidecar.bundle.BundleInfo;
import dev.sidecar.bundle.files.FileStamp;
import dev.sidecar.bundle.files.PrivateFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.LinkOption;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The driver's reading of a local archive for {@code runSpark}: verified in full (every file's
 * size and SHA-256) the first time, and not hashed again while the same file is unchanged; and,
 * when the archive is to be staged for Spark, a private copy of it whose bytes are the ones
 * verified ({@link BundleShipper#stage}).
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
 * seconds). Without a ctime nothing is remembered.
 *
 * <p>A copy is made between two readings of the file's stamp. When the file is not known, the
 * copy is what is hashed (its messages name the file), so its digest is that of its own bytes;
 * when it is known, the copy is taken as the verified bytes only if the stamp was the remembered
 * one before and after copying, the same check that lets a call skip hashing; otherwise the copy
 * is hashed. Either way the driver hashes at most once per call.
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
   * @throws dev.sidecar.bundle.BundleException naming the file and what is wrong with it
   */
  public BundleInfo inspect(Path archive, String peekedDigest) {
    return read(archive, peekedDigest, null);
  }

  /**
   * As {@link #inspect(Path, String)}, and copies the archive to {@code copy} (a new file, 0600,
   * in a private directory): what is returned describes the copy's bytes, verified in full or
   * known to be those of the unchanged verified file. The copy is left in place either way; the
   * caller deletes it when this throws.
   *
   * @throws java.io.UncheckedIOException when the copy cannot be made
   */
  public BundleInfo inspectCopying(Path archive, String peekedDigest, Path copy) {
    return read(archive, peekedDigest, java.util.Objects.requireNonNull(copy, "copy"));
  }

  private BundleInfo read(Path archive, String peekedDigest, Path copy) {
    Path real;
    FileStamp before;
    try {
      real = archive.toRealPath();
      before = identity(real);
    } catch (IOException | RuntimeException e) {
      if (copy == null) {
        return BundleArchive.inspect(archive); // says what is wrong with it
      }
      real = archive.toAbsolutePath(); // the copy fails, or is hashed and not remembered
      before = null;
    }
    Entry known;
    synchronized (verified) {
      known = verified.get(real);
    }
    boolean unchanged = known != null && before != null && known.identity().equals(before)
        && known.info().digest().equals(peekedDigest);
    long settledBefore = System.currentTimeMillis() * 1_000_000L
        - TimeUnit.SECONDS.toNanos(SETTLED_SECONDS);
    if (copy != null) {
      copyPrivately(real, copy);
    }
    FileStamp mid = copy == null ? before : stampOrNull(real);
    if (unchanged && before.equals(mid)) {
      return known.info(); // and, if copied, copied while the file stayed as it was
    }
    // The file whose identity is remembered, or its copy, which messages name after it.
    BundleInfo info = copy == null ? BundleArchive.inspect(real)
        : BundleArchive.inspect(copy, archive.toString(), BundleArchive.Limits.defaults());
    FileStamp after = copy == null ? stampOrNull(real) : mid;
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
   * Copies {@code from} to the new file {@code to}, created 0600 (not following a link in its
   * place), in the kernel where it can ({@code FileChannel.transferTo}).
   */
  private static void copyPrivately(Path from, Path to) {
    try (FileChannel in = FileChannel.open(from, StandardOpenOption.READ);
        FileChannel out = FileChannel.open(to, Set.<OpenOption>of(StandardOpenOption.CREATE_NEW,
            StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS), PrivateFiles.fileAttribute())) {
      PrivateFiles.restrict(to, false);
      long size = in.size();
      long done = 0;
      while (done < size) {
        long n = in.transferTo(done, size - done, out);
        if (n <= 0) {
          break; // the file shrank while copied: the copy's hash says so
        }
        done += n;
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot copy bundle archive " + from + " to " + to, e);
    }
  }

  private static FileStamp stampOrNull(Path real) {
    try {
      return identity(real);
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /** A regular file's stamp, or null when this file system has no ctime or file key. */
  private static FileStamp identity(Path p) throws IOException {
    FileStamp s = FileStamp.of(p);
    return s != null && s.regularFile() ? s : null;
  }

}
