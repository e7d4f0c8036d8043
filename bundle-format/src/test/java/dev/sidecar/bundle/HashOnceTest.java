package dev.sidecar.bundle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.bundle.files.Digests;
import dev.sidecar.bundle.internal.VerifiedMarker;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A bundle's files are hashed once on their way into a cache, and the copy is then opened on the
 * strength of its verified marker, counted with {@link Digests#contentHashed}: a fresh unpack with a
 * known digest makes exactly one pass, its marker is trusted at once (by the cache and by
 * {@link Bundle#openIfVerified}, what a sidecar process uses), and whatever the marker cannot
 * vouch for is hashed again or refused.
 */
class HashOnceTest {
  @TempDir
  Path tmp;

  private Path archive() {
    return TestBundles.irisArchive(tmp, tmp.resolve("iris.bundle"));
  }

  private static long contentBytes(Manifest m) {
    return m.files().stream().mapToLong(FileEntry::size).sum();
  }

  @Test
  void aFreshUnpackHashesEveryFileOnceAndItsMarkerIsTrustedAtOnce() {
    Path a = archive();
    BundleInfo info = BundleArchive.peek(a);
    Path cache = tmp.resolve("cache");
    long before = Digests.contentHashed();
    BundleArchive.UnpackResult r = BundleArchive.unpackCached(a, cache,
        BundleArchive.Limits.defaults(), info.digest());
    assertTrue(r.unpacked());
    assertEquals(contentBytes(info.manifest()), Digests.contentHashed() - before,
        "one pass over the files: hashed as they are unpacked");

    before = Digests.contentHashed();
    Bundle opened = Bundle.openIfVerified(r.bundle().root(), info.digest());
    assertNotNull(opened, "the marker written right after the unpack is trusted at once");
    assertEquals(info.digest(), opened.digest());
    assertNotNull(Bundle.openIfVerified(r.bundle().root(), null), "null: the manifest's digest");
    BundleArchive.UnpackResult again = BundleArchive.unpackCached(a, cache,
        BundleArchive.Limits.defaults(), info.digest());
    assertFalse(again.unpacked());
    assertEquals(0, Digests.contentHashed() - before, "reused without hashing");
  }

  @Test
  void anotherDigestIsRefusedBeforeAnythingIsUnpackedOrHashed() {
    Path a = archive();
    BundleInfo info = BundleArchive.peek(a);
    String other = "sha256:" + "0".repeat(64);
    Path cache = tmp.resolve("cache");
    long before = Digests.contentHashed();
    BundleException e = assertThrows(BundleException.class, () -> BundleArchive.unpackCached(a,
        cache, BundleArchive.Limits.defaults(), other));
    assertTrue(e.getMessage().contains(other) && e.getMessage().contains(info.digest()),
        e.getMessage());
    assertEquals(0, Digests.contentHashed() - before);
    assertFalse(Files.exists(cache.resolve(Digests.hexOf(info.digest()))));
    assertFalse(Files.exists(cache.resolve(Digests.hexOf(other))));
  }

  @Test
  void openIfVerifiedTrustsNothingItCannotProveUnchanged() throws Exception {
    Path a = archive();
    BundleInfo info = BundleArchive.peek(a);
    Path cache = tmp.resolve("cache");
    Bundle b = BundleArchive.unpackCached(a, cache, BundleArchive.Limits.defaults(),
        info.digest()).bundle();
    Path root = b.root();
    Path marker = VerifiedMarker.of(root);
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(
        marker)));
    assertNotNull(Bundle.openIfVerified(root, info.digest()));

    assertNull(Bundle.openIfVerified(root, "sha256:" + "1".repeat(64)), "another digest");

    Files.setPosixFilePermissions(marker, PosixFilePermissions.fromString("rw-r-----"));
    assertNull(Bundle.openIfVerified(root, info.digest()), "a marker others may read");
    Files.setPosixFilePermissions(marker, PosixFilePermissions.fromString("rw-------"));
    assertNotNull(Bundle.openIfVerified(root, info.digest()));

    Files.setPosixFilePermissions(cache, PosixFilePermissions.fromString("rwxrwxrwx"));
    assertNull(Bundle.openIfVerified(root, info.digest()), "a cache others may write");
    Files.setPosixFilePermissions(cache, PosixFilePermissions.fromString("rwx------"));
    assertNotNull(Bundle.openIfVerified(root, info.digest()));

    Files.setPosixFilePermissions(b.modelPath("classifier"),
        PosixFilePermissions.fromString("rw--w----"));
    assertNull(Bundle.openIfVerified(root, info.digest()), "a file others may write");
    Files.setPosixFilePermissions(b.modelPath("classifier"),
        PosixFilePermissions.fromString("rw-------"));
    // The mode change moved the file's ctime: the marker no longer vouches for it.
    assertNull(Bundle.openIfVerified(root, info.digest()), "a ctime the marker does not hold");

    // Hashed in full, the intact entry gets a fresh marker, trusted again.
    long before = Digests.contentHashed();
    assertFalse(BundleArchive.unpackCached(a, cache, BundleArchive.Limits.defaults(),
        info.digest()).unpacked());
    assertEquals(contentBytes(info.manifest()), Digests.contentHashed() - before,
        "one full pass over the cached copy");
    assertNotNull(Bundle.openIfVerified(root, info.digest()));

    CacheVerificationTest.flipAByte(b.modelPath("classifier"), true);
    assertNull(Bundle.openIfVerified(root, info.digest()), "edited, its mtime restored");
    BundleException e = assertThrows(BundleException.class, () -> Bundle.open(root,
        info.digest()));
    assertTrue(e.getMessage().contains("iris_classifier.onnx")
        && e.getMessage().contains("does not match the manifest"), e.getMessage());

    Files.delete(marker);
    assertNull(Bundle.openIfVerified(root, info.digest()), "no marker");
  }
}
