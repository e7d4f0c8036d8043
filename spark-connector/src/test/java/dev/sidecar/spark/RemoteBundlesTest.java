package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.spark.RunOptions.SidecarMode;
import dev.sidecar.spark.internal.ConnectorRuntime;
import dev.sidecar.testkit.LoopbackHttpServer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Bundles read from URIs by a real Spark session: {@code file://}, {@code http://} and
 * {@code https://} on loopback servers started here (the HTTPS certificate is self-signed and
 * trusted through the standard {@code javax.net.ssl.trustStore} properties), digest pins, and
 * the hostile cases, each with its message.
 */
class RemoteBundlesTest {
  private static final RunOptions OPTS = RunOptions.builder()
      .sidecarMode(SidecarMode.IN_PROCESS).chunkRows(16).build();
  private static SparkSession spark;
  private static TestBundles.Built iris;
  private static LoopbackHttpServer http;
  private static LoopbackHttpServer https;
  private static javax.net.ssl.SSLContext previousTls;

  @BeforeAll
  static void start() throws Exception {
    Path keys = TestBundles.root().resolve("remote-tls");
    https = LoopbackHttpServer.https(keys);
    // The user's JVM trust configuration, nothing of ours: set before any TLS is used.
    System.setProperty("javax.net.ssl.trustStore", https.trustStore().toString());
    System.setProperty("javax.net.ssl.trustStorePassword",
        LoopbackHttpServer.TRUST_STORE_PASSWORD);
    System.setProperty("javax.net.ssl.trustStoreType", "PKCS12");
    // Another test class in this JVM may have initialised the JVM's default TLS context before
    // these properties were set (the S3 tests' SDK does); make it the one the properties name.
    // (SparkSubmitIT shows the properties alone at work, in JVMs of their own.)
    javax.net.ssl.TrustManagerFactory tmf = javax.net.ssl.TrustManagerFactory.getInstance(
        javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
    java.security.KeyStore ks = java.security.KeyStore.getInstance("PKCS12");
    try (var in = java.nio.file.Files.newInputStream(https.trustStore())) {
      ks.load(in, LoopbackHttpServer.TRUST_STORE_PASSWORD.toCharArray());
    }
    tmf.init(ks);
    javax.net.ssl.SSLContext tls = javax.net.ssl.SSLContext.getInstance("TLS");
    tls.init(null, tmf.getTrustManagers(), null);
    previousTls = javax.net.ssl.SSLContext.getDefault();
    javax.net.ssl.SSLContext.setDefault(tls);
    http = LoopbackHttpServer.http();
    iris = TestBundles.iris();
    http.serve("/iris.bundle", iris.archive());
    https.serve("/models/iris.bundle", iris.archive());
    spark = TestSpark.local("local[2]", "RemoteBundlesTest");
  }

  @AfterAll
  static void stop() {
    if (previousTls != null) {
      javax.net.ssl.SSLContext.setDefault(previousTls);
    }
    if (spark != null) {
      spark.stop();
    }
    if (http != null) {
      http.close();
    }
    if (https != null) {
      https.close();
    }
  }

  private static void assertScoresIris(String ref, RunOptions opts) {
    Iris.assertMatchesExpected(Sidecar.runSpark(ref, "classify", Iris.frame(spark, 2), opts), "");
  }

  private static String messages(Throwable t) {
    StringBuilder b = new StringBuilder();
    for (; t != null; t = t.getCause()) {
      b.append(t.getMessage()).append('\n');
    }
    return b.toString();
  }

  @Test
  void fileUriIsAPathOnTheDriver() {
    assertScoresIris(iris.archive().toUri().toString(), OPTS);
  }

  @Test
  void httpsWithTheJvmsTrustStoreAndAPinnedDigest() {
    int before = ConnectorRuntime.get().bundles().remoteFetches();
    assertScoresIris(https.url("/models/iris.bundle") + "#" + iris.digest(), OPTS);
    assertTrue(https.gets("/models/iris.bundle") >= 1);
    assertTrue(ConnectorRuntime.get().bundles().remoteFetches() - before <= 1, "copied at most once into the cache");
  }

  @Test
  void httpOnLoopbackWithThePinAsAnOption() {
    assertScoresIris(http.url("/iris.bundle"),
        OPTS.toBuilder().expectedDigest(iris.digest()).build());
  }

  @Test
  void aDigestMismatchFailsOnTheDriverNamingBothDigests() {
    String other = "sha256:" + "0".repeat(64);
    for (String ref : new String[] {http.url("/iris.bundle") + "#" + other,
        iris.archive() + "#" + other, iris.archive().toUri() + "#" + other}) {
      SidecarSparkException e = assertThrows(SidecarSparkException.class,
          () -> Sidecar.runSpark(ref, "classify", Iris.frame(spark, 2), OPTS), ref);
      assertTrue(e.getMessage().contains(other) && e.getMessage().contains(iris.digest())
          && e.getMessage().contains("digest mismatch"), e.getMessage());
    }
    SidecarSparkException e = assertThrows(SidecarSparkException.class,
        () -> Sidecar.runSpark(http.url("/iris.bundle"), "classify", Iris.frame(spark, 2),
            OPTS.toBuilder().expectedDigest(other).build()));
    assertTrue(e.getMessage().contains(other) && e.getMessage().contains(iris.digest()),
        e.getMessage());
    e = assertThrows(SidecarSparkException.class,
        () -> Sidecar.runSpark(http.url("/iris.bundle") + "#" + iris.digest(), "classify",
            Iris.frame(spark, 2), OPTS.toBuilder().expectedDigest(other).build()));
    assertTrue(e.getMessage().contains("give one digest"), e.getMessage());
    e = assertThrows(SidecarSparkException.class,
        () -> Sidecar.runSpark(http.url("/iris.bundle") + "#sha256:abc", "classify",
            Iris.frame(spark, 2), OPTS));
    assertTrue(e.getMessage().contains("64 hex digits"), e.getMessage());
  }

  @Test
  void aMissingObjectAndAForbiddenOneAreSaidSo() {
    SidecarSparkException e = assertThrows(SidecarSparkException.class,
        () -> Sidecar.runSpark(https.url("/models/nope.bundle"), "classify",
            Iris.frame(spark, 2), OPTS));
    assertTrue(e.getMessage().contains(https.url("/models/nope.bundle"))
        && e.getMessage().contains("no such object (HTTP 404)"), e.getMessage());
    http.forbid("/secret.bundle");
    e = assertThrows(SidecarSparkException.class,
        () -> Sidecar.runSpark(http.url("/secret.bundle"), "classify", Iris.frame(spark, 2),
            OPTS));
    assertTrue(e.getMessage().contains("access denied (HTTP 403)"), e.getMessage());
  }

  @Test
  void anUnknownSchemeListsTheSupportedOnes() {
    SidecarSparkException e = assertThrows(SidecarSparkException.class,
        () -> Sidecar.runSpark("nosuch://bucket/iris.bundle", "classify", Iris.frame(spark, 2),
            OPTS));
    String m = e.getMessage();
    assertTrue(m.contains("unknown scheme 'nosuch'") && m.contains("https") && m.contains("hdfs")
        && m.contains("file"), m);
  }

  @Test
  void plainHttpIsForLoopbackOnly() {
    SidecarSparkException e = assertThrows(SidecarSparkException.class,
        () -> Sidecar.runSpark("http://192.0.2.1/iris.bundle", "classify", Iris.frame(spark, 2),
            OPTS));
    assertTrue(e.getMessage().contains("loopback hosts only"), e.getMessage());
  }

  @Test
  void aTruncatedDownloadFailsWithBothCounts() throws Exception {
    Path big = TestBundles.kinds("remote_trunc", "1.0.0").archive();
    long size = Files.size(big);
    String url = http.truncatedUrl(big, size - 100);
    Exception e = assertThrows(Exception.class,
        () -> Sidecar.runSpark(url, "i64",
            spark.range(0, 10).selectExpr("id as i64"), OPTS).count());
    String m = messages(e);
    assertTrue(m.contains("truncated download: received " + (size - 100) + " of " + size)
        || m.contains("truncated or corrupt"), m);
  }

  /**
   * The executor hashes a remote archive once, as it unpacks it: an object whose manifest is
   * the planned one but whose model bytes differ, or that was cut short by a server declaring
   * the short length, fails the task naming what is wrong, and the bad copy is not kept: once
   * the object is right again, the same URL scores.
   */
  @Test
  void aDamagedObjectFailsWhereItIsUnpackedAndIsNotKept() throws Exception {
    TestBundles.Built good = TestBundles.kinds("remote_damaged", "1.0.0");
    byte[] model = dev.sidecar.testkit.OnnxModels.identity(TestBundles.INT64);
    Path altered = TestBundles.root().resolve("remote_damaged-altered.bundle");
    Files.write(altered, alterEntry(Files.readAllBytes(good.archive()), model));
    Path cut = TestBundles.root().resolve("remote_damaged-cut.bundle");
    Files.write(cut, java.util.Arrays.copyOf(Files.readAllBytes(good.archive()),
        (int) Files.size(good.archive()) - 100));
    Dataset<Row> df = spark.range(0, 20).selectExpr("id as i64");
    String url = http.url("/damaged.bundle") + "#" + good.digest();
    for (Path bad : new Path[] {altered, cut}) {
      http.serve("/damaged.bundle", bad);
      Exception e = assertThrows(Exception.class,
          () -> Sidecar.runSpark(url, "i64", df, OPTS).count(), bad.toString());
      String m = messages(e);
      assertTrue(bad == altered
          ? m.contains("id_i64.onnx") && m.contains("does not match its digest")
          : m.contains("truncated or corrupt"), m);
      assertTrue(m.contains(good.digest()), m);
    }
    http.serve("/damaged.bundle", good.archive());
    assertEquals(20L, Sidecar.runSpark(url, "i64", df, OPTS).selectExpr("sum(case when out = i64"
        + " then 1 end)").first().getLong(0), "the same URL, now right, scores");
  }

  /** The archive with one byte of {@code entry}'s content flipped; the manifest is unchanged. */
  private static byte[] alterEntry(byte[] archive, byte[] entry) throws Exception {
    byte[] tar;
    try (java.util.zip.GZIPInputStream in = new java.util.zip.GZIPInputStream(
        new java.io.ByteArrayInputStream(archive))) {
      tar = in.readAllBytes();
    }
    int at = -1;
    for (int i = 0; i + entry.length <= tar.length && at < 0; i++) {
      if (java.util.Arrays.equals(tar, i, i + entry.length, entry, 0, entry.length)) {
        at = i;
      }
    }
    assertTrue(at >= 0, "the model's bytes in the tar");
    tar[at + entry.length / 2] ^= 0x01;
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    try (java.util.zip.GZIPOutputStream gz = new java.util.zip.GZIPOutputStream(out)) {
      gz.write(tar);
    }
    return out.toByteArray();
  }

  @Test
  void anObjectReplacedAfterPlanningIsNeverScoredUnderTheOldDigest() {
    TestBundles.Built a = TestBundles.kinds("remote_swap", "1.0.0");
    TestBundles.Built b = TestBundles.kinds("remote_swap", "1.0.1");
    http.serve("/swap.bundle", a.archive());
    Dataset<Row> df = spark.range(0, 50).selectExpr("id as i64");
    Dataset<Row> planned = Sidecar.runSpark(http.url("/swap.bundle"), "i64", df,
        OPTS.toBuilder().lineageColumns(true).build());
    http.serve("/swap.bundle", b.archive());
    Exception e = assertThrows(Exception.class, planned::count);
    String m = messages(e);
    assertTrue(m.contains("changed after the driver read it") && m.contains(a.digest())
        && m.contains(b.digest()), m);
    // Planned again, the new object is scored, under its own digest.
    Row r = Sidecar.runSpark(http.url("/swap.bundle"), "i64", df,
        OPTS.toBuilder().lineageColumns(true).build())
        .selectExpr("count(*)", "min(sidecar_digest)", "sum(case when out = i64 then 1 end)")
        .first();
    assertEquals(50L, r.getLong(0));
    assertEquals(b.digest(), r.getString(1));
    assertEquals(50L, r.getLong(2));
  }
}
