package dev.sidecar.bundle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Private by default: everything the store, unpack and the cache create is 0700 / 0600 set
 * explicitly (so a umask of 0 leaks nothing; see {@link PrivateModesIT}), and what the cache
 * reuses is checked first.
 */
class PrivateModesTest {
  @TempDir
  Path tmp;

  /** Every path below {@code root} (itself included) whose mode is not 0700 / 0600. */
  static List<String> notPrivate(Path root) {
    List<String> out = new ArrayList<>();
    try (Stream<Path> s = Files.walk(root)) {
      for (Path p : (Iterable<Path>) s::iterator) {
        boolean dir = Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS);
        String mode = PosixFilePermissions.toString(Files.getPosixFilePermissions(p,
            LinkOption.NOFOLLOW_LINKS));
        if (!mode.equals(dir ? "rwx------" : "rw-------")) {
          out.add(root.relativize(p) + " " + mode);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out;
  }

  private Path archive() {
    return TestBundles.irisArchive(tmp, tmp.resolve("in").resolve("iris.bundle"));
  }

  @Test
  void everythingTheStoreWritesIsPrivate() {
    Path home = tmp.resolve("home");
    BundleStore store = BundleStore.open(home);
    store.add(archive());
    store.alias("iris", "production", "1");
    store.load("iris:production");
    BundleBuilder.fromSpec(TestBundles.IRIS_DIR.resolve("bundle.yaml"))
        .createdAt(TestBundles.T0).buildInto(store);
    store.load("iris_classifier");
    assertTrue(Files.isDirectory(home.resolve("locks")));
    assertTrue(Files.isDirectory(home.resolve("cache")));
    assertTrue(Files.isDirectory(home.resolve("bundles/iris/.aliases")));
    assertEquals(List.of(), notPrivate(home));
  }

  @Test
  void unpackAndTheCacheWritePrivateFiles() {
    Path target = tmp.resolve("out").resolve("a").resolve("unpacked");
    BundleArchive.unpack(archive(), target);
    assertEquals(List.of(), notPrivate(target));
    assertEquals(List.of(), notPrivate(tmp.resolve("out")), "missing parents are made 0700");

    Path cache = tmp.resolve("cache");
    BundleArchive.unpackCached(archive(), cache);
    assertEquals(List.of(), notPrivate(cache));
  }

  @Test
  void builtArchivesArePrivate() {
    assertEquals(List.of(), notPrivate(archive()));
  }

  @Test
  void aGroupWritableCacheEntryIsNotTrusted() throws IOException {
    Path cache = tmp.resolve("cache");
    Bundle b = BundleArchive.unpackCached(archive(), cache).bundle();
    Files.setPosixFilePermissions(b.modelPath("classifier"),
        PosixFilePermissions.fromString("rw-rw-r--"));
    BundleArchive.UnpackResult r = BundleArchive.unpackCached(archive(), cache);
    assertTrue(r.unpacked(), "a group-writable entry is replaced, not reused");
    assertEquals(List.of(), notPrivate(r.bundle().root()));

    Files.setPosixFilePermissions(r.bundle().root(), PosixFilePermissions.fromString("rwxrwx---"));
    BundleArchive.UnpackResult r2 = BundleArchive.unpackCached(archive(), cache);
    assertTrue(r2.unpacked(), "a group-writable entry directory is replaced, not reused");
    assertEquals(List.of(), notPrivate(r2.bundle().root()));
  }

  @Test
  void aSymlinkedCacheEntryIsNotFollowed() throws IOException {
    Path cache = tmp.resolve("cache");
    Bundle b = BundleArchive.unpackCached(archive(), cache).bundle();
    // Someone replaces the entry with a link to a copy they control.
    Path theirs = tmp.resolve("theirs");
    Files.move(b.root(), theirs);
    Files.createSymbolicLink(b.root(), theirs);
    CacheVerificationTest.flipAByte(theirs.resolve("iris_classifier.onnx"), true);

    BundleArchive.UnpackResult r = BundleArchive.unpackCached(archive(), cache);
    assertTrue(r.unpacked());
    assertFalse(Files.isSymbolicLink(r.bundle().root()));
    assertTrue(Files.isDirectory(r.bundle().root(), LinkOption.NOFOLLOW_LINKS));
    assertArrayEquals(TestBundles.irisModel(), Files.readAllBytes(r.bundle().modelPath(
        "classifier")));
    assertTrue(Files.isRegularFile(theirs.resolve("iris_classifier.onnx")),
        "the link's target is neither used nor touched");
  }

  @Test
  void aCacheRootOthersCanWriteIsRefused() throws IOException {
    Path cache = Files.createDirectory(tmp.resolve("shared-cache"));
    Files.setPosixFilePermissions(cache, PosixFilePermissions.fromString("rwxrwxrwx"));
    String msg = assertThrows(BundleException.class,
        () -> BundleArchive.unpackCached(archive(), cache)).getMessage();
    assertTrue(msg.contains(cache.toString()) && msg.contains("writable by other users"), msg);
    try (Stream<Path> s = Files.list(cache)) {
      assertEquals(0, s.count(), "nothing is written into a refused cache root");
    }
  }

  @Test
  void aCacheEntryOfAnotherUserIsRefused() throws IOException {
    Path cache = tmp.resolve("cache");
    Bundle b = BundleArchive.unpackCached(archive(), cache).bundle();
    UserPrincipal nobody;
    try {
      nobody = b.root().getFileSystem().getUserPrincipalLookupService()
          .lookupPrincipalByName("nobody");
      Files.setOwner(b.root(), nobody);
    } catch (IOException | UnsupportedOperationException e) {
      assumeTrue(false, "cannot give a file to another user here: " + e);
      return;
    }
    String msg = assertThrows(BundleException.class,
        () -> BundleArchive.unpackCached(archive(), cache)).getMessage();
    assertTrue(msg.contains(b.root().toString()) && msg.contains("belongs to nobody"), msg);
  }
}
