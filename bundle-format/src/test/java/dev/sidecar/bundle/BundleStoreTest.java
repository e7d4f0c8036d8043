package dev.sidecar.bundle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The local store: tags, latest, aliases, delete, export/import, load. */
class BundleStoreTest {
  @TempDir
  Path tmp;

  private BundleInfo build(String name, String version, long secondsAfterT0) {
    return TestBundles.buildIris(tmp.resolve("work"), name, version,
        TestBundles.T0.plusSeconds(secondsAfterT0),
        tmp.resolve("built").resolve(name + "-" + version + ".bundle"));
  }

  private Path archive(String name, String version) {
    return tmp.resolve("built").resolve(name + "-" + version + ".bundle");
  }

  private static String versionOf(BundleStore s, String tag) {
    return s.resolve(tag).manifest().version();
  }

  @Test
  void tagsLatestAndAliases() {
    BundleStore s = BundleStore.open(tmp.resolve("home"));
    build("iris", "1.0", 0);
    build("iris", "2.0", 20);
    build("iris", "1.5", 10);
    build("iris", "1.9", 30);
    build("iris", "1.10", 30);
    build("other", "1", 0);
    for (String v : List.of("1.0", "2.0", "1.5", "1.9", "1.10")) {
      s.add(archive("iris", v));
    }
    s.add(archive("other", "1"));

    assertEquals("1.5", versionOf(s, "iris:1.5"));
    // newest by creation time; ties broken by version (1.10 > 1.9)
    assertEquals("1.10", versionOf(s, "iris:latest"));
    assertEquals("1.10", versionOf(s, "iris"));
    assertEquals(List.of("iris:1.0", "iris:1.5", "iris:2.0", "iris:1.9", "iris:1.10", "other:1"),
        s.list().stream().map(BundleInfo::tag).toList());

    s.alias("iris", "production", "1.5");
    s.alias("iris", "staging", "2.0");
    assertEquals("1.5", versionOf(s, "iris:production"));
    assertEquals("2.0", versionOf(s, "iris:staging"));
    s.alias("iris", "production", "2.0");
    assertEquals("2.0", versionOf(s, "iris:production"));
    assertEquals(Map.of("production", "2.0", "staging", "2.0"), s.aliases("iris"));

    String msg = assertThrows(BundleException.class, () -> s.alias("iris", "x", "9.9"))
        .getMessage();
    assertTrue(msg.contains("no version '9.9' of 'iris'"), msg);
    assertTrue(assertThrows(BundleException.class, () -> s.alias("iris", "latest", "1.0"))
        .getMessage().contains("'latest' is reserved"));
    assertTrue(assertThrows(BundleException.class, () -> s.alias("iris", "1.0", "2.0"))
        .getMessage().contains("it is a version name"));
    msg = assertThrows(BundleException.class, () -> s.resolve("iris:canary")).getMessage();
    assertTrue(msg.contains("no version or alias 'canary' of bundle 'iris'") && msg.contains(
        "versions: [1.0, 1.5, 2.0, 1.9, 1.10], aliases: [production, staging]"), msg);
    msg = assertThrows(BundleException.class, () -> s.resolve("nope")).getMessage();
    assertTrue(msg.contains("no bundle named 'nope'") && msg.contains("bundles: [iris, other]"),
        msg);
    assertTrue(assertThrows(BundleException.class, () -> s.resolve("Bad:1")).getMessage()
        .contains("invalid bundle tag 'Bad:1'"));
  }

  @Test
  void deleteRemovesTheVersionItsAliasesAndItsCache() {
    BundleStore s = BundleStore.open(tmp.resolve("home"));
    build("iris", "1", 0);
    build("iris", "2", 10);
    s.add(archive("iris", "1"));
    BundleInfo two = s.add(archive("iris", "2"));
    s.alias("iris", "production", "2");
    Bundle loaded = s.load("iris:production");
    assertTrue(Files.isDirectory(loaded.root()));

    s.delete("iris:2");
    assertEquals("1", versionOf(s, "iris"));
    assertEquals(Map.of(), s.aliases("iris"));
    assertFalse(Files.exists(loaded.root()), "the cached copy goes with the last holder");
    assertFalse(Files.exists(tmp.resolve("home/bundles/iris/2")));
    assertTrue(assertThrows(BundleException.class, () -> s.resolve("iris:2")).getMessage()
        .contains("no version or alias '2'"));

    s.delete("iris");
    assertEquals(List.of(), s.list());
    assertFalse(Files.exists(tmp.resolve("home/bundles/iris")));
    assertTrue(two.digest().startsWith("sha256:"));
  }

  @Test
  void exportThenImportIntoAFreshHomeKeepsTheDigest() throws Exception {
    BundleStore a = BundleStore.open(tmp.resolve("home-a"));
    BundleInfo built = build("iris", "1", 0);
    BundleInfo added = a.add(archive("iris", "1"));
    assertEquals(built, added);
    Path exported = tmp.resolve("exported.bundle");
    a.export("iris:1", exported);
    assertArrayEquals(Files.readAllBytes(archive("iris", "1")), Files.readAllBytes(exported));

    BundleStore b = BundleStore.open(tmp.resolve("home-b"));
    BundleInfo imported = b.add(exported);
    assertEquals(built.digest(), imported.digest());
    assertEquals(built.digest(), b.resolve("iris:latest").digest());
    // importing the same bundle again is a no-op
    assertEquals(imported, b.add(exported));
    assertEquals(1, b.list().size());
  }

