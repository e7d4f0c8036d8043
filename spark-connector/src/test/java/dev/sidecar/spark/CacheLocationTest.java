package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sidecar.spark.RunOptions.SidecarMode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.apache.spark.SparkException;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Where an executor keeps unpacked bundles: a per-user location, never a fixed name in the
 * shared temporary directory; a cache directory that others could write to is refused.
 */
class CacheLocationTest {
  private static final String CACHE = "sidecar.cache.dir";
  private static final String HOME = "sidecar.home";
  private static final RunOptions OPTS = RunOptions.builder()
      .sidecarMode(SidecarMode.IN_PROCESS).build();
  private static SparkSession spark;
  private String savedCache;
  private String savedHome;

  @BeforeAll
  static void start() {
    spark = TestSpark.local("local[1]", "CacheLocationTest");
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  @BeforeEach
  void save() {
    savedCache = System.getProperty(CACHE);
    savedHome = System.getProperty(HOME);
  }

  @AfterEach
  void restore() {
    restore(CACHE, savedCache);
    restore(HOME, savedHome);
  }

  @Test
  void withSidecarHomeTheCacheIsThereAndPrivate() throws IOException {
    Path home = fresh("home");
    System.clearProperty(CACHE);
    System.setProperty(HOME, home.toString());
    TestBundles.Built b = TestBundles.kinds("kinds_home", "1.0.0");
    score(b);
    String hex = b.digest().replace("sha256:", "");
    Path cache = home.resolve("spark-cache");
    assertTrue(Files.isDirectory(cache.resolve(hex)), "unpacked under " + cache);
    assertEquals("rwx------", mode(cache));
    assertFalse(Files.exists(Path.of(System.getProperty("java.io.tmpdir"), "sidecar-cache", hex)),
        "nothing under the shared temporary directory");
  }

  @Test
  void aCacheDirectoryWritableByOthersIsRefused() throws IOException {
    Path root = Files.createDirectories(fresh("open"));
    Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwxrwxrwx"));
    System.setProperty(CACHE, root.toString());
    String m = refused(TestBundles.kinds("kinds_open_cache", "1.0.0"));
    assertTrue(m.contains(root.toString()) && m.contains("writable by other users")
        && m.contains(CACHE), m);
  }

  @Test
  void aCacheDirectoryOfAnotherUserIsRefused() throws IOException {
    assumeTrue("root".equals(System.getProperty("user.name")), "needs root to chown");
    Path root = Files.createDirectories(fresh("foreign"));
    Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwx------"));
    Files.setOwner(root, root.getFileSystem().getUserPrincipalLookupService()
        .lookupPrincipalByName("nobody"));
    System.setProperty(CACHE, root.toString());
    String m = refused(TestBundles.kinds("kinds_foreign_cache", "1.0.0"));
    assertTrue(m.contains(root.toString()) && m.contains("belongs to nobody"), m);
  }

  private static String refused(TestBundles.Built b) {
    SparkException e = assertThrows(SparkException.class, () -> score(b));
    return e.getMessage();
  }

  private static void score(TestBundles.Built b) {
    List<Row> rows = Sidecar.runSpark(b.archive(), "i64", spark.range(3).selectExpr("id as i64"),
        OPTS).collectAsList();
    assertEquals(3, rows.size());
  }

  private static Path fresh(String name) throws IOException {
    return Files.createDirectories(Path.of("target", "tmp").toAbsolutePath())
        .resolve("cache-location-" + name + "-" + System.nanoTime());
  }

  private static String mode(Path p) throws IOException {
    return PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
  }

  private static void restore(String key, String value) {
    if (value == null) {
      System.clearProperty(key);
    } else {
      System.setProperty(key, value);
    }
  }
}
