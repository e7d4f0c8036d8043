package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.bundle.BundleException;
import dev.sidecar.spark.RunOptions.SidecarMode;
import dev.sidecar.spark.internal.ConnectorRuntime;
import dev.sidecar.spark.internal.RemoteArchives;
import dev.sidecar.testkit.S3Server;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.nio.file.Files;
import java.util.Arrays;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Bundles on a real S3 API server (testkit's S3Server, S3Proxy on loopback) scored by a real
 * Spark session through the s3a connector, configured only as a cluster is
 * ({@code spark.hadoop.fs.s3a.*}, per-bucket keys): nothing of sidecar's to configure. Pins,
 * push, and the hostile cases, each with its message.
 */
@Tag("s3")
@Timeout(300)
class S3BundlesTest {
  private static final RunOptions OPTS = RunOptions.builder()
      .sidecarMode(SidecarMode.IN_PROCESS).chunkRows(16).build();
  private static S3Server s3;
  private static SparkSession spark;
  private static TestBundles.Built iris;
  private static String irisUri;

  @BeforeAll
  static void start() throws Exception {
    s3 = S3Server.start();
    spark = S3aFixtureTest.withS3a(TestSpark.builder("local[2]", "S3BundlesTest"),
        s3.s3aConfiguration()).getOrCreate();
    iris = TestBundles.iris();
    irisUri = s3.uri("models/iris.bundle");
    put(irisUri, Files.readAllBytes(iris.archive()), conf());
  }

  @AfterAll
  static void stop() {
    try {
      if (spark != null) {
        spark.stop();
      }
    } finally {
      if (s3 != null) {
        s3.close();
      }
    }
  }

  private static Configuration conf() {
    return spark.sparkContext().hadoopConfiguration();
  }

  /** Writes an object through s3a, as any tool of the cluster would. */
  private static void put(String uri, byte[] bytes, Configuration conf) throws Exception {
    try (FileSystem fs = FileSystem.newInstance(URI.create(uri), conf);
        OutputStream out = fs.create(new Path(uri))) {
      out.write(bytes);
    }
  }

  private static String messages(Throwable t) {
    StringBuilder b = new StringBuilder();
    for (; t != null; t = t.getCause()) {
      b.append(t.getMessage()).append('\n');
    }
    return b.toString();
  }

  private static SidecarSparkException fails(String ref) {
    return assertThrows(SidecarSparkException.class,
        () -> Sidecar.runSpark(ref, "classify", Iris.frame(spark, 2), OPTS).count(), ref);
  }

  @Test
  void scoresABundleOnS3EqualToTheExpectedPredictions() {
    int before = ConnectorRuntime.get().bundles().remoteFetches();
    Iris.assertMatchesExpected(Sidecar.runSpark(irisUri, "classify", Iris.frame(spark, 3), OPTS),
        "");
    Iris.assertMatchesExpected(Sidecar.runSpark(irisUri + "#" + iris.digest(), "classify_tensor",
        Iris.withFeatureArray(Iris.frame(spark, 2)), OPTS), "");
    assertTrue(ConnectorRuntime.get().bundles().remoteFetches() - before <= 1, "copied at most once into the cache");
  }

  @Test
  void aPinnedDigestThatDiffersNamesBothDigests() {
    String other = "sha256:" + "5e".repeat(32);
    String m = fails(irisUri + "#" + other).getMessage();
    assertTrue(m.contains(irisUri) && m.contains("digest mismatch") && m.contains(other)
        && m.contains(iris.digest()), m);
  }

  @Test
  void aMissingObjectIsNamed() {
    String missing = s3.uri("models/nope.bundle");
    String m = fails(missing).getMessage();
    assertTrue(m.contains(missing + ": no such object"), m);
    String noBucket = "s3a://no-such-bucket-" + s3.bucket() + "/iris.bundle";
    m = fails(noBucket).getMessage();
    assertTrue(m.contains(noBucket), m);
  }

  @Test
  void aWrongSecretIsAccessDeniedNamingTheUri() throws Exception {
    String bucket = s3.createBucket();
    String uri = "s3a://" + bucket + "/iris.bundle";
    put(uri, Files.readAllBytes(iris.archive()), conf());
    // The cluster's keys for this bucket are wrong (s3a's per-bucket configuration).
    conf().set("fs.s3a.bucket." + bucket + ".secret.key", "wrong-" + s3.secretKey());
    SidecarSparkException e = fails(uri);
    String m = e.getMessage();
    assertTrue(m.contains(uri) && m.contains("access denied"), m);
    assertTrue(m.length() < 1000 && !m.contains("\tat "), "a message, not a stack dump: " + m);
  }

  @Test
  void noCredentialsIsSaidSo() throws Exception {
    String bucket = s3.createBucket();
    String uri = "s3a://" + bucket + "/iris.bundle";
    put(uri, Files.readAllBytes(iris.archive()), conf());
    conf().set("fs.s3a.bucket." + bucket + ".access.key", "");
    conf().set("fs.s3a.bucket." + bucket + ".secret.key", "");
    SidecarSparkException e = fails(uri);
    String m = e.getMessage();
    assertTrue(m.contains(uri) && m.contains("no credentials for s3a://"), m);
    assertTrue(m.length() < 1000 && !m.contains("\tat "), "a message, not a stack dump: " + m);
  }

  @Test
  void aTruncatedObjectIsRefused() throws Exception {
    byte[] whole = Files.readAllBytes(iris.archive());
    for (int keep : new int[] {whole.length / 2, whole.length - 100, 100}) {
      String uri = s3.uri("truncated/" + keep + ".bundle");
      put(uri, Arrays.copyOf(whole, keep), conf());
      Exception e = assertThrows(Exception.class,
          () -> Sidecar.runSpark(uri, "classify", Iris.frame(spark, 2), OPTS).count(), uri);
      String m = messages(e);
      assertTrue(m.contains(uri) && m.contains("truncated"), m);
    }
    // The truncated copies have the bundle's manifest, so its digest: none may have been cached
    // under it. A whole copy of the same bundle at a new URI scores.
    String whole2 = s3.uri("truncated/fixed.bundle");
    put(whole2, whole, conf());
    Iris.assertMatchesExpected(Sidecar.runSpark(whole2, "classify", Iris.frame(spark, 2), OPTS),
        "");
  }

  @Test
  void pushWritesTheObjectWholeThenRunSparkReadsIt() throws Exception {
    String uri = s3.uri("published/iris.bundle");
    TestBundles.Built other = TestBundles.kinds("s3_push", "1.0.0");
    RemoteArchives.push(other.archive(), uri, conf());
    RemoteArchives.push(iris.archive(), uri, conf()); // over the existing object
    try (FileSystem fs = FileSystem.newInstance(URI.create(uri), conf());
        InputStream in = fs.open(new Path(uri))) {
      assertArrayEquals(Files.readAllBytes(iris.archive()), in.readAllBytes());
      FileStatus[] left = fs.listStatus(new Path(s3.uri("published")));
      assertEquals(1, left.length, "only the pushed object, no temporary name left: "
          + Arrays.toString(left));
    }
    Iris.assertMatchesExpected(Sidecar.runSpark(uri + "#" + iris.digest(), "classify",
        Iris.frame(spark, 2), OPTS), "");
  }

  @Test
  void pushWithAWrongSecretNamesTheUriAndLeavesNothing() throws Exception {
    String bucket = s3.createBucket();
    String uri = "s3a://" + bucket + "/iris.bundle";
    Configuration wrong = new Configuration(conf());
    wrong.set("fs.s3a.secret.key", "wrong-" + s3.secretKey());
    BundleException e = assertThrows(BundleException.class,
        () -> RemoteArchives.push(iris.archive(), uri, wrong));
    assertTrue(e.getMessage().contains(uri) && e.getMessage().contains("access denied"),
        e.getMessage());
    try (FileSystem fs = FileSystem.newInstance(URI.create(uri), conf())) {
      assertEquals(0, fs.listStatus(new Path("s3a://" + bucket + "/")).length);
    }
  }
}
