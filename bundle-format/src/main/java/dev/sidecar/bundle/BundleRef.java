package dev.sidecar.bundle;

import dev.sidecar.bundle.files.Digests;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * What a user wrote to name a bundle, split into where it is and the digest it must have: a
 * store tag, a local path, or a URI ({@code scheme://...}), optionally followed by
 * {@code #sha256:<64 hex>} pinning the bundle digest (the SHA-256 of its manifest, which lists
 * every file's SHA-256, so the pin fixes every byte that is scored).
 *
 * @param location the tag, path or URI without the pin
 * @param expectedDigest {@code sha256:<hex>} (lower case), or null when nothing is pinned
 */
public record BundleRef(String location, String expectedDigest) {
  private static final Pattern URI_START = Pattern.compile("^[A-Za-z][A-Za-z0-9+.-]*://.*",
      Pattern.DOTALL);
  private static final Pattern HEX64 = Pattern.compile("[0-9a-fA-F]{64}");

  /** Splits {@code value} into location and pin; a malformed pin is refused. */
  public static BundleRef parse(String value) {
    if (value == null || value.isBlank()) {
      throw new BundleException("empty bundle reference; expected a tag (name:version), a path"
          + " or a URI, optionally followed by #sha256:<64 hex digits>");
    }
    int hash = value.lastIndexOf('#');
    if (hash >= 0) {
      String fragment = value.substring(hash + 1);
      String location = value.substring(0, hash);
      if (fragment.regionMatches(true, 0, Digests.PREFIX, 0, Digests.PREFIX.length())) {
        return new BundleRef(location, normalizeDigest(fragment, value));
      }
      if (URI_START.matcher(value).matches()) {
        throw new BundleException(value + ": unexpected '#" + fragment + "'; the only fragment"
            + " a bundle URI takes is #sha256:<64 hex digits>, the expected bundle digest");
      }
    }
    return new BundleRef(value, null);
  }

  /**
   * {@code sha256:<64 lower-case hex>} from {@code sha256:<hex>} or bare hex, else an error
   * naming {@code shownIn}.
   */
  public static String normalizeDigest(String digest, String shownIn) {
    String hex = digest.regionMatches(true, 0, Digests.PREFIX, 0, Digests.PREFIX.length())
        ? digest.substring(Digests.PREFIX.length()) : digest;
    if (!HEX64.matcher(hex).matches()) {
      throw new BundleException(shownIn + ": '" + digest + "' is not a bundle digest; expected"
          + " sha256:<64 hex digits> (see 'sidecar bundle inspect')");
    }
    return Digests.PREFIX + hex.toLowerCase(Locale.ROOT);
  }

  /** True when the location is a URI ({@code scheme://...}), not a tag or a path. */
  public boolean isUri() {
    return URI_START.matcher(location).matches();
  }

  /** The URI's scheme in lower case ({@code hdfs}, {@code https}, ...); null for tags and paths. */
  public String scheme() {
    return isUri() ? location.substring(0, location.indexOf(':')).toLowerCase(Locale.ROOT) : null;
  }

  /**
   * This reference with the pin of an option ({@code sha256:<hex>}, or null) added; a pin in
   * both places must agree.
   */
  public BundleRef withExpectedDigest(String optionDigest, String optionName) {
    if (optionDigest == null || optionDigest.isBlank()) {
      return this;
    }
    String d = normalizeDigest(optionDigest, optionName);
    if (expectedDigest != null && !expectedDigest.equals(d)) {
      throw new BundleException(location + ": pinned to " + expectedDigest + " by its #sha256:"
          + " suffix but to " + d + " by " + optionName + "; give one digest");
    }
    return new BundleRef(location, d);
  }

  /** Fails, naming both digests, when a digest is pinned and {@code actual} differs. */
  public void checkDigest(String actual) {
    if (expectedDigest != null && !expectedDigest.equals(actual)) {
      throw new BundleException(location + ": digest mismatch: expected " + expectedDigest
          + " (pinned), but the bundle there has " + actual + "; nothing was scored");
    }
  }

  @Override
  public String toString() {
    return expectedDigest == null ? location : location + "#" + expectedDigest;
  }
}
