package dev.sidecar.bundle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code bundle verify TAG}: the archive and the cached unpacked copy, hashed in full. */
class StoreVerifyTest {
  @TempDir
  Path tmp;

  @Test
  void verifyHashesTheCachedCopyAndRepairsIt() throws Exception {
    Path archive = tmp.resolve("iris.bundle");
    BundleInfo built = TestBundles.buildIris(tmp.resolve("work"), "iris", "1", TestBundles.T0,
        archive);
    BundleStore store = BundleStore.open(tmp.resolve("home"));
    store.add(archive);

    BundleStore.Verification v = store.verify("iris:1");
    assertEquals(built, v.info());
    assertEquals(BundleStore.CachedCopy.NONE, v.cachedCopy());

    Bundle loaded = store.load("iris:1");
    v = store.verify("iris");
    assertEquals(BundleStore.CachedCopy.OK, v.cachedCopy());
    assertNull(v.damage());

    CacheVerificationTest.flipAByte(loaded.modelPath("classifier"), true);
    v = store.verify("iris:1");
    assertEquals(BundleStore.CachedCopy.REPAIRED, v.cachedCopy());
    assertTrue(v.damage().contains("file 'iris_classifier.onnx' does not match the manifest"),
        v.damage());
    assertArrayEquals(TestBundles.irisModel(), Files.readAllBytes(loaded.modelPath("classifier")));
    assertEquals(BundleStore.CachedCopy.OK, store.verify("iris:1").cachedCopy());
  }
}
