package dev.sidecar.bundle.internal;

import dev.sidecar.bundle.BundleException;
import dev.sidecar.bundle.FileEntry;
import dev.sidecar.bundle.Manifest;
import dev.sidecar.bundle.files.Digests;
import dev.sidecar.bundle.files.FileTrees;
import dev.sidecar.bundle.files.PrivateFiles;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipParameters;

/**
 * Writes a reproducible {@code .bundle}: gzip (mtime 0, no file name, OS "unknown") around a
 * tar with {@code manifest.json} first and then the files sorted by path, each mode 0644,
 * uid/gid 0, no user/group names, mtime = the manifest's createdAt. Written to a temporary
 * sibling (mode 0600), synced, then renamed over the target.
 */
public final class ArchiveWriter {
  private static final int FILE_MODE = 0100644;

  private ArchiveWriter() {
  }

  /**
   * @param sources for each manifest file path, the file to copy; its content is hashed again
   *     while writing and must still match the manifest
   */
  public static void write(Path out, Manifest manifest, byte[] manifestBytes,
      Map<String, Path> sources) {
    Path target = out.toAbsolutePath().normalize();
    Path tmp = FileTrees.tempSibling(target, "tmp");
    boolean done = false;
    try {
      Files.createDirectories(target.getParent());
      PrivateFiles.newFile(tmp).close(); // 0600, whatever the umask
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE,
          LinkOption.NOFOLLOW_LINKS)) {
        // The tar stream closes what it wraps; keep the channel open so it can be synced.
        OutputStream keepOpen = new java.io.FilterOutputStream(
            java.nio.channels.Channels.newOutputStream(ch)) {
          @Override
          public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
          }

          @Override
          public void close() throws IOException {
            flush();
          }
        };
        OutputStream raw = new BufferedOutputStream(keepOpen, 1 << 16);
        GzipParameters gp = new GzipParameters();
        gp.setModificationTime(0);
        gp.setOS(GzipParameters.OS.UNKNOWN);
        gp.setCompressionLevel(6);
        GzipCompressorOutputStream gz = new GzipCompressorOutputStream(raw, gp);
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(gz, "UTF-8")) {
          tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
          tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
          long mtime = manifest.createdAt().getEpochSecond() * 1000L;
          tar.putArchiveEntry(entry(Names.MANIFEST, manifestBytes.length, mtime));
          tar.write(manifestBytes);
          tar.closeArchiveEntry();
          List<FileEntry> files = new ArrayList<>(manifest.files());
          files.sort(Comparator.comparing(FileEntry::path));
          byte[] buf = new byte[1 << 16];
          for (FileEntry f : files) {
            Path src = sources.get(f.path());
            if (src == null) {
              throw new IllegalStateException("no source for " + f.path());
            }
            tar.putArchiveEntry(entry(f.path(), f.size(), mtime));
            MessageDigest md = Digests.sha256();
            long n = 0;
            try (InputStream in = new DigestInputStream(Files.newInputStream(src), md)) {
              int r;
              while ((r = in.read(buf)) > 0) {
                n += r;
                if (n > f.size()) {
                  break;
                }
                tar.write(buf, 0, r);
              }
            }
            if (n != f.size() || !Digests.hex(md.digest()).equals(f.sha256())) {
              throw new BundleException(src + " changed while the bundle was being built;"
                  + " build again");
            }
            tar.closeArchiveEntry();
          }
          tar.finish();
        }
        ch.force(true);
      }
      FileTrees.moveAtomic(tmp, target, true);
      done = true;
    } catch (IOException e) {
      throw new BundleException("cannot write " + target + ": " + e, e);
    } finally {
      if (!done) {
        FileTrees.deleteQuietly(tmp);
      }
    }
  }

  private static TarArchiveEntry entry(String name, long size, long mtimeMillis) {
    TarArchiveEntry e = new TarArchiveEntry(name);
    e.setMode(FILE_MODE);
    e.setUserId(0);
    e.setGroupId(0);
    e.setUserName("");
    e.setGroupName("");
    e.setModTime(mtimeMillis);
    e.setSize(size);
    return e;
  }
}
