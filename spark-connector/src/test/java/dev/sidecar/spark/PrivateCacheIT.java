package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sidecar.spark.internal.SidecarKey;
import dev.sidecar.spark.internal.SidecarRegistry;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The connector's files on an executor are the user's alone (issue #15, item 1). Another local
 * user who plants ONNX Runtime libraries where the connector caches them gets them replaced,
 * never loaded; a run creates only 0700 directories and 0600 files (the socket too).
 */
@Timeout(180)
class PrivateCacheIT {
  private static SparkSession spark;
  private static TestCacheRoot caches;
  /** The native library directory of a clean run: what the connector unpacks itself. */
  private static Path genuine;

  @BeforeAll
  static void start() throws IOException {
    caches = new TestCacheRoot();
    spark = TestSpark.local("local[2]", "PrivateCacheIT");
    caches.fresh("native-ref");
    genuine = nativePath(score("kinds_native_ref"));
    assertTrue(Files.isRegularFile(genuine.resolve("libonnxruntime4j_jni.so")), genuine.toString());
  }

  @AfterEach
  void restoreRoot() {
    caches.restore();
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  @Test
  void plantedGarbageInTheNativeLibraryDirectoryIsReplacedNotLoaded() throws IOException {
    Path root = caches.fresh("native-garbage");
    Path planted = Files.createDirectories(root.resolve("onnxruntime-native")
        .resolve(genuine.getFileName()));
    for (Path lib : list(genuine)) {
      Files.writeString(planted.resolve(lib.getFileName()), "not a library");
    }
    Path used = nativePath(score("kinds_native_garbage"));
    assertSameLibraries(root, used);
  }

  @Test
  void aNativeLibraryDirectoryWritableByOthersIsReplacedNotLoaded() throws IOException {
    Path root = caches.fresh("native-writable");
    Path planted = plantCopy(root);
    Files.setPosixFilePermissions(planted, PosixFilePermissions.fromString("rwxrwxrwx"));
    Path used = nativePath(score("kinds_native_writable"));
    assertSameLibraries(root, used);
    assertFalse(Files.exists(used.resolve("planted")), "a fresh directory, not the planted one");
  }

  @Test
  void aNativeLibraryDirectoryOfAnotherUserIsReplacedNotLoaded() throws IOException {
    assumeTrue("root".equals(System.getProperty("user.name")), "needs root to chown");
    Path root = caches.fresh("native-foreign");
    Path planted = plantCopy(root);
    UserPrincipal nobody = planted.getFileSystem().getUserPrincipalLookupService()
        .lookupPrincipalByName("nobody");
    for (Path p : List.of(planted, planted.resolve("planted"))) {
      Files.setOwner(p, nobody);
    }
    for (Path lib : list(planted)) {
      Files.setOwner(lib, nobody);
    }
    Path used = nativePath(score("kinds_native_foreign"));
    assertSameLibraries(root, used);
    assertFalse(Files.exists(used.resolve("planted")), "a fresh directory, not the planted one");
  }

  /** Every directory a run creates is 0700, every file and the socket 0600. */
  @Test
  void aRunCreatesOnlyPrivateDirectoriesAndFiles() throws IOException {
    Path root = Files.createDirectories(Path.of("target", "tmp").toAbsolutePath())
        .resolve("p-" + System.nanoTime());
    caches.use(root);
    long pid = score("kinds_private");
    List<String> problems = new ArrayList<>();
    try (Stream<Path> all = Files.walk(root)) {
      for (Path p : (Iterable<Path>) all::iterator) {
        checkPrivate(p, problems);
      }
    }
    String socket = argument(pid, "--socket");
    if (socket != null) {
      checkPrivate(Path.of(socket), problems);
      checkPrivate(Path.of(socket).getParent(), problems);
    }
    assertEquals(List.of(), problems, "everything under " + root + " is private");
    try (Stream<Path> logs = Files.list(root.resolve("logs"))) {
      assertEquals(1, logs.filter(f -> f.getFileName().toString().endsWith(".log")).count(),
          "the sidecar's log is in the cache's logs directory");
    }
    assertTrue(argument(pid, "-Djava.io.tmpdir").startsWith(root.toString()),
        "the sidecar's scratch directory is in the cache");
  }

  private static void checkPrivate(Path p, List<String> problems) throws IOException {
    PosixFileAttributes a = Files.readAttributes(p, PosixFileAttributes.class,
        LinkOption.NOFOLLOW_LINKS);
    String mode = PosixFilePermissions.toString(a.permissions());
    String want = a.isDirectory() ? "rwx------" : "rw-------";
    if (!mode.equals(want) || a.isSymbolicLink()) {
      problems.add(p + " " + mode);
    }
    if (!a.owner().getName().equals(System.getProperty("user.name"))) {
      problems.add(p + " owned by " + a.owner().getName());
    }
  }

  /** A copy of the genuine libraries with a marker file, as another user would plant it. */
  private static Path plantCopy(Path root) throws IOException {
    Path planted = Files.createDirectories(root.resolve("onnxruntime-native")
        .resolve(genuine.getFileName()));
    for (Path lib : list(genuine)) {
      Files.copy(lib, planted.resolve(lib.getFileName()));
    }
    Files.writeString(planted.resolve("planted"), "planted");
    return planted;
  }

  /**
   * The sidecar loads, from a 0700 directory in the cache root it was given, byte for byte the
   * libraries the connector unpacks itself.
   */
  private static void assertSameLibraries(Path root, Path used) throws IOException {
    assertTrue(used.startsWith(root.resolve("onnxruntime-native")), used + " is in " + root);
    for (Path lib : list(genuine)) {
      Path copy = used.resolve(lib.getFileName());
      assertEquals(-1L, Files.mismatch(lib, copy), copy + " is not the genuine " + lib);
    }
    assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(used)),
        used.toString());
  }

  private static List<Path> list(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      return files.filter(f -> f.getFileName().toString().startsWith("lib")).toList();
    }
  }

  /** Scores five rows with a bundle of its own (so a sidecar of its own); returns its pid. */
  private static long score(String bundleName) {
    TestBundles.Built b = TestBundles.kinds(bundleName, "1.0.0");
    List<Row> rows = Sidecar.runSpark(b.archive(), "i64", spark.range(5).selectExpr("id as i64"),
        RunOptions.defaults()).collectAsList();
    assertEquals(5, rows.size());
    for (Row r : rows) {
      assertEquals(r.getLong(0), r.getLong(1));
    }
    return SidecarRegistry.get().pid(SidecarKey.of(b.digest(), RunOptions.defaults()))
        .orElseThrow();
  }

  /** The directory a sidecar was told to load ONNX Runtime's native libraries from. */
  private static Path nativePath(long pid) throws IOException {
    String path = argument(pid, "-Donnxruntime.native.path");
    assertTrue(path != null, "the sidecar got onnxruntime.native.path");
    return Path.of(path);
  }

  /** The value of {@code -Dname=value} or of {@code --name value} on a process's command line. */
  private static String argument(long pid, String name) throws IOException {
    String[] args = Files.readString(Path.of("/proc", Long.toString(pid), "cmdline"),
        StandardCharsets.UTF_8).split("\0");
    for (int i = 0; i < args.length; i++) {
      if (name.startsWith("-D") && args[i].startsWith(name + "=")) {
        return args[i].substring(name.length() + 1);
      }
      if (args[i].equals(name) && i + 1 < args.length) {
        return args[i + 1];
      }
    }
    return null;
  }
}