  @Test
  void aDifferentBundleWithTheSameTagIsRefused() {
    BundleStore s = BundleStore.open(tmp.resolve("home"));
    BundleInfo first = build("iris", "1", 0);
    s.add(archive("iris", "1"));
    build("iris", "1", 5); // same tag, different createdAt: a different digest
    String msg = assertThrows(BundleException.class, () -> s.add(archive("iris", "1")))
        .getMessage();
    assertTrue(msg.contains("the store already holds iris:1 with digest " + first.digest()), msg);
    assertEquals(first.digest(), s.resolve("iris:1").digest());
  }

  @Test
  void loadGivesAVerifiedCachedCopy() throws Exception {
    BundleStore s = BundleStore.open(tmp.resolve("home"));
    BundleInfo info = build("iris", "1", 0);
    s.add(archive("iris", "1"));
    Bundle b = s.load("iris");
    assertEquals(info.digest(), b.digest());
    assertEquals(tmp.resolve("home").resolve("cache").resolve(info.digestHex()).toAbsolutePath()
        .normalize(), b.root());
    assertArrayEquals(TestBundles.irisModel(), Files.readAllBytes(b.modelPath("classifier")));
    BundleArchive.UnpackResult again = BundleArchive.unpackCached(s.archivePath("iris:1"),
        tmp.resolve("home").resolve("cache"));
    assertFalse(again.unpacked());
    assertEquals(b.root(), again.bundle().root());
    // a damaged cache entry is replaced
    Files.delete(b.modelPath("classifier"));
    BundleArchive.UnpackResult repaired = BundleArchive.unpackCached(s.archivePath("iris:1"),
        tmp.resolve("home").resolve("cache"));
    assertTrue(repaired.unpacked());
    Bundle.open(repaired.bundle().root(), info.digest());
  }

  @Test
  void locateTakesPathsAndTags() {
    BundleStore s = BundleStore.open(tmp.resolve("home"));
    build("iris", "1", 0);
    s.add(archive("iris", "1"));
    Path file = archive("iris", "1");
    assertEquals(file, s.locateArchive(file.toString()));
    assertEquals(s.archivePath("iris:1"), s.locateArchive("iris"));
    assertTrue(s.locateArchive("iris").toString().endsWith("bundles/iris/1/iris-1.bundle"));
    assertTrue(assertThrows(BundleException.class, () -> s.locateArchive("missing.bundle"))
        .getMessage().contains("missing.bundle: no such bundle file"));
  }

  @Test
  void loadTakesPathsAndTags() {
    BundleStore s = BundleStore.open(tmp.resolve("home"));
    build("iris", "1", 0);
    BundleInfo info = s.add(archive("iris", "1"));
    Bundle byPath = s.load(archive("iris", "1").toString());
    assertEquals(info.digest(), byPath.digest());
    assertTrue(byPath.root().startsWith(tmp.resolve("home").resolve("cache")),
        byPath.root()::toString);
    assertEquals(byPath.root(), s.load("iris:1").root());
    String gone = tmp.resolve("gone.bundle").toString();
    assertTrue(assertThrows(BundleException.class, () -> s.load(gone)).getMessage()
        .contains("gone.bundle: no such bundle file"));
  }

  @Test
  void buildIntoTheStore() {
    BundleStore s = BundleStore.open(tmp.resolve("home"));
    BundleInfo info = BundleBuilder.fromSpec(TestBundles.IRIS_DIR.resolve("bundle.yaml"))
        .createdAt(TestBundles.T0).buildInto(s);
    assertEquals("iris_classifier:1.0.0", info.tag());
    assertEquals(info, s.resolve("iris_classifier"));
    assertEquals(List.of(), TestBundles.leftovers(tmp.resolve("home")));
    assertEquals(List.of(), s.home().resolve("tmp").toFile().list() == null ? List.of()
        : List.of(s.home().resolve("tmp").toFile().list()));
  }

  @Test
  void buildingUnchangedInputsAgainIsANoOp() {
    BundleStore s = BundleStore.open(tmp.resolve("home"));
    Path yaml = TestBundles.IRIS_DIR.resolve("bundle.yaml");
    BundleInfo first = BundleBuilder.fromSpec(yaml).createdAt(TestBundles.T0).buildInto(s);
    BundleInfo again = BundleBuilder.fromSpec(yaml).createdAt(TestBundles.T0.plusSeconds(3600))
        .buildInto(s);
    assertEquals(first, again, "the stored bundle (first creation time) is returned");
    assertEquals(List.of(first), s.list());
    assertEquals(List.of(), TestBundles.leftovers(tmp.resolve("home")));
  }

  @Test
  void buildingDifferentContentUnderTheSameVersionIsRefused() throws Exception {
    BundleStore s = BundleStore.open(tmp.resolve("home"));
    Path yaml = TestBundles.spec(tmp.resolve("src"), "description: one\n"
        + TestBundles.irisYaml("iris", TestBundles.PACKED_API));
    BundleInfo first = BundleBuilder.fromSpec(yaml).version("1").createdAt(TestBundles.T0)
        .buildInto(s);
    Files.writeString(yaml, "description: two\n"
        + TestBundles.irisYaml("iris", TestBundles.PACKED_API));
    String msg = assertThrows(BundleException.class, () -> BundleBuilder.fromSpec(yaml)
        .version("1").createdAt(TestBundles.T0).buildInto(s)).getMessage();
    assertTrue(msg.contains("the store already holds iris:1 with digest " + first.digest())
        && msg.contains("its content differs"), msg);
    assertEquals(List.of(first), s.list());
  }
}
