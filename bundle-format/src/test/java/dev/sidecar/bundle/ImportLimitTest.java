package dev.sidecar.bundle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The archive size is bounded too, derived from {@code maxExpandedBytes}. */
class ImportLimitTest {
  @TempDir
  Path tmp;

  @Test
  void theArchiveLimitFollowsTheExpandedLimit() {
    BundleArchive.Limits l = new BundleArchive.Limits(64 << 10, 10);
    assertEquals((64 << 10) + (1 << 10) + 12 * 1024 + (2 << 20), l.maxArchiveBytes());
    assertEquals(Long.MAX_VALUE, new BundleArchive.Limits(Long.MAX_VALUE, 10).maxArchiveBytes());
    assertTrue(BundleArchive.Limits.defaults().maxArchiveBytes()
        > BundleArchive.Limits.DEFAULT_MAX_EXPANDED_BYTES);
  }

  @Test
  void anImportStopsAtTheArchiveLimit() throws Exception {
    BundleArchive.Limits limits = new BundleArchive.Limits(64 << 10, 10);
    byte[] big = new byte[(int) limits.maxArchiveBytes() + (1 << 20)];
    new Random(1).nextBytes(big);
    Path file = Files.write(tmp.resolve("big.bundle"), big);
    BundleStore store = BundleStore.open(tmp.resolve("home"), limits);
    String msg = assertThrows(BundleException.class, () -> store.add(file)).getMessage();
    assertTrue(msg.startsWith(file + ": larger than " + limits.maxArchiveBytes() + " bytes"), msg);
    try (Stream<Path> s = Files.list(tmp.resolve("home").resolve("tmp"))) {
      assertEquals(List.of(), s.toList());
    }
    msg = assertThrows(BundleException.class, () -> BundleArchive.inspect(file, limits))
        .getMessage();
    assertTrue(msg.contains("more than the limit of " + limits.maxArchiveBytes() + " bytes"), msg);

    // a real bundle within the limits is imported
    Path ok = tmp.resolve("iris.bundle");
    TestBundles.buildIris(tmp.resolve("work"), "iris", "1", TestBundles.T0, ok);
    BundleStore roomy = BundleStore.open(tmp.resolve("home2"),
        new BundleArchive.Limits(1 << 20, 10));
    assertEquals("iris:1", roomy.add(ok).tag());
  }
}
