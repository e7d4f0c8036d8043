package dev.sidecar.bundle;

import dev.sidecar.bundle.files.Digests;
import dev.sidecar.bundle.files.PrivateFiles;
import dev.sidecar.bundle.internal.ArchiveReader;
import dev.sidecar.bundle.internal.ManifestJson;
import dev.sidecar.bundle.internal.Names;
import dev.sidecar.bundle.internal.VerifiedMarker;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A bundle ready to serve: its manifest, the directory its files were unpacked into, and its
 * digest. Obtain one from the store or from an archive (both verify every file), from a cache
 * entry another process verified ({@link #openIfVerified}), or, for a directory whose manifest
 * is already known, with {@link #of(Path, Manifest, String)}.
 */
public final class Bundle {
  private final Path root;
  private final Manifest manifest;
  private final String digest;

  private Bundle(Path root, Manifest manifest, String digest) {
    this.root = Objects.requireNonNull(root, "root");
    this.manifest = Objects.requireNonNull(manifest, "manifest");
    this.digest = Objects.requireNonNull(digest, "digest");
  }

  /** A bundle rooted at {@code root} described by {@code manifest}; nothing is read or verified. */
  public static Bundle of(Path root, Manifest manifest, String digest) {
    return new Bundle(root.toAbsolutePath().normalize(), manifest, digest);
  }

  /**
   * Opens an unpacked bundle directory: reads {@code manifest.json}, computes the digest and
   * verifies every listed file's size and SHA-256. Throws {@link BundleException} naming the
   * first file that is missing or differs.
   */
  public static Bundle open(Path dir) {
    return open(dir, null);
  }

  /** As {@link #open(Path)}, and also checks that the digest is {@code expectedDigest}. */
  public static Bundle open(Path dir, String expectedDigest) {
    Path root = dir.toAbsolutePath().normalize();
    byte[] bytes = readManifestBytes(root);
    String digest = Digests.bundleDigest(bytes);
    if (expectedDigest != null && !expectedDigest.equals(digest)) {
      throw new BundleException(root + ": bundle digest is " + digest + ", expected "
          + expectedDigest);
    }
    Manifest m = ManifestJson.read(bytes, root.toString());
    for (FileEntry f : m.files()) {
      Path p = root.resolve(f.path());
      if (!Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
        throw new BundleException(root + ": file '" + f.path()
            + "' listed in the manifest is missing or not a regular file");
      }
      Digests.FileHash h;
      try {
        h = Digests.hashBundleFile(p);
      } catch (java.io.UncheckedIOException e) {
        throw new BundleException(root + ": " + e.getMessage(), e);
      }
      if (h.size() != f.size() || !h.sha256().equals(f.sha256())) {
        throw new BundleException(root + ": file '" + f.path() + "' does not match the manifest:"
            + " expected " + f.size() + " bytes with sha256 " + f.sha256() + ", found "
            + h.size() + " bytes with sha256 " + h.sha256());
      }
    }
    return new Bundle(root, m, digest);
  }

  /**
   * An unpacked copy that {@link BundleArchive#unpackCached} verified, opened without hashing
   * its files again: the directory and the directory holding it must be private (this user's,
   * no links, writable by nobody else), its manifest must have the expected digest, and its
   * {@link VerifiedMarker} — written right after every file was hashed, 0600, beside the
   * directory — must still match every file's size, mtime, ctime and inode. Null when any of
   * this fails (absent, damaged, or just not provably unchanged): open it with
   * {@link #open(Path, String)} then, which hashes every file. Never throws.
   *
   * @param expectedDigest the digest the copy must have; null for whatever its manifest says
   */
  public static Bundle openIfVerified(Path dir, String expectedDigest) {
    try {
      Path root = dir.toAbsolutePath().normalize();
      if (!Files.isDirectory(root, LinkOption.NOFOLLOW_LINKS) || root.getParent() == null) {
        return null;
      }
      PrivateFiles.checkOwned(root.getParent(), true);
      PrivateFiles.checkOwnedTree(root);
      byte[] bytes = readManifestBytes(root);
      String digest = Digests.bundleDigest(bytes);
      if (expectedDigest != null && !digest.equals(expectedDigest)) {
        return null;
      }
      Manifest m = ManifestJson.read(bytes, root.toString());
      if (!VerifiedMarker.matches(root, digest, stampedPaths(m))) {
        return null;
      }
      return new Bundle(root, m, digest);
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /** The files a cache marker covers: manifest.json and every listed file. */
  static List<String> stampedPaths(Manifest m) {
    List<String> out = new ArrayList<>();
    out.add(Names.MANIFEST);
    for (FileEntry f : m.files()) {
      out.add(f.path());
    }
    return out;
  }

  private static byte[] readManifestBytes(Path root) {
    Path mf = root.resolve("manifest.json");
    if (!Files.isRegularFile(mf, LinkOption.NOFOLLOW_LINKS)) {
      throw new BundleException(root + ": no manifest.json; not an unpacked bundle");
    }
    try (InputStream in = Files.newInputStream(mf)) {
      byte[] bytes = in.readNBytes(ArchiveReader.MAX_MANIFEST_BYTES + 1);
      if (bytes.length > ArchiveReader.MAX_MANIFEST_BYTES) {
        throw new BundleException(mf + ": larger than " + ArchiveReader.MAX_MANIFEST_BYTES
            + " bytes");
      }
      return bytes;
    } catch (IOException e) {
      throw new BundleException(mf + ": cannot read: " + e.getMessage(), e);
    }
  }

  public Path root() {
    return root;
  }

  public Manifest manifest() {
    return manifest;
  }

  /** {@code sha256:<hex>} of the bundle's canonical manifest bytes. */
  public String digest() {
    return digest;
  }

  public String tag() {
    return manifest.tag();
  }

  /** The API with this name; the message names the APIs that exist. */
  public ApiSpec api(String name) {
    return manifest.api(name);
  }

  /** Absolute path of the named model's file. */
  public Path modelPath(String modelName) {
    return root.resolve(manifest.model(modelName).path());
  }

  @Override
  public String toString() {
    return "Bundle[" + tag() + ", " + digest + ", " + root + "]";
  }
}
