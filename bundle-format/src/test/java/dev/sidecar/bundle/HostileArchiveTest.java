package dev.sidecar.bundle;

import static dev.sidecar.bundle.TestBundles.fileEntry;
import static dev.sidecar.bundle.TestBundles.manifestEntry;
import static dev.sidecar.bundle.TestBundles.modelEntry;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.bundle.TestBundles.Entry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every hostile archive is refused by inspect, unpack and the store, with a message naming the
 * problem, and nothing is left behind: no target directory, no temporary siblings, no store
 * entry.
 */
class HostileArchiveTest {
  private static final byte[] HELLO = "hello\n".getBytes(StandardCharsets.UTF_8);

  @TempDir
  Path tmp;

  private void assertRefused(Path archive, String expected) {
    assertRefused(archive, expected, BundleArchive.Limits.defaults());
  }

  private void assertRefused(Path archive, String expected, BundleArchive.Limits limits) {
    BundleException e1 = assertThrows(BundleException.class,
        () -> BundleArchive.inspect(archive, limits));
    assertTrue(e1.getMessage().contains(expected), e1.getMessage());

    Path out = tmp.resolve("out");
    Path target = out.resolve("target");
    BundleException e2 = assertThrows(BundleException.class,
        () -> BundleArchive.unpack(archive, target, limits));
    assertTrue(e2.getMessage().contains(expected), e2.getMessage());
    assertFalse(Files.exists(target), "target must not exist after a refused unpack");
    assertEquals(List.of(), TestBundles.leftovers(out));
    assertFalse(Files.exists(tmp.resolve("outside.txt")), "nothing may be written outside");

    Path cache = tmp.resolve("cache");
    if (limits.equals(BundleArchive.Limits.defaults())) {
      BundleException e3 = assertThrows(BundleException.class,
          () -> BundleArchive.unpackCached(archive, cache));
      assertTrue(e3.getMessage().contains(expected), e3.getMessage());
      assertEquals(List.of(), listNonLock(cache));

      BundleStore store = BundleStore.open(tmp.resolve("home"));
      BundleException e4 = assertThrows(BundleException.class, () -> store.add(archive));
      assertTrue(e4.getMessage().contains(expected), e4.getMessage());
      assertEquals(List.of(), store.list());
      assertEquals(List.of(), listNonLock(tmp.resolve("home").resolve("tmp")));
    }
  }

