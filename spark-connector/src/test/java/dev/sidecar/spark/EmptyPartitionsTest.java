package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sidecar.spark.RunOptions.SidecarMode;
import dev.sidecar.spark.internal.ConnectorRuntime;
import dev.sidecar.spark.internal.SidecarKey;
import dev.sidecar.spark.internal.SidecarRegistry;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Empty partitions start no sidecar and unpack nothing; partitions with rows still score. */
@EveryLine
class EmptyPartitionsTest {
  private static SparkSession spark;
  private static final RunOptions OPTS = RunOptions.builder()
      .sidecarMode(SidecarMode.IN_PROCESS).build();

  @BeforeAll
  static void start() {
    spark = TestSpark.local("local[2]", "EmptyPartitionsTest");
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  @Test
  void onlyEmptyPartitionsStartNothing() {
    TestBundles.Built b = TestBundles.kinds("kinds_empty", "1.0.0");
    Dataset<Row> empty = spark.range(0, 100, 1, 8).where("id < 0").selectExpr("id as i64");
    assertEquals(8, empty.rdd().getNumPartitions());
    assertEquals(0, Sidecar.runSpark(b.archive(), "i64", empty, OPTS).count());
    SidecarKey key = SidecarKey.of(b.digest(), OPTS);
    assertEquals(0, SidecarRegistry.get().starts(key), "no sidecar started");
    assertEquals(0, ConnectorRuntime.get().bundles().unpacks(b.digest()), "nothing unpacked");
  }

  @Test
  void emptyAndNonEmptyPartitionsMix() {
    TestBundles.Built b = TestBundles.kinds("kinds_mixed", "1.0.0");
    Dataset<Row> some = spark.range(0, 40, 1, 4).where("id < 5 or id = 39").selectExpr("id as i64");
    List<Row> rows = Sidecar.runSpark(b.archive(), "i64", some, OPTS).orderBy("i64")
        .collectAsList();
    assertEquals(6, rows.size());
    for (Row r : rows) {
      assertEquals(r.getLong(0), r.getLong(1));
    }
    assertEquals(1, SidecarRegistry.get().starts(SidecarKey.of(b.digest(), OPTS)),
        "one sidecar served both non-empty partitions");
  }
}
