package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.bundle.BundleInfo;
import dev.sidecar.testkit.MiniHdfs;
import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * A measurement, not a check (run on demand): a bundle holding a ~500 MB model scored on
 * {@code local-cluster[2,1,1024]} from a local file (the driver verifies it and serves it to the
 * executors) and from HDFS (the driver reads the manifest only; each executor reads the archive
 * from HDFS itself). Prints the driver's peak heap (MemoryMXBean sampled every 10 ms, after a
 * GC) and the wall time of {@code runSpark(...).count()} for each, in a fresh application each
 * (executors start with empty caches). The MiniDFSCluster runs in its own JVM, so the driver
 * JVM measured hosts nothing of HDFS but its client.
 *
 * <pre>
 * mvn -B -o -pl spark-connector -am verify -DskipFuzz -Dsidecar.bench.remote=true \
 *   -Dit.test=RemoteBundleBenchIT -Dfailsafe.failIfNoSpecifiedTests=false \
 *   -Dtest=none -Dsurefire.failIfNoSpecifiedTests=false [-Dsidecar.bench.remoteMb=500]
 * </pre>
 */
@EnabledIfSystemProperty(named = "sidecar.bench.remote", matches = "true")
@Timeout(value = 40, unit = TimeUnit.MINUTES)
class RemoteBundleBenchIT {
  private static final long SEED = 7;
  private static final long ROWS = 20_000;

  @Test
  void driverHeapAndTimeLocalFileVersusHdfs() throws Exception {
    long mb = Long.getLong("sidecar.bench.remoteMb", 500);
    Path dir = TestBundles.root().resolve("remote-bench-" + mb);
    Path archive = dir.resolve("remote_bench.bundle");
    BundleInfo info = TestBundles.largeLookup("remote_bench", dir, archive, mb, SEED);
    List<Path> cp = TestClasspath.prepareSparkHome(Path.of(System.getenv("SPARK_HOME")));

    Process hdfs = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java")
        .toString(), "-Xmx1g", "-cp", System.getProperty("java.class.path"),
        MiniHdfs.class.getName(), dir.resolve("hdfs-" + UUID.randomUUID()).toString(),
        archive.toString(), "/bundles/remote_bench.bundle")
        .redirectError(ProcessBuilder.Redirect.DISCARD).start();
    try {
      String uri = null;
      BufferedReader r = new BufferedReader(new InputStreamReader(hdfs.getInputStream(),
          StandardCharsets.UTF_8));
      for (String line; (line = r.readLine()) != null; ) {
        if (line.startsWith("hdfs-uri ")) {
          uri = line.substring(9) + "/bundles/remote_bench.bundle";
          break;
        }
      }
      assertTrue(uri != null, "the MiniDFSCluster process started");
      String sizeMb = String.format(Locale.ROOT, "%.0f", Files.size(archive) / 1048576.0);
      List<String> rows = new ArrayList<>();
      rows.add(measure("local file", archive.toString(), info, cp));
      rows.add(measure("HDFS", uri + "#" + info.digest(), info, cp));
      StringBuilder t = new StringBuilder(String.format(Locale.ROOT,
          "%nBundle %s: archive %s MB, %d rows, local-cluster[2,1,1024], driver -Xmx2g%n"
              + "| source | wall time (s) | driver heap before (MB) | driver heap peak (MB) |"
              + " peak - before (MB) |%n|---|---:|---:|---:|---:|%n", info.tag(), sizeMb, ROWS));
      rows.forEach(t::append);
      System.out.println(t);
      Files.writeString(TestBundles.root().resolve("remote-bench-result.md"), t.toString());
    } finally {
      hdfs.getOutputStream().close();
      if (!hdfs.waitFor(60, TimeUnit.SECONDS)) {
        hdfs.destroyForcibly();
      }
    }
  }

  private static String measure(String source, String ref, BundleInfo info, List<Path> cp)
      throws Exception {
    SparkSession spark = TestSpark.builder("local-cluster[2,1,1024]", "RemoteBundleBenchIT")
        .config("spark.executor.extraClassPath",
            cp.stream().map(Path::toString).collect(Collectors.joining(File.pathSeparator)))
        .config("spark.executorEnv.SIDECAR_HOME", "")
        .getOrCreate();
    MemoryMXBean mem = ManagementFactory.getMemoryMXBean();
    AtomicLong peak = new AtomicLong();
    AtomicBoolean done = new AtomicBoolean();
    try {
      spark.range(0, 100, 1, 2).count(); // executors up before the clock starts
      System.gc();
      long before = mem.getHeapMemoryUsage().getUsed();
      peak.set(before);
      Thread sampler = new Thread(() -> {
        while (!done.get()) {
          peak.accumulateAndGet(mem.getHeapMemoryUsage().getUsed(), Math::max);
          try {
            Thread.sleep(10);
          } catch (InterruptedException e) {
            return;
          }
        }
      }, "heap-sampler");
      sampler.setDaemon(true);
      sampler.start();
      long t0 = System.nanoTime();
      Row row = Sidecar.runSpark(ref, "lookup",
          spark.range(0, ROWS, 1, 4).selectExpr("id as index"),
          RunOptions.builder().startTimeout(java.time.Duration.ofMinutes(10)).build())
          .selectExpr("count(*)", "count(y)").first();
      double seconds = (System.nanoTime() - t0) / 1e9;
      done.set(true);
      sampler.join();
      assertEquals(ROWS, row.getLong(0));
      assertEquals(ROWS, row.getLong(1));
      return String.format(Locale.ROOT, "| %s | %.1f | %.0f | %.0f | %.0f |%n", source, seconds,
          before / 1048576.0, peak.get() / 1048576.0, (peak.get() - before) / 1048576.0);
    } finally {
      done.set(true);
      spark.stop();
    }
  }
}
