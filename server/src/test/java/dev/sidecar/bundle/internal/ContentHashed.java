package dev.sidecar.bundle.internal;

/**
 * Tests' view of {@link Digests}' package-private count of bundle file content hashed in this
 * JVM, so a test asserts how many passes over a bundle a code path makes.
 */
public final class ContentHashed {
  private ContentHashed() {
  }

  /** Bytes of bundle file content hashed by this JVM so far. */
  public static long bytes() {
    return Digests.contentHashed();
  }
}
