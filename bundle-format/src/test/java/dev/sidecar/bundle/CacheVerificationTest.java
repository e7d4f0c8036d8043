package dev.sidecar.bundle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What is opened from a cache is what the digest says: a cached model edited in place (same
 * size, with or without its mtime restored) is noticed on the next load and unpacked again from
 * the archive, through the store and through {@link BundleArchive#unpackCached}.
 */
class CacheVerificationTest {
  @TempDir
  Path tmp;

  private Path archive() {
    return TestBundles.irisArchive(tmp, tmp.resolve("iris.bundle"));
  }

  /** Flips one byte in the middle of {@code file}, in place; the size stays the same. */
  static void flipAByte(Path file, boolean restoreMtime) throws IOException {
    FileTime mtime = Files.getLastModifiedTime(file);
    long size = Files.size(file);
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ,
        StandardOpenOption.WRITE)) {
      ByteBuffer b = ByteBuffer.allocate(1);
      long at = size / 2;
      ch.read(b, at);
      b.flip();
      byte flipped = (byte) (b.get(0) ^ 0x01);
      ch.write(ByteBuffer.wrap(new byte[] {flipped}), at);
    }
    if (restoreMtime) {
      Files.setLastModifiedTime(file, mtime);
    } else {
      Files.setLastModifiedTime(file, FileTime.from(Instant.now().plusSeconds(5)));
    }
    assertEquals(size, Files.size(file));
  }

  private void editedStoreCopyIsReplaced(boolean restoreMtime) throws IOException {
    BundleStore store = BundleStore.open(tmp.resolve("home"));
    BundleInfo info = store.add(archive());
    Bundle first = store.load("iris:1");
    Path model = first.modelPath("classifier");
    assertArrayEquals(TestBundles.irisModel(), Files.readAllBytes(model));
    // a second load before any edit reuses the copy
    assertEquals(first.root(), store.load("iris:1").root());

    flipAByte(model, restoreMtime);
    assertFalse(java.util.Arrays.equals(TestBundles.irisModel(), Files.readAllBytes(model)));

    Bundle again = store.load("iris:1");
    assertEquals(info.digest(), again.digest());
    assertArrayEquals(TestBundles.irisModel(), Files.readAllBytes(again.modelPath("classifier")),
        "the edited model must be replaced by the archive's");
    Bundle.open(again.root(), info.digest());
  }

  @Test
  void anEditedCachedModelWithItsMtimeRestoredIsUnpackedAgain() throws IOException {
    editedStoreCopyIsReplaced(true);
  }

  @Test
  void anEditedCachedModelWithANewMtimeIsUnpackedAgain() throws IOException {
    editedStoreCopyIsReplaced(false);
  }

  @Test
  void theExecutorCacheRepairsAnEditedModel() throws IOException {
    Path cache = tmp.resolve("executor-cache");
    BundleArchive.UnpackResult first = BundleArchive.unpackCached(archive(), cache);
    assertTrue(first.unpacked());
    BundleArchive.UnpackResult reused = BundleArchive.unpackCached(archive(), cache);
    assertFalse(reused.unpacked());

    flipAByte(first.bundle().modelPath("classifier"), true);
    BundleArchive.UnpackResult repaired = BundleArchive.unpackCached(archive(), cache);
    assertTrue(repaired.unpacked(), "a damaged entry is unpacked again");
    assertArrayEquals(TestBundles.irisModel(),
        Files.readAllBytes(repaired.bundle().modelPath("classifier")));
    // and every later run is fine again
    BundleArchive.UnpackResult later = BundleArchive.unpackCached(archive(), cache);
    assertFalse(later.unpacked());
    assertArrayEquals(TestBundles.irisModel(),
        Files.readAllBytes(later.bundle().modelPath("classifier")));
  }

  @Test
  void anEntryWithoutAMarkerIsHashedBeforeUse() throws IOException {
    Path cache = tmp.resolve("cache");
    Bundle b = BundleArchive.unpackCached(archive(), cache).bundle();
    Path marker = b.root().resolveSibling(b.root().getFileName() + ".verified");
    assertTrue(Files.isRegularFile(marker), "a verified marker is written beside the entry");
    assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
        Files.getPosixFilePermissions(marker)));
    assertTrue(Files.readString(marker).contains(b.digest()));

    Files.delete(marker);
    flipAByte(b.modelPath("classifier"), true);
    BundleArchive.UnpackResult r = BundleArchive.unpackCached(archive(), cache);
    assertTrue(r.unpacked());
    assertArrayEquals(TestBundles.irisModel(), Files.readAllBytes(r.bundle().modelPath(
        "classifier")));

    // an intact entry without a marker is hashed, kept and given a marker
    Files.delete(marker);
    BundleArchive.UnpackResult kept = BundleArchive.unpackCached(archive(), cache);
    assertFalse(kept.unpacked());
    assertTrue(Files.isRegularFile(marker));
    assertNotEquals(0, Files.size(marker));
  }
}
