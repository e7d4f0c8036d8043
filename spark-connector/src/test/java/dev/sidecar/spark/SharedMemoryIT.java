package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sidecar.spark.internal.SidecarKey;
import dev.sidecar.spark.internal.SidecarRegistry;
import dev.sidecar.wire.SharedMemoryFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Tasks and their sidecar process pass chunks through shared memory by default: every API of the
 * kinds bundle gives the same rows as with {@code sharedMemory(false)} (bytes on the stream),
 * no region keeps a name in /dev/shm after scoring (a name lives only while its region is being
 * registered), and a sidecar killed with -9 in the middle of a partition leaves nothing behind
 * either.
 */
class SharedMemoryIT {
  private static final AtomicBoolean KILLED = new AtomicBoolean();
  private static SparkSession spark;
  private static TestBundles.Built bundle;

  @BeforeAll
  static void start() {
    assumeTrue(SharedMemoryFiles.available(), "no POSIX shared memory under /dev/shm");
    spark = TestSpark.local("local[2,3]", "SharedMemoryIT");
    bundle = TestBundles.kinds("kinds_shm", "1.0.0");
  }

  @AfterAll
  static void stop() {
    if (spark != null) {
      spark.stop();
    }
  }

  /** This JVM's regions that still have a name in /dev/shm. */
  static long namedRegions() {
    String mine;
    try {
      mine = SharedMemoryFiles.PREFIX + SharedMemoryFiles.uid() + "-"
          + ProcessHandle.current().pid() + "-";
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    try (Stream<Path> files = Files.list(SharedMemoryFiles.ROOT)) {
      return files.filter(f -> f.getFileName().toString().startsWith(mine)).count();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  private static Dataset<Row> frame(long rows) {
    return spark.range(0, rows, 1, 3).selectExpr("id",
        "cast(id * 0.25 as float) as f32", "id * 0.5 as f64",
        "cast(id % 100 as tinyint) as i8", "cast(id % 200 as int) as u8",
        "cast(id % 30000 as smallint) as i16", "cast(id * 7 as int) as i32",
        "id * 10000000000 as i64", "id % 3 = 0 as bool", "concat('s', id) as str",
        "cast(id * 0.5 as float) as f16",
        "array(id * 1.0, id * 2.0, id * 3.0) as f32x3_arr",
        "array(cast(id as int), cast(id + 1 as int), cast(id + 2 as int)) as i64x3",
        "array(concat('x', id), '') as strx2", "array(id % 2 = 0, id % 5 = 0) as boolx2",
        "cast(id as float) as a", "id * 2 as b", "id * 0.125 as c");
  }

  @Test
  void everyApiScoresTheSameThroughSharedMemoryAsOnTheStream() throws InterruptedException {
    Dataset<Row> df = frame(5_000);
    RunOptions shm = RunOptions.builder().chunkRows(400).keepInputColumns(false).build();
    RunOptions bytes = shm.toBuilder().sharedMemory(false).build();
    List<String> fixedWidth = List.of("f32", "f64", "i8", "u8", "i16", "i32", "i64", "bool",
        "f16", "f32x3_arr", "i64x3", "boolx2", "sum");
    for (String api : List.of("f32", "f64", "i8", "u8", "i16", "i32", "i64", "bool", "str",
        "f16", "f32x3_arr", "i64x3", "strx2", "boolx2", "sum")) {
      ProgressRecorder shmProgress = new ProgressRecorder();
      List<Row> viaShm = Sidecar.runSpark(bundle.archive(), api, df,
          shm.toBuilder().progressListener(shmProgress).build()).collectAsList();
      ScoringProgress p = shmProgress.awaitRows(5_000);
      long sharedNow = p.chunksThroughSharedMemory();
      long streamedNow = p.chunksStreamed();
      if (fixedWidth.contains(api)) {
        assertTrue(sharedNow >= 13 && streamedNow == 0, api + ": " + sharedNow
            + " chunks through shared memory, " + streamedNow + " streamed");
      } else {
        assertTrue(sharedNow == 0 && streamedNow >= 13, api + " (strings in): " + sharedNow
            + " chunks through shared memory, " + streamedNow + " streamed");
      }
      ProgressRecorder bytesProgress = new ProgressRecorder();
      List<Row> viaBytes = Sidecar.runSpark(bundle.archive(), api, df,
          bytes.toBuilder().progressListener(bytesProgress).build()).collectAsList();
      ScoringProgress q = bytesProgress.awaitRows(5_000);
      assertTrue(q.chunksThroughSharedMemory() == 0 && q.chunksStreamed() >= 13, api
          + ": sharedMemory(false) sends bytes: " + q);
      assertEquals(5_000, viaShm.size());
      assertEquals(viaBytes, viaShm, api + ": the same rows either way");
    }
    assertEquals(0, namedRegions(), "no region has a name after scoring");
  }

  @Test
  void floatArraysCopiedIntoTheRegionScoreAsOnTheStream() throws InterruptedException {
    // Float arrays into float32 go from Spark's binary arrays straight into the region; the
    // identity model answers each row's array as it was sent.
    Dataset<Row> df = spark.range(0, 5_000, 1, 3).selectExpr("id", "array(cast(id * 0.25 as"
        + " float), cast(-id as float), cast(id / 3.0 as float)) as f32x3_arr");
    RunOptions shm = RunOptions.builder().chunkRows(400).build();
    ProgressRecorder progress = new ProgressRecorder();
    List<Row> viaShm = Sidecar.runSpark(bundle.archive(), "f32x3_arr", df,
        shm.toBuilder().progressListener(progress).build()).collectAsList();
    ScoringProgress p = progress.awaitRows(5_000);
    assertTrue(p.chunksThroughSharedMemory() >= 13 && p.chunksStreamed() == 0, p.toString());
    List<Row> viaBytes = Sidecar.runSpark(bundle.archive(), "f32x3_arr", df,
        shm.toBuilder().sharedMemory(false).build()).collectAsList();
    assertEquals(viaBytes, viaShm);
    assertEquals(5_000, viaShm.size());
    for (Row r : viaShm) {
      assertEquals(r.getList(1), r.getList(r.fieldIndex("out")), "row " + r.getLong(0)
          + ": the identity model's output is the input array");
    }
  }

  @Test
  void aSidecarKilledMidPartitionLeavesNoRegionBehind() throws Exception {
    RunOptions opts = RunOptions.builder().chunkRows(500).chunksInFlight(4).build();
    Dataset<Row> input = spark.range(0, 40_000, 1, 2).selectExpr("id", "id * 3 as i64");
    List<Row> clean = Sidecar.runSpark(bundle.archive(), "i64", input, opts).collectAsList();
    SidecarKey key = SidecarKey.of(bundle.digest(), opts);
    Dataset<Row> killing = input.map((MapFunction<Row, Row>) row -> {
      if (row.getLong(0) == 10_000 && TaskContext.get().attemptNumber() == 0
          && KILLED.compareAndSet(false, true)) {
        long pid = SidecarRegistry.get().pid(key)
            .orElseThrow(() -> new IllegalStateException("no sidecar to kill"));
        new ProcessBuilder("kill", "-9", Long.toString(pid)).start().waitFor();
      }
      return row;
    }, Encoders.row(input.schema()));
    List<Row> afterKill = Sidecar.runSpark(bundle.archive(), "i64", killing, opts)
        .collectAsList();
    assertTrue(KILLED.get(), "the sidecar was killed mid-partition");
    assertEquals(clean, afterKill, "output equals the clean run's");
    assertEquals(0, namedRegions(), "no region has a name after the kill");
  }

  @Test
  void anExecutorKilledMidPartitionLeavesNoRegionBehind() throws Exception {
    List<String> cmd = new java.util.ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx1g"));
    cmd.addAll(TestSpark.TEST_JVM);
    for (String a : java.lang.management.ManagementFactory.getRuntimeMXBean()
        .getInputArguments()) {
      if (a.startsWith("--add-opens") || a.startsWith("--add-exports")
          || a.startsWith("-Dsidecar.") || a.startsWith("-Djava.io.tmpdir")) {
        cmd.add(a);
      }
    }
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"),
        SharedMemoryChild.class.getName(), bundle.archive().toString()));
    Process child = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD)
        .start();
    try (var out = new java.io.BufferedReader(new java.io.InputStreamReader(
        child.getInputStream(), java.nio.charset.StandardCharsets.UTF_8))) {
      String line;
      do {
        line = out.readLine();
      } while (line != null && !line.equals("SCORING"));
      assertEquals("SCORING", line, "the child scored through its sidecar");
      List<ProcessHandle> sidecars = child.descendants().toList();
      new ProcessBuilder("kill", "-9", Long.toString(child.pid())).start().waitFor();
      child.waitFor();
      String prefix = SharedMemoryFiles.PREFIX + SharedMemoryFiles.uid() + "-" + child.pid()
          + "-";
      try (Stream<Path> files = Files.list(SharedMemoryFiles.ROOT)) {
        assertEquals(List.of(), files.map(f -> f.getFileName().toString())
            .filter(n -> n.startsWith(prefix)).toList(), "regions of the killed executor");
      }
      // Its sidecar notices the executor is gone and exits (its mappings go with it).
      for (ProcessHandle p : sidecars) {
        p.onExit().get(60, java.util.concurrent.TimeUnit.SECONDS);
      }
    } finally {
      child.destroyForcibly();
    }
  }
}
