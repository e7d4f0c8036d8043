package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.spark.internal.SidecarKey;
import dev.sidecar.spark.internal.SidecarRegistry;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.spark.ExceptionFailure;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapFunction;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The sidecar process is killed in the middle of a partition: the task fails with a message
 * that carries the sidecar's exit code and stderr tail, the retry starts a fresh sidecar, and the
 * job's output equals a clean run's row for row.
 */
@EveryLine
class SidecarKillIT {
  private static final AtomicBoolean KILLED = new AtomicBoolean();
  private static SparkSession spark;
  private static TestBundles.Built bundle;
  private static final List<String> FAILURES = new CopyOnWriteArrayList<>();

  @BeforeAll
  static void start() {
    spark = TestSpark.local("local[2,3]", "SidecarKillIT");
    spark.sparkContext().addSparkListener(new SparkListener() {
      @Override
      public void onTaskEnd(SparkListenerTaskEnd end) {
        if (end.reason() instanceof ExceptionFailure) {
          FAILURES.add(((ExceptionFailure) end.reason()).toErrorString());
        }
      }
    });
    bundle = TestBundles.kinds("kinds_kill", "1.0.0");
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  @Test
  void killedSidecarIsReplacedAndOutputIsUnchanged() throws Exception {
    RunOptions opts = RunOptions.builder().chunkRows(1000).chunksInFlight(4).build();
    Dataset<Row> input = spark.range(0, 60_000, 1, 2).selectExpr("id", "id * 3 as i64");
    List<Row> clean = Sidecar.runSpark(bundle.archive(), "i64", input, opts).collectAsList();
    SidecarKey key = SidecarKey.of(bundle.digest(), opts);
    assertEquals(1, SidecarRegistry.get().starts(key));

    Dataset<Row> killing = input.map((MapFunction<Row, Row>) row -> {
      if (row.getLong(0) == 20_000 && TaskContext.get().attemptNumber() == 0
          && KILLED.compareAndSet(false, true)) {
        long pid = SidecarRegistry.get().pid(key)
            .orElseThrow(() -> new IllegalStateException("no sidecar to kill"));
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
      }
      return row;
    }, Encoders.row(input.schema()));
    List<Row> afterKill = Sidecar.runSpark(bundle.archive(), "i64", killing, opts).collectAsList();

    assertTrue(KILLED.get(), "the sidecar was killed mid-partition");
    assertEquals(clean, afterKill, "output equals the clean run's, row for row");
    assertTrue(SidecarRegistry.get().starts(key) >= 2, "a fresh sidecar was started");
    for (int i = 0; i < 100 && FAILURES.isEmpty(); i++) {
      Thread.sleep(100); // the listener bus delivers task ends asynchronously
    }
    assertFalse(FAILURES.isEmpty(), "a task failed");
    String failure = FAILURES.get(0);
    assertTrue(failure.contains("the stream to the sidecar failed")
        || failure.contains("sidecar"), failure);
    assertTrue(failure.contains("exit code 137"), failure);
    assertTrue(failure.contains("last stderr lines"), failure);
  }
}
