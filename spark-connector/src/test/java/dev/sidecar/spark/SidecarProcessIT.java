package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.proto.stats.ApiStats;
import dev.sidecar.proto.stats.StatsResponse;
import dev.sidecar.spark.internal.SidecarCache;
import dev.sidecar.spark.internal.SidecarKey;
import dev.sidecar.spark.internal.SidecarRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.spark.SparkException;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Process mode on {@code local[2]}: iris through both APIs via a sidecar JVM equals the expected
 * predictions; one sidecar serves every task and later job (its own counters say so); a sidecar
 * that cannot start fails the job with its exit code and stderr; a sidecar's temporary files
 * (ONNX Runtime unpacks 22 MB of native libraries per JVM) live in a scratch directory that
 * goes away with it, however it ends.
 */
@EveryLine
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

    SidecarKey key = SidecarKey.of(iris.digest(), opts);
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

  @Test
  void aSidecarsScratchFilesGoAwayWithItEvenWhenItIsKilled() throws Exception {
    long sidecarPid = scoreAndGetSidecarPid(TestBundles.kinds("kinds_scratch", "1.0.0"));
    Path scratchRoot = SidecarCache.root().resolve("sidecar-scratch");
    List<Path> mine = scratchDirs(scratchRoot);
    assertTrue(!mine.isEmpty(), "a scratch directory per running sidecar under " + scratchRoot);
    for (Path d : mine) {
      try (Stream<Path> files = Files.walk(d)) {
        assertTrue(files.noneMatch(f -> f.getFileName().toString().startsWith("libonnxruntime")),
            d + " holds ONNX Runtime's libraries: they should come from the shared native dir");
      }
    }
    assertTrue(Files.isDirectory(SidecarCache.root().resolve("onnxruntime-native")));

    ProcessHandle sidecar = ProcessHandle.of(sidecarPid).orElseThrow();
    sidecar.destroyForcibly();
    sidecar.onExit().get(30, TimeUnit.SECONDS);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (scratchDirs(scratchRoot).size() >= mine.size() && System.nanoTime() < deadline) {
      Thread.sleep(50);
    }
    assertEquals(mine.size() - 1, scratchDirs(scratchRoot).size(),
        "the killed sidecar's scratch directory is deleted");
  }

  /**
   * The sidecar starts on its own short class path (no Spark, no Log4j: they cost its start
   * most of a second) and still logs, through the server's stderr provider, into its log file.
   */
  @Test
  void aSidecarRunsOnItsOwnClassPathAndLogsToItsLogFile() throws Exception {
    TestBundles.Built kinds = TestBundles.kinds("kinds_classpath", "1.0.0");
    long pid = scoreAndGetSidecarPid(kinds);
    String[] args = Files.readString(Path.of("/proc", Long.toString(pid), "cmdline")).split("\0");
    int cpAt = List.of(args).indexOf("-cp");
    assertTrue(cpAt >= 0, "the sidecar is started with -cp: " + List.of(args));
    List<String> cp = List.of(args[cpAt + 1].split(java.io.File.pathSeparator));
    assertTrue(cp.get(0).endsWith("sidecar-logging"), "the logging set-up comes first: " + cp);
    assertTrue(cp.stream().noneMatch(e -> e.contains("spark-core") || e.contains("scala-library")
        || e.contains("log4j-core") || e.contains("hadoop-client")), "no Spark, Scala, Hadoop or"
        + " Log4j jars: " + cp);
    assertTrue(cp.stream().anyMatch(e -> e.contains("onnxruntime")), "ONNX Runtime: " + cp);
    assertTrue(cp.size() < 120, cp.size() + " entries, the executor has "
        + System.getProperty("java.class.path").split(java.io.File.pathSeparator).length);

    Path logs = SidecarCache.root().resolve("logs");
    String self = "-" + ProcessHandle.current().pid() + "-";
    String shortDigest = kinds.digest().replace("sha256:", "").substring(0, 12);
    List<Path> mine;
    try (Stream<Path> files = Files.list(logs)) {
      mine = files.filter(f -> f.getFileName().toString().contains(self)
          && f.getFileName().toString().contains(shortDigest)).toList();
    }
    assertEquals(1, mine.size(), "one log for this sidecar in " + logs + ": " + mine);
    String log = Files.readString(mine.get(0));
    assertTrue(log.contains(" INFO ServerCore: loaded bundle kinds_classpath:1.0.0"), log);
    assertTrue(!log.contains("SLF4J"), "SLF4J found exactly one provider: " + log);
  }

  /** Scores five rows through the bundle's i64 API in a sidecar process; returns its pid. */
  private static long scoreAndGetSidecarPid(TestBundles.Built kinds) {
    Sidecar.runSpark(kinds.archive(), "i64", spark.range(5).selectExpr("id as i64"),
        RunOptions.defaults()).collectAsList();
    return SidecarRegistry.get().pid(SidecarKey.of(kinds.digest(), RunOptions.defaults()))
        .orElseThrow();
  }

  private static List<Path> scratchDirs(Path root) throws IOException {
    String prefix = ProcessHandle.current().pid() + "-";
    try (Stream<Path> dirs = Files.list(root)) {
      return dirs.filter(d -> d.getFileName().toString().startsWith(prefix)).toList();
    }
  }
}