  private static List<Path> listNonLock(Path dir) {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (var s = Files.list(dir)) {
      return s.filter(p -> !p.getFileName().toString().equals(".locks")).toList();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private Path archive(String name, Entry... entries) {
    return TestBundles.write(tmp.resolve(name + ".bundle"), Arrays.asList(entries));
  }

  @Test
  void theValidBaselineIsAccepted() {
    Path ok = archive("ok", manifestEntry(List.of(fileEntry("notes.txt", HELLO))),
        modelEntry(), Entry.file("notes.txt", HELLO));
    Bundle b = BundleArchive.unpack(ok, tmp.resolve("ok"));
    assertEquals("hostile:1", b.tag());
    assertEquals(b.digest(), BundleArchive.unpackCached(ok, tmp.resolve("c")).bundle().digest());
  }

  @Test
  void dotDotEntryIsRefused() {
    assertRefused(archive("dotdot", manifestEntry(List.of()), modelEntry(),
        Entry.file("../outside.txt", HELLO)), "entry '../outside.txt' has an unsafe name");
  }

  @Test
  void nestedDotDotEntryIsRefused() {
    assertRefused(archive("dotdot2", manifestEntry(List.of()), modelEntry(),
        Entry.file("a/../../outside.txt", HELLO)), "unsafe name: '..' segments are not allowed");
  }

  @Test
  void absoluteEntryIsRefused() {
    String abs = tmp.resolve("outside.txt").toString();
    assertRefused(archive("abs", manifestEntry(List.of()), modelEntry(), Entry.file(abs, HELLO)),
        "absolute paths are not allowed");
  }

  @Test
  void symlinkEscapeIsRefused() {
    assertRefused(archive("symlink", manifestEntry(List.of(fileEntry("link/outside.txt", HELLO))),
        modelEntry(), Entry.symlink("link", tmp.toString()),
        Entry.file("link/outside.txt", HELLO)), "entry 'link' is a symbolic link to '" + tmp);
  }

  @Test
  void hardlinkIsRefused() {
    assertRefused(archive("hardlink", manifestEntry(List.of()), modelEntry(),
        Entry.hardlink("copy.onnx", "/etc/passwd")), "is a hard link to '/etc/passwd'");
  }

  @Test
  void fifoIsRefused() {
    assertRefused(archive("fifo", manifestEntry(List.of()), modelEntry(), Entry.fifo("pipe")),
        "entry 'pipe' is a device or FIFO");
  }

  @Test
  void entryLargerThanDeclaredIsRefused() {
    assertRefused(archive("large", manifestEntry(List.of(fileEntry("notes.txt", HELLO))),
        modelEntry(), Entry.file("notes.txt", new byte[1000])),
        "entry 'notes.txt' is 1000 bytes, larger than the 6 bytes the manifest declares");
  }

  @Test
  void archiveExpandingPastTheBoundIsRefused() {
    byte[] big = new byte[100_000];
    Path a = archive("bomb", manifestEntry(List.of(fileEntry("zeros.bin", big))), modelEntry(),
        Entry.file("zeros.bin", big));
    assertRefused(a, "more than the limit of 50000 bytes", new BundleArchive.Limits(50_000, 100));
    BundleArchive.inspect(a, new BundleArchive.Limits(200_000, 100));
  }

  @Test
  void tooManyEntriesAreRefused() {
    Path a = archive("many", manifestEntry(List.of(fileEntry("a", HELLO), fileEntry("b", HELLO))),
        modelEntry(), Entry.file("a", HELLO), Entry.file("b", HELLO));
    assertRefused(a, "more than the limit of 2", new BundleArchive.Limits(1 << 20, 2));
  }

  @Test
  void truncatedArchiveIsRefused() throws Exception {
    TestBundles.buildIris(tmp, "trunc", "1", TestBundles.T0, tmp.resolve("ok.bundle"));
    byte[] bytes = Files.readAllBytes(tmp.resolve("ok.bundle"));
    Path half = tmp.resolve("half.bundle");
    Files.write(half, Arrays.copyOf(bytes, bytes.length / 2));
    assertRefused(half, "truncated or corrupt");
    Path noTrailer = tmp.resolve("notrailer.bundle");
    Files.write(noTrailer, Arrays.copyOf(bytes, bytes.length - 4));
    assertRefused(noTrailer, "truncated or corrupt");
  }

  @Test
  void notGzipIsRefused() throws Exception {
    Path junk = tmp.resolve("junk.bundle");
    Files.writeString(junk, "this is not an archive");
    assertRefused(junk, "not a sidecar bundle (not gzip-compressed)");
  }

  @Test
  void digestMismatchIsRefused() {
    byte[] evil = "hellO\n".getBytes(StandardCharsets.UTF_8);
    assertRefused(archive("digest", manifestEntry(List.of(fileEntry("notes.txt", HELLO))),
        modelEntry(), Entry.file("notes.txt", evil)), "entry 'notes.txt' does not match its digest");
  }

  @Test
  void missingModelIsRefused() {
    assertRefused(archive("nomodel", manifestEntry(List.of())),
        "model 'm' (file 'model.onnx') is listed in the manifest but missing from the archive");
  }

  @Test
  void fileNotListedInTheManifestIsRefused() {
    assertRefused(archive("extra", manifestEntry(List.of()), modelEntry(),
        Entry.file("extra.txt", HELLO)), "entry 'extra.txt' is not listed in the manifest");
  }

  @Test
  void unknownFormatVersionIsRefused() {
    assertRefused(archive("v2", Entry.file("manifest.json",
        TestBundles.manifest(2, List.of())), modelEntry()),
        "unsupported bundle format_version 2; this sidecar reads format_version 1");
  }

  @Test
  void manifestNotFirstIsRefused() {
    assertRefused(archive("order", modelEntry(), manifestEntry(List.of())),
        "the first entry is 'model.onnx', expected manifest.json");
  }

  @Test
  void manifestListingAnUnsafePathIsRefused() {
    String json = new String(TestBundles.manifest(1, List.of(fileEntry("ok.txt", HELLO))),
        StandardCharsets.UTF_8).replace("\"ok.txt\"", "\"../ok.txt\"");
    assertRefused(archive("mfpath", Entry.file("manifest.json",
        json.getBytes(StandardCharsets.UTF_8)), modelEntry()),
        "files[1].path: unsafe path '../ok.txt'");
  }

  @Test
  void tamperedUnpackedDirectoryIsRefusedByOpen() throws Exception {
    Path ok = archive("ok2", manifestEntry(List.of(fileEntry("notes.txt", HELLO))), modelEntry(),
        Entry.file("notes.txt", HELLO));
    Bundle b = BundleArchive.unpack(ok, tmp.resolve("dir"));
    Files.writeString(b.root().resolve("notes.txt"), "HELLO\n");
    BundleException e = assertThrows(BundleException.class, () -> Bundle.open(b.root()));
    assertTrue(e.getMessage().contains("file 'notes.txt' does not match the manifest"),
        e.getMessage());
    Files.delete(b.root().resolve("notes.txt"));
    e = assertThrows(BundleException.class, () -> Bundle.open(b.root()));
    assertTrue(e.getMessage().contains("'notes.txt' listed in the manifest is missing"),
        e.getMessage());
    e = assertThrows(BundleException.class, () -> Bundle.open(b.root(), "sha256:00"));
    assertTrue(e.getMessage().contains("expected sha256:00"), e.getMessage());
  }
}
