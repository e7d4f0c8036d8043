package dev.sidecar.spark.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sidecar.proto.inference.GRPCInferenceServiceGrpc;
import dev.sidecar.proto.inference.SystemSharedMemoryUnregisterRequest;
import dev.sidecar.proto.stats.ApiStats;
import dev.sidecar.proto.stats.StatsResponse;
import dev.sidecar.spark.RunOptions;
import dev.sidecar.spark.Sidecar;
import dev.sidecar.spark.TestBundles;
import dev.sidecar.spark.TestSpark;
import dev.sidecar.wire.SharedMemoryFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.spark.api.java.function.MapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The shared-memory regions of a sidecar are kept per executor ({@link SharedMemoryPool}) with a
 * real Spark, real sidecar processes and real regions: consecutive jobs reuse the regions the
 * first one registered (counted by the sidecar); a task that fails with chunks in flight
 * discards their regions instead of giving them back; a sidecar that is replaced takes its
 * pool with it and the next tasks register fresh regions with the new one; regions left free
 * past the trim time are dropped at the next borrow, and those the sidecar no longer holds
 * (its connection was replaced) are replaced by fresh ones; closing the runtime unmaps every region
 * of this JVM (read from /proc/self/maps).
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class SharedMemoryPoolIT {
  private static final int IN_FLIGHT = 4;
  private static SparkSession spark;

  @BeforeAll
  static void start() {
    assumeTrue(SharedMemoryFiles.available(), "no POSIX shared memory under /dev/shm");
    spark = TestSpark.local("local[2]", "SharedMemoryPoolIT");
  }

  @AfterAll
  static void stop() {
    if (spark != null) {
      spark.stop();
    }
  }

  private static RunOptions options() {
    return RunOptions.builder().chunkRows(500).chunksInFlight(IN_FLIGHT).build();
  }

  /** One partition: one task at a time, so a job needs exactly {@code IN_FLIGHT} regions. */
  private static Dataset<Row> input(long rows) {
    return spark.range(0, rows, 1, 1).selectExpr("id", "id * 3 as i64");
  }

  private static List<Row> score(TestBundles.Built bundle, Dataset<Row> in) {
    return Sidecar.runSpark(bundle.archive(), "i64", in, options()).collectAsList();
  }

  private static StatsResponse stats(SidecarKey key) {
    return ConnectorRuntime.get().sidecars().stats(key)
        .orElseThrow(() -> new AssertionError("no sidecar running for " + key));
  }

  /** Batches of API i64 whose input the sidecar read from a region. */
  private static long sharedInputs(StatsResponse s) {
    for (ApiStats a : s.getApisList()) {
      if (a.getApi().equals("i64")) {
        return a.getShmInputsInPlace() + a.getShmInputsCopied();
      }
    }
    return 0;
  }

  private static SharedMemoryPool pool(SidecarKey key) {
    return ConnectorRuntime.get().sidecars().regions(key)
        .orElseThrow(() -> new AssertionError("no pool for " + key));
  }

  /** The names of the shared-memory regions mapped in this JVM now. */
  private static Set<String> mappedRegions() throws IOException {
    String prefix = SharedMemoryFiles.ROOT + "/" + SharedMemoryFiles.PREFIX;
    Set<String> names = new HashSet<>();
    for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
      int at = line.indexOf(prefix);
      if (at >= 0) {
        String name = line.substring(at + SharedMemoryFiles.ROOT.toString().length() + 1);
        int space = name.indexOf(' ');
        names.add(space < 0 ? name : name.substring(0, space));
      }
    }
    return names;
  }

  @Test
  void consecutiveJobsReuseTheRegionsTheFirstRegistered() throws IOException {
    TestBundles.Built bundle = TestBundles.kinds("kinds_pool_reuse", "1.0.0");
    SidecarKey key = SidecarKey.of(bundle.digest(), options());
    List<Row> first = score(bundle, input(20_000));
    StatsResponse afterFirst = stats(key);
    assertEquals(IN_FLIGHT, afterFirst.getShmRegionsRegistered(),
        "the first job registered one region per chunk in flight");
    SharedMemoryPool pool = pool(key);
    Set<String> names = pool.names();
    assertEquals(IN_FLIGHT, names.size());
    assertEquals(IN_FLIGHT, pool.idle(), "given back when the task ended");
    assertTrue(mappedRegions().containsAll(names), "kept mapped between jobs");

    long shared = sharedInputs(afterFirst);
    assertTrue(shared > 0, "the first job's chunks went through shared memory");
    for (int job = 2; job <= 3; job++) {
      assertEquals(first, score(bundle, input(20_000)), "job " + job + " scores the same");
      StatsResponse now = stats(key);
      assertEquals(afterFirst.getInstanceId(), now.getInstanceId(), "the same sidecar");
      assertEquals(IN_FLIGHT, now.getShmRegionsRegistered(),
          "job " + job + " registered no region: it reused the first job's");
      assertEquals(IN_FLIGHT, now.getShmRegions());
      assertTrue(sharedInputs(now) > shared, "job " + job + "'s chunks went through shared"
          + " memory (batches read from a region: " + shared + " before, "
          + sharedInputs(now) + " after)");
      shared = sharedInputs(now);
      assertEquals(names, pool.names());
      assertEquals(IN_FLIGHT, pool.registrations());
    }
  }

  @Test
  void aTaskFailingWithChunksInFlightDoesNotGiveTheirRegionsBack() throws IOException {
    TestBundles.Built bundle = TestBundles.kinds("kinds_pool_fail", "1.0.0");
    SidecarKey key = SidecarKey.of(bundle.digest(), options());
    List<Row> clean = score(bundle, input(20_000));
    SharedMemoryPool pool = pool(key);
    Set<String> before = pool.names();
    assertEquals(IN_FLIGHT, before.size());

    // The task fails downstream of the scorer at row 3,000: chunks of 500 rows after the one
    // being read are in flight (sent, maybe not answered), and the sidecar may still write them.
    Dataset<Row> scored = Sidecar.runSpark(bundle.archive(), "i64", input(20_000), options());
    Dataset<Row> failing = scored.map((MapFunction<Row, Row>) row -> {
      if (row.getLong(0) == 3_000) {
        throw new IllegalStateException("failing the task on purpose at row 3000");
      }
      return row;
    }, Encoders.row(scored.schema()));
    Exception e = assertThrows(Exception.class, failing::collectAsList);
    assertTrue(String.valueOf(e.getMessage()).contains("on purpose"), String.valueOf(e));

    Set<String> kept = pool.names();
    assertTrue(before.containsAll(kept), "no new region yet: " + kept);
    assertEquals(0, kept.size(), "all " + IN_FLIGHT + " regions were lent to chunks in flight"
        + " when the task failed: none is lent again; kept " + kept);
    Set<String> mapped = mappedRegions();
    for (String n : before) {
      assertFalse(mapped.contains(n), n + " is unmapped here");
    }

    assertEquals(clean, score(bundle, input(20_000)), "the next job scores the same");
    Set<String> fresh = pool.names();
    assertEquals(IN_FLIGHT, fresh.size());
    for (String n : fresh) {
      assertFalse(before.contains(n), "the next job registered fresh regions: " + n);
    }
    assertEquals(2L * IN_FLIGHT, stats(key).getShmRegionsRegistered());
  }

  @Test
  void aReplacedSidecarTakesItsRegionsAndTheNewOneGetsFreshOnes() throws Exception {
    TestBundles.Built bundle = TestBundles.kinds("kinds_pool_restart", "1.0.0");
    SidecarKey key = SidecarKey.of(bundle.digest(), options());
    List<Row> clean = score(bundle, input(10_000));
    SharedMemoryPool oldPool = pool(key);
    Set<String> oldNames = oldPool.names();
    assertEquals(IN_FLIGHT, oldNames.size());
    long pid = ConnectorRuntime.get().sidecars().pid(key).orElseThrow();
    ProcessHandle old = ProcessHandle.of(pid).orElseThrow();
    new ProcessBuilder("kill", "-9", Long.toString(pid)).start().waitFor();
    old.onExit().get(60, TimeUnit.SECONDS);

    assertEquals(clean, score(bundle, input(10_000)), "scores the same on a fresh sidecar");
    long pid2 = ConnectorRuntime.get().sidecars().pid(key).orElseThrow();
    assertNotEquals(pid, pid2);
    assertTrue(oldPool.isClosed(), "the old sidecar's pool is closed");
    assertEquals(0, oldPool.size());
    Set<String> mapped = mappedRegions();
    for (String n : oldNames) {
      assertFalse(mapped.contains(n), n + " (the dead sidecar's) is unmapped here");
    }
    SharedMemoryPool newPool = pool(key);
    assertNotSame(oldPool, newPool);
    assertEquals(IN_FLIGHT, newPool.registrations());
    assertEquals(IN_FLIGHT, stats(key).getShmRegionsRegistered(),
        "the new sidecar got its own regions");
    for (String n : newPool.names()) {
      assertFalse(oldNames.contains(n), n);
    }
  }

  @Test
  void regionsFreeLongerThanTheTrimTimeAreDroppedAtTheNextBorrow() throws IOException {
    TestBundles.Built bundle = TestBundles.kinds("kinds_pool_trim", "1.0.0");
    SidecarKey key = SidecarKey.of(bundle.digest(), options());
    score(bundle, input(10_000));
    SharedMemoryPool pool = pool(key);
    Set<String> i64Regions = pool.names();
    assertEquals(IN_FLIGHT, i64Regions.size());
    pool.trimAfter(Duration.ZERO);

    // API f32 on the same sidecar: 4-byte rows, so regions of another size.
    List<Row> f32 = Sidecar.runSpark(bundle.archive(), "f32", spark.range(0, 10_000, 1, 1)
        .selectExpr("cast(id as float) as f32"), options()).collectAsList();
    assertEquals(10_000, f32.size());
    Set<String> now = pool.names();
    assertEquals(IN_FLIGHT, now.size(), "only the f32 task's regions are kept: " + now);
    Set<String> mapped = mappedRegions();
    for (String n : i64Regions) {
      assertFalse(now.contains(n), n + " was free too long: dropped from the pool");
      assertFalse(mapped.contains(n), n + " is unmapped");
    }
    assertEquals(2L * IN_FLIGHT, pool.registrations());
  }

  @Test
  void regionsTheSidecarNoLongerHoldsAreReplacedAtTheNextBorrow() throws IOException {
    TestBundles.Built bundle = TestBundles.kinds("kinds_pool_lost", "1.0.0");
    SidecarKey key = SidecarKey.of(bundle.digest(), options());
    List<Row> clean = score(bundle, input(10_000));
    SharedMemoryPool pool = pool(key);
    Set<String> before = pool.names();
    assertEquals(IN_FLIGHT, before.size());
    long shared = sharedInputs(stats(key));

    // What the sidecar does when a connection closes (e.g. the channel went idle and
    // reconnected): it unregisters that connection's regions.
    GRPCInferenceServiceGrpc.newBlockingStub(pool.channel()).withDeadlineAfter(30,
        TimeUnit.SECONDS).systemSharedMemoryUnregister(
            SystemSharedMemoryUnregisterRequest.getDefaultInstance());
    assertEquals(0, stats(key).getShmRegions());

    assertEquals(clean, score(bundle, input(10_000)), "the next job scores the same");
    Set<String> now = pool.names();
    assertEquals(IN_FLIGHT, now.size());
    for (String n : now) {
      assertFalse(before.contains(n), "a fresh region: " + n);
    }
    Set<String> mapped = mappedRegions();
    for (String n : before) {
      assertFalse(mapped.contains(n), n + " (no longer registered) is unmapped here");
    }
    StatsResponse after = stats(key);
    assertEquals(2L * IN_FLIGHT, after.getShmRegionsRegistered());
    assertEquals(IN_FLIGHT, after.getShmRegions());
    assertTrue(sharedInputs(after) > shared, "the next job went through shared memory");
  }

  @Test
  void closingTheRuntimeUnmapsEveryRegion() throws IOException {
    TestBundles.Built bundle = TestBundles.kinds("kinds_pool_close", "1.0.0");
    SidecarKey key = SidecarKey.of(bundle.digest(), options());
    score(bundle, input(10_000));
    Set<String> names = pool(key).names();
    assertEquals(IN_FLIGHT, names.size());
    assertTrue(mappedRegions().containsAll(names), "mapped while the runtime runs");

    ConnectorRuntime.get().close();
    Set<String> mapped = mappedRegions();
    for (String n : names) {
      assertFalse(mapped.contains(n), n + " is unmapped once the runtime is closed");
    }
    assertEquals(Set.of(), mapped, "no region of any sidecar is mapped in this JVM");
  }
}
