package dev.sidecar.bundle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Tags, paths and URIs with and without a digest pin; malformed pins are refused. */
class BundleRefTest {
  private static final String HEX = "0123456789abcdef".repeat(4);

  @Test
  void splitsThePinFromTagsPathsAndUris() {
    BundleRef tag = BundleRef.parse("iris:1.0#sha256:" + HEX.toUpperCase());
    assertEquals("iris:1.0", tag.location());
    assertEquals("sha256:" + HEX, tag.expectedDigest());
    assertFalse(tag.isUri());
    assertNull(tag.scheme());

    BundleRef uri = BundleRef.parse("S3A://bucket/m/iris.bundle#sha256:" + HEX);
    assertTrue(uri.isUri());
    assertEquals("s3a", uri.scheme());
    assertEquals("S3A://bucket/m/iris.bundle", uri.location());

    BundleRef path = BundleRef.parse("/models/a#b.bundle");
    assertEquals("/models/a#b.bundle", path.location(), "a '#' in a path that is no pin stays");
    assertNull(path.expectedDigest());
    assertEquals("hdfs://nn/x.bundle#sha256:" + HEX,
        BundleRef.parse("hdfs://nn/x.bundle#sha256:" + HEX).toString());
  }

  @Test
  void malformedPinsAndFragmentsAreRefused() {
    BundleException e = assertThrows(BundleException.class,
        () -> BundleRef.parse("https://h/x.bundle#sha256:abc"));
    assertTrue(e.getMessage().contains("64 hex digits"), e.getMessage());
    e = assertThrows(BundleException.class, () -> BundleRef.parse("https://h/x.bundle#v2"));
    assertTrue(e.getMessage().contains("unexpected '#v2'"), e.getMessage());
    assertThrows(BundleException.class, () -> BundleRef.parse(" "));
  }

  @Test
  void anOptionPinMustAgreeWithTheSuffixAndMismatchesNameBothDigests() {
    BundleRef r = BundleRef.parse("iris").withExpectedDigest(HEX, "--expected-digest");
    assertEquals("sha256:" + HEX, r.expectedDigest());
    r.checkDigest("sha256:" + HEX);
    String other = "sha256:" + "f".repeat(64);
    BundleException e = assertThrows(BundleException.class, () -> r.checkDigest(other));
    assertTrue(e.getMessage().contains(other) && e.getMessage().contains(HEX), e.getMessage());
    e = assertThrows(BundleException.class, () -> BundleRef.parse("iris#" + other)
        .withExpectedDigest(HEX, "--expected-digest"));
    assertTrue(e.getMessage().contains("give one digest"), e.getMessage());
    BundleRef.parse("iris").checkDigest(other); // nothing pinned: anything goes
  }
}
