package dev.sidecar.bundle.files;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.concurrent.atomic.LongAdder;

/**
 * SHA-256 helpers; hex is lower case. Every SHA-256 of a bundle's file content (an archive entry
 * read, a file on disk) is counted in bytes, so tests can assert how many
 * passes over a bundle a code path makes instead of claiming it.
 */
public final class Digests {
  /** What a bundle digest starts with: {@code sha256:<64 hex>}. */
  public static final String PREFIX = "sha256:";
  /** Bytes of bundle file content hashed by this JVM (archive entries and files on disk). */
  private static final LongAdder CONTENT_HASHED = new LongAdder();

  private Digests() {
  }

  /** A fresh SHA-256 digest. */
  public static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is not available", e);
    }
  }

  /** Lower-case hex of {@code digest}. */
  public static String hex(byte[] digest) {
    return HexFormat.of().formatHex(digest);
  }

  /** The SHA-256 of {@code bytes}, in hex. */
  public static String sha256Hex(byte[] bytes) {
    return hex(sha256().digest(bytes));
  }

  /** {@code sha256:<hex>} of these bytes: the bundle digest when given manifest.json's bytes. */
  public static String bundleDigest(byte[] manifestBytes) {
    return PREFIX + sha256Hex(manifestBytes);
  }

  /** The hex of a {@code sha256:<hex>} digest. */
  public static String hexOf(String digest) {
    return digest.startsWith(PREFIX) ? digest.substring(PREFIX.length()) : digest;
  }

  /** Hash of a file's content and its size. */
  public static FileHash hashFile(Path file) {
    MessageDigest md = sha256();
    long size = 0;
    byte[] buf = new byte[1 << 16];
    try (InputStream in = Files.newInputStream(file)) {
      int n;
      while ((n = in.read(buf)) > 0) {
        md.update(buf, 0, n);
        size += n;
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
    }
    return new FileHash(hex(md.digest()), size);
  }

  /** {@link #hashFile} of a bundle's file on disk, counted in {@link #contentHashed}. */
  public static FileHash hashBundleFile(Path file) {
    FileHash h = hashFile(file);
    CONTENT_HASHED.add(h.size());
    return h;
  }

  /** Counts {@code bytes} of bundle file content hashed while reading an archive. */
  public static void countContentHashed(long bytes) {
    CONTENT_HASHED.add(bytes);
  }

  /** Bytes of bundle file content this JVM has hashed so far: how many passes a path makes. */
  public static long contentHashed() {
    return CONTENT_HASHED.sum();
  }

  /** A file's SHA-256 hex and size in bytes. */
  public record FileHash(String sha256, long size) {
  }
}
