package dev.sidecar.spark;

import org.apache.spark.sql.SparkSession;

/** SparkSessions for tests: loopback only, no UI, few shuffle partitions. */
public final class TestSpark {
  private TestSpark() {
  }

  public static SparkSession.Builder builder(String master, String app) {
    return SparkSession.builder()
        .master(master)
        .appName(app)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.adaptive.enabled", "false");
  }

  public static SparkSession local(String master, String app) {
    return builder(master, app).getOrCreate();
  }
}
