package dev.sidecar.bundle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Same inputs, version and creation time give the same bytes and digest. */
class ReproducibleArchiveTest {
  @TempDir
  Path tmp;

  private Path irisCopy(String dir) throws Exception {
    Path d = Files.createDirectories(tmp.resolve(dir));
    for (String f : List.of("bundle.yaml", "iris_classifier.onnx", "README.md")) {
      Files.copy(TestBundles.IRIS_DIR.resolve(f), d.resolve(f));
    }
    return d.resolve("bundle.yaml");
  }

  @Test
  void twoBuildsGiveTheSameBytesAndDigest() throws Exception {
    Path a = irisCopy("a");
    Path b = irisCopy("b");
    // Different file times and directories must not matter.
    Files.setLastModifiedTime(b.resolveSibling("iris_classifier.onnx"),
        FileTime.from(Instant.parse("2001-01-01T00:00:00Z")));
    BundleInfo ia = BundleBuilder.fromSpec(a).createdAt(TestBundles.T0).build(tmp.resolve("a.bundle"));
    BundleInfo ib = BundleBuilder.fromSpec(b).createdAt(TestBundles.T0).build(tmp.resolve("b.bundle"));
    assertEquals(ia.digest(), ib.digest());
    assertArrayEquals(Files.readAllBytes(tmp.resolve("a.bundle")),
        Files.readAllBytes(tmp.resolve("b.bundle")));

    BundleInfo later = BundleBuilder.fromSpec(a).createdAt(TestBundles.T0.plusSeconds(1))
        .build(tmp.resolve("c.bundle"));
    assertNotEquals(ia.digest(), later.digest());
    BundleInfo otherVersion = BundleBuilder.fromSpec(a).version("1.0.1")
        .createdAt(TestBundles.T0).build(tmp.resolve("d.bundle"));
    assertNotEquals(ia.digest(), otherVersion.digest());
  }

  @Test
  void derivedVersionsAreTimeOrderedAndStable() throws Exception {
    Path a = irisCopy("a");
    Files.writeString(a, Files.readString(a).replace("version: \"1.0.0\"\n", ""));
    BundleInfo x = BundleBuilder.fromSpec(a).createdAt(TestBundles.T0).build(tmp.resolve("x.bundle"));
    BundleInfo y = BundleBuilder.fromSpec(a).createdAt(TestBundles.T0).build(tmp.resolve("y.bundle"));
    assertTrue(x.manifest().version().matches("20261123\\.100000\\.[0-9a-f]{6}"),
        x.manifest().version());
    assertEquals(x.manifest().version(), y.manifest().version());
    assertEquals(x.digest(), y.digest());
    BundleInfo z = BundleBuilder.fromSpec(a).createdAt(TestBundles.T0.plusSeconds(3600))
        .build(tmp.resolve("z.bundle"));
    assertTrue(z.manifest().version().startsWith("20261123.110000."));
    assertTrue(BundleStore.compareVersions(x.manifest().version(), z.manifest().version()) < 0);
  }

  @Test
  void archiveLayoutIsFixed() throws Exception {
    Path a = irisCopy("a");
    Path out = tmp.resolve("a.bundle");
    BundleInfo info = BundleBuilder.fromSpec(a).createdAt(TestBundles.T0).build(out);
    byte[] bytes = Files.readAllBytes(out);
    // gzip header: magic, deflate, no flags (no name/comment/extra), mtime 0, OS unknown (255).
    assertEquals(0x1f, bytes[0] & 0xff);
    assertEquals(0x8b, bytes[1] & 0xff);
    assertEquals(0, bytes[3]);
    assertEquals(0, bytes[4] | bytes[5] | bytes[6] | bytes[7]);
    assertEquals(255, bytes[9] & 0xff);

    List<String> names = new ArrayList<>();
    try (InputStream in = Files.newInputStream(out);
        TarArchiveInputStream tar = new TarArchiveInputStream(new GzipCompressorInputStream(in))) {
      TarArchiveEntry e;
      while ((e = tar.getNextEntry()) != null) {
        names.add(e.getName());
        assertEquals(0100644, e.getMode(), e.getName());
        assertEquals(0, e.getLongUserId());
        assertEquals(0, e.getLongGroupId());
        assertEquals("", e.getUserName());
        assertEquals(TestBundles.T0, e.getLastModifiedTime().toInstant());
        if (e.getName().equals("manifest.json")) {
          assertEquals(info.digest(), dev.sidecar.bundle.files.Digests.bundleDigest(
              tar.readAllBytes()));
        }
      }
    }
    assertEquals(List.of("manifest.json", "README.md", "iris_classifier.onnx"), names);
  }
}
