package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.proto.stats.ApiStats;
import dev.sidecar.proto.stats.StatsResponse;
import dev.sidecar.spark.RunOptions.SidecarMode;
import dev.sidecar.spark.internal.SidecarKey;
import dev.sidecar.spark.internal.SidecarRegistry;
import java.util.List;
import org.apache.spark.SparkException;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Process mode on {@code local[2]}: iris through both APIs via a sidecar JVM equals the expected
 * predictions; one sidecar serves every task and later job (its own counters say so); a sidecar
 * that cannot start fails the job with its exit code and stderr.
 */
class SidecarProcessIT {
  private static SparkSession spark;
  private static TestBundles.Built iris;

  @BeforeAll
  static void start() {
    spark = TestSpark.local("local[2]", "SidecarProcessIT");
    iris = TestBundles.iris();
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  @Test
  void irisThroughBothApisWithOneSidecarProcess() {
    RunOptions opts = RunOptions.builder().chunkRows(32).build();
    Iris.assertMatchesExpected(Sidecar.runSpark(iris.archive(), "classify", Iris.frame(spark, 3),
        opts), "");
    Iris.assertMatchesExpected(Sidecar.runSpark(iris.archive(), "classify_tensor",
        Iris.withFeatureArray(Iris.frame(spark, 2)), opts), "");
    Iris.assertMatchesExpected(Sidecar.runSpark(iris.archive(), "classify_tensor",
        Iris.withFeatureVector(Iris.frame(spark, 2)), opts), "");

    SidecarKey key = new SidecarKey(iris.digest(), SidecarMode.PROCESS);
    assertEquals(1, SidecarRegistry.get().starts(key), "one sidecar for all three jobs");
    StatsResponse stats = SidecarRegistry.get().stats(key).orElseThrow();
    assertNotEquals(ProcessHandle.current().pid(), stats.getPid(), "a separate process");
    assertEquals(iris.digest(), stats.getBundleDigest());
    long rows = stats.getApisList().stream().mapToLong(ApiStats::getRows).sum();
    assertEquals(3 * 150, rows, "the sidecar's own counters: three jobs of 150 rows");
    assertTrue(stats.getStreamsOpened() >= 3, "one stream per non-empty partition");
  }

  @Test
  void sidecarThatCannotStartReportsExitCodeAndStderr() {
    TestBundles.Built kinds = TestBundles.kinds("kinds_nostart", "1.0.0");
    RunOptions bad = RunOptions.builder()
        .sidecarJvmOptions(List.of("-XX:+ThisOptionDoesNotExist")).build();
    SparkException e = assertThrows(SparkException.class, () -> Sidecar.runSpark(
        kinds.archive(), "i64", spark.range(5).selectExpr("id as i64"), bad).collectAsList());
    String m = e.getMessage();
    assertTrue(m.contains("failed to start"), m);
    assertTrue(m.contains("exit code 1"), m);
    assertTrue(m.contains("ThisOptionDoesNotExist"), m);
  }
}
