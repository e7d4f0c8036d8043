package dev.sidecar.spark;

import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@link LineageTest}'s check through a sidecar process. */
@Timeout(240)
class LineageIT {
  private static SparkSession spark;

  @BeforeAll
  static void start() {
    spark = TestSpark.local("local[2]", "LineageIT");
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  @Test
  void everyRowNamesTheBundleApiAndWhenItWasScoredThroughASidecarProcess() {
    LineageTest.assertLineage(spark, TestBundles.iris(),
        RunOptions.builder().chunkRows(16).lineageColumns(true).build(), "");
  }
}
