package dev.sidecar.bundle.internal;

import dev.sidecar.bundle.BundleArchive;
import dev.sidecar.bundle.BundleException;
import dev.sidecar.bundle.FileEntry;
import dev.sidecar.bundle.Manifest;
import dev.sidecar.bundle.ModelEntry;
import dev.sidecar.bundle.files.Digests;
import dev.sidecar.bundle.files.PrivateFiles;
import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;

/**
 * Reads a {@code .bundle} defensively, in one pass: the manifest must come first; every later
 * entry must be a regular file with a safe relative name that the manifest lists, of exactly
 * the declared size and SHA-256; the expansion is bounded; every listed file must be present;
 * gzip and tar must be complete. With a target directory, files are written below it (it must
 * exist and be empty); the caller owns cleanup on failure.
 */
public final class ArchiveReader {
  /** manifest.json may not be larger than this. */
  public static final int MAX_MANIFEST_BYTES = 16 << 20;
  private static final long MAX_TRAILING_BYTES = 1 << 20;

  private ArchiveReader() {
  }

  /** What was read: the manifest, its exact bytes and the bundle digest. */
  public record Result(Manifest manifest, byte[] manifestBytes, String digest) {
  }

  /** Reads only the manifest (the first entry); nothing else is verified. */
  public static Result peek(Path archive) {
    return peek(archive, archive.toString());
  }

  /** As {@link #peek(Path)}; messages name the file {@code shownAs} (e.g. the user's file). */
  public static Result peek(Path archive, String shownAs) {
    String src = shownAs;
    try (InputStream file = open(archive, src);
        GzipCompressorInputStream gz = gzip(file, src);
        TarArchiveInputStream tar = new TarArchiveInputStream(gz, "UTF-8")) {
      return readManifest(tar, src);
    } catch (BundleException e) {
      throw e;
    } catch (IOException | RuntimeException e) {
      throw corrupt(src, e);
    }
  }

  /**
   * Reads only the manifest (the first entry) from a stream positioned at the archive's start,
   * e.g. a remote object: nothing after the manifest is read, so a large archive is not
   * transferred. The caller closes {@code in}.
   */
  public static Result peek(InputStream in, String shownAs) {
    try {
      GzipCompressorInputStream gz = gzip(new BufferedInputStream(in, 1 << 16), shownAs);
      TarArchiveInputStream tar = new TarArchiveInputStream(gz, "UTF-8");
      return readManifest(tar, shownAs);
    } catch (BundleException e) {
      throw e;
    } catch (IOException | RuntimeException e) {
      throw corrupt(shownAs, e);
    }
  }

  /**
   * Reads and verifies the whole archive; writes the files under {@code target} when non-null
   * (directories 0700, files 0600).
   */
  public static Result read(Path archive, BundleArchive.Limits limits, Path target) {
    return read(archive, archive.toString(), limits, target);
  }

