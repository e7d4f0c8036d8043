package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.spark.RunOptions.SidecarMode;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.types.DataTypes;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link RunOptions.Builder#progressListener}: the listener hears, on the driver, the rows a
 * running task has scored (through its executor's heartbeats) and, once the tasks end, the totals
 * (through their results), summed over tasks and over every computation of the result.
 */
@EveryLine
class ProgressTest {
  private static final long ROWS = 200_000;
  private static final long HOLD_AT = 100_000;
  private static final int CHUNK_ROWS = 1000;
  /** Released by the listener once it has heard a running task's partial count. */
  private static volatile CountDownLatch partialHeard = new CountDownLatch(1);
  private static volatile boolean heldInVain;
  private static SparkSession spark;

  @BeforeAll
  static void start() {
    spark = TestSpark.builder("local[2]", "ProgressTest")
        .config("spark.executor.heartbeatInterval", "200ms").getOrCreate();
    // Row HOLD_AT of the input waits (in its task) until the driver has heard a partial count:
    // the task is then running, with the chunks before that row answered and counted.
    spark.udf().register("holdUntilProgress", (UDF1<Long, Long>) id -> {
      if (id == HOLD_AT && !partialHeard.await(120, TimeUnit.SECONDS)) {
        heldInVain = true;
      }
      return id;
    }, DataTypes.LongType);
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  @Test
  void aRunningTaskReportsItsRowsAndTheEndedTasksAddUp() throws InterruptedException {
    TestBundles.Built b = TestBundles.kinds("kinds_progress", "1.0.0");
    partialHeard = new CountDownLatch(1);
    heldInVain = false;
    ProgressRecorder recorder = new ProgressRecorder();
    RunOptions opts = RunOptions.builder().sidecarMode(SidecarMode.IN_PROCESS)
        .chunkRows(CHUNK_ROWS).chunksInFlight(2).keepInputColumns(false)
        .progressListener(p -> {
          recorder.onProgress(p);
          if (p.rowsScored() > 0 && p.rowsScored() < ROWS) {
            partialHeard.countDown();
          }
        }).build();
    Dataset<Row> df = spark.range(0, ROWS, 1, 1)
        .selectExpr("cast(holdUntilProgress(id) as float) as f32");
    assertEquals(ROWS, Sidecar.runSpark(b.archive(), "f32", df, opts).count());

    assertFalse(heldInVain, "no progress was heard while the task ran: " + recorder.heard());
    ScoringProgress done = recorder.awaitRows(ROWS);
    assertEquals(ROWS, done.rowsScored(), done.toString());
    assertEquals(ROWS / CHUNK_ROWS, done.chunksThroughSharedMemory() + done.chunksStreamed(),
        "every chunk counted once, one way or the other: " + done);
    assertTrue(done.maxChunksInFlight() >= 1 && done.maxChunksInFlight() <= 2, done.toString());
    assertTrue(done.maxRowsHeld() >= CHUNK_ROWS && done.maxRowsHeld() <= 3 * CHUNK_ROWS,
        done.toString());
  }

  @Test
  void everyComputationOfTheResultCountsAcrossTasks() throws InterruptedException {
    TestBundles.Built b = TestBundles.kinds("kinds_progress_twice", "1.0.0");
    ProgressRecorder recorder = new ProgressRecorder();
    RunOptions opts = RunOptions.builder().sidecarMode(SidecarMode.IN_PROCESS).chunkRows(500)
        .keepInputColumns(false).progressListener(recorder).build();
    Dataset<Row> scored = Sidecar.runSpark(b.archive(), "f32",
        spark.range(0, 10_000, 1, 4).selectExpr("cast(id as float) as f32"), opts);
    assertEquals(10_000, scored.count());
    assertEquals(10_000, recorder.awaitRows(10_000).rowsScored());
    assertEquals(10_000, scored.count());
    ScoringProgress twice = recorder.awaitRows(20_000);
    assertEquals(20_000, twice.rowsScored(), twice.toString());
    assertEquals(40, twice.chunksThroughSharedMemory() + twice.chunksStreamed(),
        "4 partitions of 2,500 rows in chunks of 500, twice: " + twice);
  }
}
