package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.spark.internal.SidecarKey;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A real multi-process cluster ({@code local-cluster[2,1,1024]}: two executor JVMs): two jobs in
 * a row; each executor's sidecar (one process per executor) serves both, as its own Stats
 * counters show, and each executor unpacks the bundle once, into its own private cache in its
 * Spark local directory.
 */
@EveryLine
class LocalClusterIT {
  private static final long N = 40_000;
  private static SparkSession spark;
  private static TestBundles.Built bundle;
  private static final RunOptions OPTS = RunOptions.builder().chunkRows(500).build();
  private static SidecarKey key;

  @BeforeAll
  static void start() throws Exception {
    String home = System.getenv("SPARK_HOME");
    assertTrue(home != null, "SPARK_HOME must be set (failsafe sets it)");
    List<Path> dirs = TestClasspath.prepareSparkHome(Path.of(home));
    bundle = TestBundles.kinds("kinds_cluster", "1.0.0");
    key = SidecarKey.of(bundle.digest(), OPTS);
    spark = TestSpark.builder("local-cluster[2,1,1024]", "LocalClusterIT")
        .config("spark.executor.extraClassPath",
            dirs.stream().map(Path::toString).collect(Collectors.joining(File.pathSeparator)))
        .config("spark.executor.extraJavaOptions", String.join(" ", TestSpark.TEST_JVM))
        // No sidecar.cache.dir and no sidecar home: each executor's own default location.
        .config("spark.executorEnv.SIDECAR_HOME", "")
        .getOrCreate();
  }

  @AfterAll
  static void stop() {
    if (spark != null) {
      spark.stop();
    }
  }

  private static void scoreAndCheck(long from) {
    Dataset<Row> df = spark.range(from, from + N, 1, 8).selectExpr("id as i64");
    Row r = Sidecar.runSpark(bundle.archive(), "i64", df, OPTS)
        .selectExpr("count(*)", "sum(case when out = i64 then 1 else 0 end)").first();
    assertEquals(N, r.getLong(0));
    assertEquals(N, r.getLong(1), "every output equals its input");
  }

  /** The probe's view per executor id, re-run until both executors answered. */
  private static Map<String, Row> probe() {
    Map<String, Row> byExecutor = new TreeMap<>();
    for (int attempt = 0; attempt < 5 && byExecutor.size() < 2; attempt++) {
      for (Row r : ExecutorProbe.run(spark, key, 12)) {
        byExecutor.put(r.getString(0), r);
      }
    }
    assertEquals(2, byExecutor.size(), "both executors answered the probe: " + byExecutor.keySet());
    return byExecutor;
  }

  @Test
  void twoJobsShareOneSidecarPerExecutorAndOneUnpack() throws IOException {
    scoreAndCheck(0);
    Map<String, Row> afterFirst = probe();
    scoreAndCheck(N);
    Map<String, Row> afterSecond = probe();

    long firstRows = 0;
    long secondRows = 0;
    int unpacks = 0;
    for (String executor : afterSecond.keySet()) {
      Row one = afterFirst.get(executor);
      Row two = afterSecond.get(executor);
      assertEquals(1, two.getInt(5), "executor " + executor + " started exactly one sidecar");
      assertTrue(!one.getString(1).isEmpty(), "executor " + executor + " ran a sidecar in job 1");
      assertEquals(one.getString(1), two.getString(1),
          "executor " + executor + ": the same sidecar instance served both jobs");
      assertEquals(one.getLong(2), two.getLong(2), "same sidecar pid");
      assertNotEquals(two.getLong(7), two.getLong(2), "the sidecar is its own process");
      assertTrue(two.getLong(3) > one.getLong(3),
          "executor " + executor + "'s sidecar served rows of job 2 too");
      assertTrue(two.getLong(4) >= 2, "streams from both jobs");
      assertEquals(1, two.getInt(6), "executor " + executor + " unpacked once, in its own cache");
      assertEquals(Path.of(two.getString(10), "sidecar").toString(), two.getString(9),
          "executor " + executor + "'s cache is in its Spark local directory");
      assertEquals("rwx------", PosixFilePermissions.toString(
          Files.getPosixFilePermissions(Path.of(two.getString(9)))), two.getString(9));
      assertTrue(two.getInt(8) <= 1, "executor " + executor + " copied the archive at most once");
      assertEquals(one.getInt(8), two.getInt(8), "job 2 copied nothing on executor " + executor);
      firstRows += one.getLong(3);
      secondRows += two.getLong(3);
      unpacks += two.getInt(6);
    }
    assertNotEquals(afterSecond.values().stream().map(r -> r.getString(1)).distinct().count(), 1L,
        "two executors, two sidecars");
    assertEquals(N, firstRows, "the sidecars' own counters add up to job 1's rows");
    assertEquals(2 * N, secondRows, "and to both jobs' rows after job 2");
    assertEquals(2, unpacks, "the bundle was unpacked once per executor, in its private cache");
  }
}
