package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.spark.RunOptions.SidecarMode;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * One partition of five million rows is streamed through the sidecar while the scorer never
 * holds more than {@code chunksInFlight + 1} chunks of rows or has more than
 * {@code chunksInFlight} requests unanswered.
 */
@EveryLine
class BoundedMemoryTest {
  private static final long ROWS = 5_000_000L;
  private static SparkSession spark;

  @BeforeAll
  static void start() {
    spark = TestSpark.local("local[2]", "BoundedMemoryTest");
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  @Test
  void fiveMillionRowsInOnePartition() throws InterruptedException {
    TestBundles.Built b = TestBundles.kinds("kinds_bounded", "1.0.0");
    ProgressRecorder progress = new ProgressRecorder();
    RunOptions opts = RunOptions.builder().sidecarMode(SidecarMode.IN_PROCESS)
        .chunkRows(8192).chunksInFlight(4).keepInputColumns(false).progressListener(progress)
        .build();
    scoreIdsAndCheck(b, opts, ROWS, 1);
    ScoringProgress p = progress.awaitRows(ROWS);
    assertTrue(p.maxChunksInFlight() <= 4, "requests in flight: " + p);
    assertTrue(p.maxChunksInFlight() >= 2, "the stream was pipelined: " + p);
    assertTrue(p.maxRowsHeld() <= 5L * 8192, "rows held: " + p);
  }

  /**
   * Two tasks stream the largest automatic chunks (65,536 four-byte rows) four at a time: more
   * rows in flight than a server queues by default (262,144). The connector sizes its
   * sidecar's queue for what its tasks can send, so nothing is refused as overload.
   */
  @Test
  void concurrentTasksWithLargeAutomaticChunksAreNeverRefusedAsOverload()
      throws InterruptedException {
    TestBundles.Built b = TestBundles.kinds("kinds_queue", "1.0.0");
    ProgressRecorder progress = new ProgressRecorder();
    RunOptions opts = RunOptions.builder().sidecarMode(SidecarMode.IN_PROCESS)
        .chunksInFlight(4).keepInputColumns(false).progressListener(progress).build();
    scoreIdsAndCheck(b, opts, 2_000_000L, 2);
    ScoringProgress p = progress.awaitRows(2_000_000L);
    assertTrue(p.maxRowsHeld() > 65536, "automatic chunks of 65,536 rows were used: " + p);
  }

  /**
   * Scores ids 0..rows-1 (as float32, in {@code partitions} partitions) through the identity API
   * and checks the count and the sum of the outputs.
   */
  private static void scoreIdsAndCheck(TestBundles.Built b, RunOptions opts, long rows,
      int partitions) {
    Dataset<Row> df = spark.range(0, rows, 1, partitions).selectExpr("cast(id as float) as f32");
    Row totals = Sidecar.runSpark(b.archive(), "f32", df, opts)
        .selectExpr("count(*)", "sum(cast(out as double))").first();
    assertEquals(rows, totals.getLong(0));
    assertEquals((double) rows * (rows - 1) / 2, totals.getDouble(1), 0.0);
  }
}