  /** As {@link #read(Path, BundleArchive.Limits, Path)}; messages name {@code shownAs}. */
  public static Result read(Path archive, String shownAs, BundleArchive.Limits limits,
      Path target) {
    String src = shownAs;
    long maxExpandedBytes = limits.maxExpandedBytes();
    int maxEntries = limits.maxEntries();
    try (InputStream file = open(archive, src, limits);
        GzipCompressorInputStream gz = gzip(file, src);
        TarArchiveInputStream tar = new TarArchiveInputStream(gz, "UTF-8")) {
      Result r = readManifest(tar, src);
      Manifest m = r.manifest();
      if (m.files().size() > maxEntries) {
        throw new BundleException(src + ": the manifest lists " + m.files().size()
            + " files, more than the limit of " + maxEntries);
      }
      long declared = 0;
      for (FileEntry f : m.files()) {
        declared += f.size();
      }
      if (declared > maxExpandedBytes) {
        throw new BundleException(src + ": the bundle expands to " + declared
            + " bytes, more than the limit of " + maxExpandedBytes + " bytes");
      }
      Map<String, FileEntry> expected = new LinkedHashMap<>();
      for (FileEntry f : m.files()) {
        expected.put(f.path(), f);
      }
      Set<String> seen = new HashSet<>();
      Set<String> dirsMade = new HashSet<>();
      long total = r.manifestBytes().length;
      int entries = 1;
      byte[] buf = new byte[1 << 16];
      TarArchiveEntry e;
      while ((e = tar.getNextEntry()) != null) {
        entries++;
        if (entries > maxEntries + 1) {
          throw new BundleException(src + ": more than " + maxEntries + " entries");
        }
        String name = e.getName();
        if (e.isSymbolicLink() || e.isLink()) {
          throw new BundleException(src + ": entry '" + name + "' is a "
              + (e.isSymbolicLink() ? "symbolic" : "hard") + " link to '" + e.getLinkName()
              + "'; bundles may hold regular files only");
        }
        if (e.isCharacterDevice() || e.isBlockDevice() || e.isFIFO()) {
          throw new BundleException(src + ": entry '" + name
              + "' is a device or FIFO; bundles may hold regular files only");
        }
        String bare = e.isDirectory() && name.endsWith("/")
            ? name.substring(0, name.length() - 1) : name;
        String why = Names.unsafePathReason(bare);
        if (why != null) {
          throw new BundleException(src + ": entry '" + name + "' has an unsafe name: " + why);
        }
        if (e.isDirectory()) {
          continue;
        }
        if (!e.isFile() || e.isSparse()) {
          throw new BundleException(src + ": entry '" + name
              + "' is not a regular file; bundles may hold regular files only");
        }
        if (name.equals(Names.MANIFEST)) {
          throw new BundleException(src + ": manifest.json appears twice");
        }
        FileEntry f = expected.get(name);
        if (f == null) {
          throw new BundleException(src + ": entry '" + name + "' is not listed in the manifest");
        }
        if (!seen.add(name)) {
          throw new BundleException(src + ": entry '" + name + "' appears twice");
        }
        if (e.getSize() > f.size()) {
          throw new BundleException(src + ": entry '" + name + "' is " + e.getSize()
              + " bytes, larger than the " + f.size() + " bytes the manifest declares");
        }
        if (e.getSize() != f.size()) {
          throw new BundleException(src + ": entry '" + name + "' is " + e.getSize()
              + " bytes but the manifest declares " + f.size());
        }
        MessageDigest md = Digests.sha256();
        long n = 0;
        OutputStream out = null;
        try {
          if (target != null) {
            Path dest = target.resolve(name).normalize();
            if (!dest.startsWith(target)) {
              throw new BundleException(src + ": entry '" + name + "' escapes the target");
            }
            out = create(dest, dirsMade);
          }
          int k;
          while ((k = tar.read(buf, 0, (int) Math.min(buf.length, f.size() - n + 1))) > 0) {
            n += k;
            total += k;
            if (n > f.size()) {
              throw new BundleException(src + ": entry '" + name
                  + "' holds more bytes than the " + f.size() + " the manifest declares");
            }
            if (total > maxExpandedBytes) {
              throw new BundleException(src + ": the bundle expands past the limit of "
                  + maxExpandedBytes + " bytes");
            }
            md.update(buf, 0, k);
            if (out != null) {
              write(out, buf, k, target.resolve(name));
            }
          }
        } finally {
          Digests.countContentHashed(n);
          if (out != null) {
            out.close();
          }
        }
        if (n != f.size()) {
          throw new BundleException(src + ": entry '" + name + "' is truncated: " + n
              + " of " + f.size() + " bytes");
        }
        String sha = Digests.hex(md.digest());
        if (!sha.equals(f.sha256())) {
          throw new BundleException(src + ": entry '" + name + "' does not match its digest:"
              + " the manifest says sha256 " + f.sha256() + ", the content has " + sha);
        }
      }
      for (FileEntry f : m.files()) {
        if (!seen.contains(f.path())) {
          String model = m.models().stream().filter(x -> x.path().equals(f.path()))
              .map(ModelEntry::name).findFirst().map(x -> "model '" + x + "' (file '"
                  + f.path() + "')").orElse("file '" + f.path() + "'");
          throw new BundleException(src + ": " + model
              + " is listed in the manifest but missing from the archive");
        }
      }
      // Read to the end of the gzip stream so its trailer (CRC, size) is checked.
      long trailing = 0;
      int k;
      while ((k = gz.read(buf)) > 0) {
        trailing += k;
        if (trailing > MAX_TRAILING_BYTES) {
          throw new BundleException(src + ": unexpected data after the end of the tar archive");
        }
      }
      return r;
    } catch (BundleException e) {
      throw e;
    } catch (NoSuchFileException e) {
      throw new BundleException(src + ": no such file");
    } catch (IOException | RuntimeException e) {
      throw corrupt(src, e);
    }
  }

