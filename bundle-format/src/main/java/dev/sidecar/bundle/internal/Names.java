package dev.sidecar.bundle.internal;

import java.util.regex.Pattern;

/** The naming rules of bundles, versions, aliases, APIs and in-bundle paths, in one place. */
public final class Names {
  /** Bundle names: lower case, digits, {@code . _ -}; start with a letter or digit. */
  public static final Pattern BUNDLE_NAME = Pattern.compile("[a-z0-9][a-z0-9._-]*");
  /** Versions and aliases: letters, digits, {@code . _ - +}; start with a letter or digit. */
  public static final Pattern VERSION = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._+-]*");
  /** API and model names. */
  public static final Pattern API_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*");
  public static final int MAX_NAME_LENGTH = 128;
  public static final String MANIFEST = "manifest.json";

  private Names() {
  }

  public static boolean isBundleName(String s) {
    return s != null && s.length() <= MAX_NAME_LENGTH && BUNDLE_NAME.matcher(s).matches();
  }

  public static boolean isVersion(String s) {
    return s != null && s.length() <= MAX_NAME_LENGTH && VERSION.matcher(s).matches();
  }

  public static boolean isApiName(String s) {
    return s != null && s.length() <= MAX_NAME_LENGTH && API_NAME.matcher(s).matches();
  }

  /**
   * Why {@code path} is not a safe relative path inside a bundle, or null when it is: forward
   * slashes only, no empty, {@code .} or {@code ..} segments, not absolute, no control chars.
   */
  public static String unsafePathReason(String path) {
    if (path == null || path.isEmpty()) {
      return "the path is empty";
    }
    if (path.length() > 1024) {
      return "the path is longer than 1024 characters";
    }
    if (path.startsWith("/") || path.matches("^[A-Za-z]:.*")) {
      return "absolute paths are not allowed";
    }
    if (path.indexOf('\\') >= 0) {
      return "backslashes are not allowed";
    }
    for (int i = 0; i < path.length(); i++) {
      if (Character.isISOControl(path.charAt(i))) {
        return "control characters are not allowed";
      }
    }
    for (String seg : path.split("/", -1)) {
      if (seg.equals("..")) {
        return "'..' segments are not allowed";
      }
      if (seg.isEmpty() || seg.equals(".")) {
        return "empty or '.' segments are not allowed";
      }
    }
    return null;
  }
}
