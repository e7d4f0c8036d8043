package dev.sidecar.bundle;

/**
 * A bundle's manifest and its digest ({@code sha256:<hex>} of the canonical manifest bytes),
 * as returned by building, inspecting, importing or resolving a bundle.
 */
public record BundleInfo(Manifest manifest, String digest) {
  /** {@code name:version}. */
  public String tag() {
    return manifest.tag();
  }

  /** The digest's hex part, without the {@code sha256:} prefix. */
  public String digestHex() {
    return digest.substring(digest.indexOf(':') + 1);
  }
}
