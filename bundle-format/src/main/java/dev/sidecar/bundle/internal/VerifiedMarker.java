package dev.sidecar.bundle.internal;

import dev.sidecar.bundle.files.FileStamp;
import dev.sidecar.bundle.files.FileTrees;
import dev.sidecar.bundle.files.PrivateFiles;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The record that a cache entry was verified: {@code <entry>.verified} beside the entry
 * directory (0600), holding the bundle digest and, for the directory and each file, its size,
 * modification time, status-change time (ctime) and file key (device and inode). An entry
 * whose files still show exactly these values was not modified since it was verified, so it
 * can be trusted without hashing its content again. Anything else — no marker, a marker that
 * is not this user's, another digest, any changed value — means a full re-hash.
 *
 * <p>Writing a file in place and restoring its mtime still changes its ctime, which nobody can
 * set back. Timestamps are coarse (a few milliseconds, a second on some file systems), so a
 * change made within the same tick as the recorded times could go unseen. {@link #write}
 * therefore waits until the file system's clock, read from the marker file itself (beside the
 * entry, on the same file system), is past every recorded time, then takes the record again
 * and writes it only if nothing changed meanwhile: any later change to a file gets a ctime
 * after the marker's mtime, which differs from the recorded one. As in git's "racy" index
 * entries, a marker whose newest recorded time is not older than the marker file itself is not
 * trusted (the next open hashes once more and writes a fresh marker). Without ctime (no
 * {@code unix} attribute view) no marker is trusted.
 *
 * <p>The marker is private: created 0600, and not trusted when it is a link, another user's, or
 * has any group or other permission bit. What it vouches for is only as strong as the user's
 * own account: a process of the same user could rewrite it (as it could rewrite the code that
 * reads it).
 */
public final class VerifiedMarker {
  private static final String HEADER = "sidecar-verified 1";
  private static final int MAX_BYTES = 16 << 20;
  /** How long {@link #write} waits at most for the file system's clock to move on. */
  private static final long MAX_CLOCK_WAIT_NANOS = TimeUnit.SECONDS.toNanos(2);

  private VerifiedMarker() {
  }

  /** Where the marker of {@code entryDir} lives: {@code <entryDir>.verified}, beside it. */
  public static Path of(Path entryDir) {
    Path abs = entryDir.toAbsolutePath().normalize();
    return abs.resolveSibling(abs.getFileName() + ".verified");
  }

  /**
   * Records the current state of {@code entryDir} and {@code files} (paths relative to it)
   * for {@code digest}. Call only right after every file was verified. Waits (a few
   * milliseconds at most on common file systems, never more than two seconds) until the file
   * system's clock is past every recorded time, so the marker is trusted at once.
   *
   * @return true when the marker was written; false when ctime is unavailable or a file changed
   *     while the marker was being written (then no marker vouches for the entry)
   */
  public static boolean write(Path entryDir, String digest, List<String> files)
      throws IOException {
    Stamp s = stamp(entryDir, digest, files);
    if (s == null) {
      return false;
    }
    Path marker = of(entryDir);
    Path tmp = FileTrees.tempSibling(marker, "tmp");
    try {
      byte[] text = s.text().getBytes(StandardCharsets.UTF_8);
      try (OutputStream out = PrivateFiles.newFile(tmp)) {
        out.write(text);
      }
      // The file system's clock past every recorded time: rewrite the marker until its own
      // mtime says so (at once on file systems with fine timestamps).
      long deadline = System.nanoTime() + MAX_CLOCK_WAIT_NANOS;
      while (mtime(tmp) <= s.newest() && System.nanoTime() < deadline) {
        try {
          Thread.sleep(1);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          break;
        }
        Files.write(tmp, text, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING,
            LinkOption.NOFOLLOW_LINKS);
      }
      Stamp again = stamp(entryDir, digest, files);
      if (again == null || !again.text().equals(s.text())) {
        return false; // changed since it was verified: vouch for nothing
      }
      FileTrees.moveAtomic(tmp, marker, true);
      return true;
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  private static long mtime(Path p) throws IOException {
    return Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS).to(TimeUnit.NANOSECONDS);
  }

  /** True when the marker exists, is this user's, and matches {@code entryDir} as it is now. */
  public static boolean matches(Path entryDir, String digest, List<String> files) {
    Path marker = of(entryDir);
    try {
      PrivateFiles.checkOwned(marker, false);
      if (!isPrivate(marker)) {
        return false;
      }
      byte[] bytes;
      try (InputStream in = Files.newInputStream(marker, LinkOption.NOFOLLOW_LINKS)) {
        bytes = in.readNBytes(MAX_BYTES + 1);
      }
      Stamp now = stamp(entryDir, digest, files);
      if (bytes.length > MAX_BYTES || now == null
          || !now.text().equals(new String(bytes, StandardCharsets.UTF_8))) {
        return false;
      }
      long written = Files.getLastModifiedTime(marker, LinkOption.NOFOLLOW_LINKS)
          .to(TimeUnit.NANOSECONDS);
      return now.newest() < written;
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  /** No group or other permission bit (0600 or stricter); true without POSIX permissions. */
  private static boolean isPrivate(Path marker) throws IOException {
    if (!marker.getFileSystem().supportedFileAttributeViews().contains("posix")) {
      return true;
    }
    Set<PosixFilePermission> perms = Files.getPosixFilePermissions(marker,
        LinkOption.NOFOLLOW_LINKS);
    for (PosixFilePermission p : perms) {
      if (p != PosixFilePermission.OWNER_READ && p != PosixFilePermission.OWNER_WRITE
          && p != PosixFilePermission.OWNER_EXECUTE) {
        return false;
      }
    }
    return true;
  }

  /** Removes the marker of {@code entryDir}, if any. */
  public static void delete(Path entryDir) {
    try {
      Files.deleteIfExists(of(entryDir));
    } catch (IOException e) {
      // a stale marker never matches a new entry (its file keys differ); best effort
    }
  }

  private record Stamp(String text, long newest) {
  }

  /** The marker text for the entry as it is now; null when ctime is not available. */
  private static Stamp stamp(Path dir, String digest, List<String> files) throws IOException {
    StringBuilder b = new StringBuilder(HEADER).append('\n');
    b.append("digest ").append(digest).append('\n');
    long[] newest = {Long.MIN_VALUE};
    String d = line(dir, newest);
    if (d == null) {
      return null;
    }
    b.append("dir ").append(d).append('\n');
    for (String f : files) {
      String l = line(dir.resolve(f), newest);
      if (l == null) {
        return null;
      }
      b.append("file ").append(l).append(' ').append(f).append('\n');
    }
    return new Stamp(b.toString(), newest[0]);
  }

  private static String line(Path p, long[] newest) throws IOException {
    FileStamp s = FileStamp.of(p);
    if (s == null) {
      return null;
    }
    newest[0] = Math.max(newest[0], s.newest());
    return s.size() + " " + s.mtimeNanos() + " " + s.ctimeNanos() + " "
        + String.valueOf(s.fileKey()).replace(' ', '_');
  }

}