  /** Write failures are the disk's, not the archive's: say so. */
  private static OutputStream create(Path dest, Set<String> dirsMade) {
    try {
      Path parent = dest.getParent();
      if (dirsMade.add(parent.toString())) {
        PrivateFiles.directory(parent);
      }
      return PrivateFiles.newFile(dest);
    } catch (IOException e) {
      throw new BundleException("cannot write " + dest + ": " + e, e);
    }
  }

  private static void write(OutputStream out, byte[] buf, int n, Path dest) {
    try {
      out.write(buf, 0, n);
    } catch (IOException e) {
      throw new BundleException("cannot write " + dest + ": " + e, e);
    }
  }

  private static InputStream open(Path archive, String src) throws IOException {
    return open(archive, src, null);
  }

  /** Opens a regular file; with {@code limits}, refuses one larger than the archive limit. */
  private static InputStream open(Path archive, String src, BundleArchive.Limits limits)
      throws IOException {
    if (!Files.isRegularFile(archive)) {
      throw new BundleException(src + ": " + (Files.exists(archive) ? "not a regular file"
          : "no such file"));
    }
    long size = Files.size(archive);
    if (limits != null && size > limits.maxArchiveBytes()) {
      throw new BundleException(src + ": the archive is " + size + " bytes, more than the"
          + " limit of " + limits.maxArchiveBytes() + " bytes for bundles expanding to at most "
          + limits.maxExpandedBytes() + " bytes (-Dsidecar.bundle.maxExpandedBytes)");
    }
    return new BufferedInputStream(Files.newInputStream(archive), 1 << 16);
  }

  private static GzipCompressorInputStream gzip(InputStream in, String src) {
    try {
      return new GzipCompressorInputStream(in); // one member: data after it is refused
    } catch (IOException e) {
      throw new BundleException(src + ": not a sidecar bundle (not gzip-compressed): "
          + e.getMessage());
    }
  }

  private static Result readManifest(TarArchiveInputStream tar, String src) throws IOException {
    TarArchiveEntry first = tar.getNextEntry();
    if (first == null) {
      throw new BundleException(src + ": the archive is empty; expected manifest.json first");
    }
    if (!first.getName().equals(Names.MANIFEST) || !first.isFile()) {
      throw new BundleException(src + ": the first entry is '" + first.getName()
          + "', expected manifest.json; this is not a sidecar bundle");
    }
    if (first.getSize() > MAX_MANIFEST_BYTES) {
      throw new BundleException(src + ": manifest.json is " + first.getSize()
          + " bytes, more than the limit of " + MAX_MANIFEST_BYTES);
    }
    byte[] bytes = tar.readNBytes((int) first.getSize());
    if (bytes.length != first.getSize()) {
      throw new BundleException(src + ": the archive is truncated inside manifest.json");
    }
    Manifest m = ManifestJson.read(bytes, src);
    return new Result(m, bytes, Digests.bundleDigest(bytes));
  }

  private static BundleException corrupt(String src, Exception e) {
    String what = e instanceof EOFException ? "unexpected end of file"
        : e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    return new BundleException(src + ": the archive is truncated or corrupt: " + what, e);
  }

  /** Maps of manifest paths to files below {@code root}. */
  public static Map<String, Path> sources(Manifest m, Path root) {
    Map<String, Path> out = new HashMap<>();
    for (FileEntry f : m.files()) {
      out.put(f.path(), root.resolve(f.path()));
    }
    return out;
  }
}
