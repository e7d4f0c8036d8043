package dev.sidecar.bundle;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A bundle ready to serve: its manifest, the directory its files were unpacked into, and its
 * digest. Obtain one from the store or from an archive (both verify every file), or, for a
 * directory whose manifest is already known, with {@link #of(Path, Manifest, String)}.
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
