package dev.sidecar.spark;

import java.util.Arrays;
import java.util.List;
import org.apache.spark.sql.SparkSession;

/** SparkSessions for tests: loopback only, no UI, few shuffle partitions. */
public final class TestSpark {
  /**
   * The test JVMs' options (the parent pom's {@code test.jvm}: client compiler only, serial GC),
   * for the short-lived JVMs tests start: child drivers, executors.
   */
  public static final List<String> TEST_JVM = Arrays.stream(
      System.getProperty("sidecar.test.jvm", "").trim().split("\\s+"))
      .filter(s -> !s.isEmpty()).toList();

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
