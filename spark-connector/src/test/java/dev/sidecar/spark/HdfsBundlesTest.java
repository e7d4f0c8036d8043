package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.bundle.BundleException;
import dev.sidecar.spark.RunOptions.SidecarMode;
import dev.sidecar.spark.internal.RemoteArchives;
import dev.sidecar.testkit.MiniHdfs;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Bundles on a real HDFS (Hadoop's MiniDFSCluster, started here on loopback) scored by a real
 * Spark session through the session's Hadoop configuration; missing objects and directories
 * are named; a push writes atomically over an existing object.
 */
@Timeout(300)
class HdfsBundlesTest {
  private static final RunOptions OPTS = RunOptions.builder()
      .sidecarMode(SidecarMode.IN_PROCESS).chunkRows(16).build();
  private static MiniHdfs hdfs;
  private static SparkSession spark;
  private static TestBundles.Built iris;

  @BeforeAll
  static void start() throws Exception {
    hdfs = MiniHdfs.start(TestBundles.root().resolve("hdfs-" + UUID.randomUUID()));
    iris = TestBundles.iris();
    FileSystem fs = hdfs.fileSystem();
    fs.mkdirs(new org.apache.hadoop.fs.Path("/bundles"));
    fs.copyFromLocalFile(new org.apache.hadoop.fs.Path(iris.archive().toUri()),
        new org.apache.hadoop.fs.Path("/bundles/iris.bundle"));
    spark = TestSpark.local("local[2]", "HdfsBundlesTest");
  }

  @AfterAll
  static void stop() {
    if (spark != null) {
      spark.stop();
    }
    if (hdfs != null) {
      hdfs.close();
    }
  }

  @Test
  void scoresABundleOnHdfsPinnedByDigest() {
    String uri = hdfs.uri("/bundles/iris.bundle") + "#" + iris.digest();
    Iris.assertMatchesExpected(Sidecar.runSpark(uri, "classify", Iris.frame(spark, 2), OPTS), "");
    Iris.assertMatchesExpected(Sidecar.runSpark(uri, "classify", Iris.frame(spark, 3), OPTS), "");
  }

  @Test
  void aMissingObjectOrADirectoryIsNamed() {
    String missing = hdfs.uri("/bundles/nope.bundle");
    SidecarSparkException e = assertThrows(SidecarSparkException.class,
        () -> Sidecar.runSpark(missing, "classify", Iris.frame(spark, 2), OPTS));
    assertTrue(e.getMessage().contains(missing + ": no such object"), e.getMessage());
    e = assertThrows(SidecarSparkException.class,
        () -> Sidecar.runSpark(hdfs.uri("/bundles"), "classify", Iris.frame(spark, 2), OPTS));
    assertTrue(e.getMessage().contains("a directory, not a bundle archive"), e.getMessage());
  }

  @Test
  void aPinnedDigestThatDiffersFailsBeforeAnyTask() {
    String other = "sha256:" + "ab".repeat(32);
    SidecarSparkException e = assertThrows(SidecarSparkException.class,
        () -> Sidecar.runSpark(hdfs.uri("/bundles/iris.bundle") + "#" + other, "classify",
            Iris.frame(spark, 2), OPTS));
    assertTrue(e.getMessage().contains(other) && e.getMessage().contains(iris.digest()),
        e.getMessage());
  }

  @Test
  void pushReplacesAnObjectAtomicallyAndLeavesNoTemporaryFile() throws Exception {
    String uri = hdfs.uri("/published/models/iris.bundle");
    TestBundles.Built other = TestBundles.kinds("hdfs_push", "1.0.0");
    RemoteArchives.push(other.archive(), uri, hdfs.conf());
    RemoteArchives.push(iris.archive(), uri, hdfs.conf()); // over the existing object
    FileSystem fs = hdfs.fileSystem();
    try (InputStream in = fs.open(new org.apache.hadoop.fs.Path("/published/models/iris.bundle"))) {
      assertArrayEquals(Files.readAllBytes(iris.archive()), in.readAllBytes());
    }
    FileStatus[] left = fs.listStatus(new org.apache.hadoop.fs.Path("/published/models"));
    assertEquals(1, left.length, "only the pushed object, no temporary name left");
    assertEquals(iris.digest(), RemoteArchives.peek(uri, hdfs.conf()).digest());
    BundleException x = assertThrows(BundleException.class,
        () -> RemoteArchives.push(iris.archive(), "https://127.0.0.1:1/x.bundle", hdfs.conf()));
    assertTrue(x.getMessage().contains("read-only"), x.getMessage());
    assertFalse(fs.exists(new org.apache.hadoop.fs.Path("/x.bundle")));
  }

  @Test
  void aLocalPathStillWorksBesideUris() {
    Path p = iris.archive();
    Iris.assertMatchesExpected(Sidecar.runSpark(p.toString() + "#" + iris.digest(), "classify",
        Iris.frame(spark, 2), OPTS), "");
  }
}
