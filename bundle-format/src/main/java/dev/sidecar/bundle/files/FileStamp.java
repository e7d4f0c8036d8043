package dev.sidecar.bundle.files;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.concurrent.TimeUnit;

/**
 * A file as {@code stat} shows it, without following links: size, modification and change times
 * (nanoseconds) and the file key (device and inode). Any write, truncation, {@code touch} back to
 * an old mtime, rename over it or replacement changes at least one of them, which is what lets a
 * verified file be trusted while its stamp holds (the bundle cache's verified marker, the driver's
 * memory of archives it hashed).
 *
 * @param size bytes
 * @param mtimeNanos last modification time
 * @param ctimeNanos last status change time (not settable by a user)
 * @param fileKey the file system's identity of the file
 * @param regularFile whether it is a regular file
 */
public record FileStamp(long size, long mtimeNanos, long ctimeNanos, Object fileKey,
    boolean regularFile) {

  /**
   * The stamp of {@code p}, or null where the file system has no change time or file key (then
   * nothing can be trusted by stamp and callers hash instead).
   */
  public static FileStamp of(Path p) throws IOException {
    BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class,
        LinkOption.NOFOLLOW_LINKS);
    Object ctime;
    try {
      ctime = Files.getAttribute(p, "unix:ctime", LinkOption.NOFOLLOW_LINKS);
    } catch (UnsupportedOperationException | IllegalArgumentException e) {
      return null;
    }
    if (!(ctime instanceof FileTime) || a.fileKey() == null) {
      return null;
    }
    return new FileStamp(a.size(), a.lastModifiedTime().to(TimeUnit.NANOSECONDS),
        ((FileTime) ctime).to(TimeUnit.NANOSECONDS), a.fileKey(), a.isRegularFile());
  }

  /** The later of the two times. */
  public long newest() {
    return Math.max(mtimeNanos, ctimeNanos);
  }
}
