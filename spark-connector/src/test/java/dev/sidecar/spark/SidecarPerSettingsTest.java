package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.sidecar.spark.RunOptions.SidecarMode;
import dev.sidecar.spark.internal.SidecarKey;
import dev.sidecar.spark.internal.SidecarRegistry;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A sidecar is keyed by everything that shapes it: runs on one session with different sidecar
 * settings get their own sidecars, runs with the same settings share one.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class SidecarPerSettingsTest {
  private static final RunOptions ONE_THREAD = RunOptions.builder()
      .sidecarMode(SidecarMode.IN_PROCESS).sidecarIntraOpThreads(1).build();
  private static final RunOptions TWO_THREADS = ONE_THREAD.toBuilder()
      .sidecarIntraOpThreads(2).build();
  private static SparkSession spark;

  @BeforeAll
  static void start() {
    spark = TestSpark.local("local[2]", "SidecarPerSettingsTest");
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  private static void score(TestBundles.Built b, RunOptions options) {
    assertEquals(10, Sidecar.runSpark(b.archive(), "i64",
        spark.range(0, 10, 1, 2).selectExpr("id as i64"), options).count());
  }

  @Test
  void differentIntraOpThreadsGetTwoSidecars() {
    TestBundles.Built b = TestBundles.kinds("kinds_two_settings", "1.0.0");
    score(b, ONE_THREAD);
    score(b, TWO_THREADS);
    SidecarKey one = SidecarKey.of(b.digest(), ONE_THREAD);
    SidecarKey two = SidecarKey.of(b.digest(), TWO_THREADS);
    assertEquals(1, SidecarRegistry.get().starts(one), "one sidecar with 1 intra-op thread");
    assertEquals(1, SidecarRegistry.get().starts(two), "one sidecar with 2 intra-op threads");
    assertNotEquals(SidecarRegistry.get().stats(one).orElseThrow().getInstanceId(),
        SidecarRegistry.get().stats(two).orElseThrow().getInstanceId(), "two distinct sidecars");
  }

  @Test
  void sameSettingsShareOneSidecar() {
    TestBundles.Built b = TestBundles.kinds("kinds_same_settings", "1.0.0");
    score(b, ONE_THREAD);
    score(b, ONE_THREAD.toBuilder().outputPrefix("again_").build());
    assertEquals(1, SidecarRegistry.get().starts(SidecarKey.of(b.digest(), ONE_THREAD)),
        "settings that do not shape the sidecar share it");
  }

  @Test
  void everySidecarSettingIsInTheKey() {
    RunOptions base = RunOptions.defaults();
    String d = "sha256:" + "0".repeat(64);
    assertEquals(SidecarKey.of(d, base), SidecarKey.of(d, base.toBuilder()
        .outputPrefix("x_").keepInputColumns(false).build()));
    for (RunOptions other : List.of(
        base.toBuilder().sidecarJvmOptions(List.of("-Xmx512m")).build(),
        base.toBuilder().sidecarIntraOpThreads(3).build(),
        base.toBuilder().sidecarMode(SidecarMode.IN_PROCESS).build(),
        base.toBuilder().chunkRows(100_000).build(),
        base.toBuilder().chunksInFlight(9).build())) {
      assertNotEquals(SidecarKey.of(d, base), SidecarKey.of(d, other), other.toString());
    }
  }
}
