package dev.sidecar.spark.internal;

import java.util.Locale;

/** Names derived from a bundle's identity: short digests and the file name Spark ships it under. */
final class BundleFiles {
  private BundleFiles() {
  }

  /** The first 12 hex digits of {@code sha256:<hex>}. */
  static String shortDigest(String digest) {
    String hex = digest.startsWith("sha256:") ? digest.substring("sha256:".length()) : digest;
    return hex.substring(0, Math.min(12, hex.length()));
  }

  /** {@code <name>-<digest12>.bundle}, safe as a file name. */
  static String shippedFileName(String bundleName, String digest) {
    String safe = bundleName.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9._-]", "_");
    return safe + "-" + shortDigest(digest) + ".bundle";
  }
}
