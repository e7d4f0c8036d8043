package dev.sidecar.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.apache.spark.sql.SparkSession;

/** The benchmark's Spark session (loopback only, no UI) and a one-line description of the machine. */
final class BenchSpark {
  private BenchSpark() {}

  static SparkSession session(String master) {
    return SparkSession.builder()
        .appName("sidecar-benchmark")
        .master(master)
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.adaptive.enabled", "false")
        .getOrCreate();
  }

  /** cores, CPU model, memory, Java version. */
  static String machine() {
    String cpu = "unknown CPU";
    long memKb = -1;
    try {
      for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"), StandardCharsets.US_ASCII)) {
        if (line.startsWith("model name")) {
          cpu = line.substring(line.indexOf(':') + 1).trim();
          break;
        }
      }
      for (String line : Files.readAllLines(Path.of("/proc/meminfo"), StandardCharsets.US_ASCII)) {
        if (line.startsWith("MemTotal:")) {
          memKb = Long.parseLong(line.replaceAll("[^0-9]", ""));
          break;
        }
      }
    } catch (IOException | RuntimeException e) {
      // not Linux: leave the defaults
    }
    return String.format(Locale.ROOT, "%d cores, %s, %s GB RAM, Java %s, max heap %d MB",
        Runtime.getRuntime().availableProcessors(), cpu,
        memKb < 0 ? "?" : String.format(Locale.ROOT, "%.1f", memKb / 1048576.0),
        System.getProperty("java.version"), Runtime.getRuntime().maxMemory() >> 20);
  }
}
