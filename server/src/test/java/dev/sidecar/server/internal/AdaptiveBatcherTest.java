package dev.sidecar.server.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.bundle.ApiSpec;
import dev.sidecar.bundle.BatchingSpec;
import dev.sidecar.bundle.Bundle;
import dev.sidecar.bundle.BundleArchive;
import dev.sidecar.bundle.BundleBuilder;
import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.proto.inference.ModelInferResponse;
import dev.sidecar.server.Fixtures;
import dev.sidecar.tensor.RawCodec;
import io.grpc.Status;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The batcher's rules, decided on a simulated clock: time moves only when the batcher waits or
 * a batch runs, every arrival is scheduled on that clock, and each model call costs what the
 * test says ({@code fixed + perRow * n}), so every run is the same on any machine. The batches
 * still run on the iris model in ONNX Runtime, and every caller checks its own answer.
 */
class AdaptiveBatcherTest {
  private static final long MS = 1_000_000L;

  @TempDir
  static Path work;
  private static Bundle bundle;
  private static ModelRuntime runtime;

  @BeforeAll
  static void load() throws Exception {
    Path iris = Path.of("..", "examples", "iris", "bundle.yaml").toAbsolutePath().normalize();
    BundleBuilder.fromSpec(iris).build(work.resolve("iris.bundle"));
    bundle = BundleArchive.unpack(work.resolve("iris.bundle"), work.resolve("iris"));
    ApiSpec api = api("classify_tensor");
    runtime = new ModelRuntime(api.model(), bundle.modelPath(api.model()), 1, 1);
  }

  @AfterAll
  static void close() throws Exception {
    runtime.close();
  }

  private static ApiSpec api(String name) {
    return bundle.manifest().apis().stream().filter(a -> a.name().equals(name)).findFirst()
        .orElseThrow();
  }

  /** A clock that moves only when the batcher waits or a batch runs; arrivals are scheduled. */
  private static final class SimClock implements AdaptiveBatcher.Clock {
    private record Event(long at, long seq, Runnable action) {
    }

    long now = 1_000 * MS;
    private long seq;
    /** Waits so far: a batcher that keeps waiting on a clock that never stops fails, not hangs. */
    private long waits;
    private final PriorityQueue<Event> events = new PriorityQueue<>((a, b) -> a.at != b.at
        ? Long.compare(a.at, b.at) : Long.compare(a.seq, b.seq));

    void at(long when, Runnable action) {
      events.add(new Event(when, seq++, action));
    }

    @Override
    public long nanoTime() {
      return now;
    }

    /** Moves on to {@code until}, or to the first arrival before it (which wakes the waiter). */
    @Override
    public void await(Condition condition, long nanos) {
      if (++waits > 10_000_000) {
        throw new AssertionError("the batcher keeps waiting: " + waits + " waits");
      }
      long until = now + nanos;
      if (!events.isEmpty() && events.peek().at <= until) {
        runNext();
      } else {
        now = until;
      }
    }

    @Override
    public void await(Condition condition) {
      if (events.isEmpty()) {
        throw new AssertionError("the batcher waits for rows and no arrival is scheduled");
      }
      runNext();
    }

    /** A batch runs for {@code nanos}: what arrives meanwhile is queued. */
    void run(long nanos) {
      long until = now + nanos;
      while (!events.isEmpty() && events.peek().at <= until) {
        runNext();
      }
      now = until;
    }

    private void runNext() {
      Event e = events.poll();
      now = Math.max(now, e.at);
      e.action.run();
    }
  }

  /** One batch as the worker ran it: rows, and how long its oldest row had waited. */
  private record Ran(int rows, long headWaitNanos) {
  }

  /** A batcher driven by the test on a {@link SimClock}; batches cost {@code fixed + perRow*n}. */
  private static final class Sim {
    final SimClock clock = new SimClock();
    final List<Ran> batches = new ArrayList<>();
    final List<String> problems = new ArrayList<>();
    final ApiEndpoint ep;
    final AdaptiveBatcher batcher;
    /** The cost the model reports, and the time a batch really takes on the clock. */
    double fixedMs;
    double perRowMs;
    double runsForMs = -1;

    Sim(BatchingSpec spec, double fixedMs, double perRowMs) {
      this.fixedMs = fixedMs;
      this.perRowMs = perRowMs;
      ep = new ApiEndpoint(bundle, api("classify_tensor"), runtime, null, runner ->
          new AdaptiveBatcher("classify_tensor", spec, 100_000, 0, (batch, answering) -> {
            int n = batch.stream().mapToInt(InferCall.Slice::rowCount).sum();
            long oldest = batch.stream().mapToLong(s -> s.call().queuedNanos).min().orElseThrow();
            batches.add(new Ran(n, clock.now - oldest));
            double ms = this.fixedMs + this.perRowMs * n;
            clock.run((long) ((runsForMs >= 0 ? runsForMs : ms) * MS));
            runner.run(batch, answering);
            return ms;
          }, clock));
      batcher = ep.batcher();
    }

    /** Sends one row now; {@code then} runs with the answer. */
    void send(float x, java.util.function.Consumer<ModelInferResponse> then) {
      float[] row = {x, 3.5f, 1.4f, 0.2f};
      try {
        batcher.submit(ep.decode(Fixtures.rawRequest("classify_tensor", "features", row, 1, 4),
            null, new InferCall.Listener() {
              @Override
              public void onResponse(ModelInferResponse response) {
                if (response.getOutputs(0).getShape(0) != 1) {
                  problems.add("answer of " + response.getOutputs(0).getShape(0) + " rows");
                }
                then.accept(response);
              }

              @Override
              public void onError(Status status) {
                problems.add(status.toString());
              }
            }));
      } catch (Exception e) {
        problems.add(e.toString());
      }
    }

    /** A caller that sends its next row {@code returnNanos} after each answer, rounds times. */
    void closedLoopCaller(long startNanos, long returnNanos, int rounds) {
      clock.at(startNanos, () -> loop(returnNanos, rounds));
    }

    private void loop(long returnNanos, int left) {
      send(5.1f, r -> {
        if (left > 1) {
          if (returnNanos == 0) {
            loop(0, left - 1);
          } else {
            clock.at(clock.now + returnNanos, () -> loop(returnNanos, left - 1));
          }
        }
      });
    }

    /** Rows arriving every {@code gapNanos}, {@code count} of them, whatever the answers. */
    void openLoop(long startNanos, long gapNanos, int count) {
      clock.at(startNanos, () -> {
        send(6.3f, r -> { });
        if (count > 1) {
          openLoop(clock.now + gapNanos, gapNanos, count - 1);
        }
      });
    }

    /** Runs {@code n} batches. */
    void steps(int n) throws InterruptedException {
      for (int i = 0; i < n; i++) {
        assertTrue(batcher.step());
      }
      assertEquals(List.of(), problems);
    }

    /** The batches after the cost model has warmed up. */
    List<Ran> warm() {
      return batches.subList(LatencyModel.WARMUP_BATCHES + 2, batches.size());
    }
  }

  /** Rows queued beyond a full batch run at once, in full batches, oldest first. */
  @Test
  void fullBatchesRunAtOnce() throws Exception {
    Sim sim = new Sim(new BatchingSpec(true, 16, 100), 15, 0.1);
    for (int i = 0; i < 40; i++) {
      sim.send(5.0f + i * 0.01f, r -> { });
    }
    sim.steps(3);
    assertEquals(List.of(16, 16, 8), sim.batches.stream().map(Ran::rows).toList());
  }

  /**
   * Sixteen callers that each send their next row soon after their answer (half of them in
   * 0.5 ms, half in 3 ms, half starting 5 ms late) come back in a burst after each batch. The
   * batcher waits for the burst (3 ms against 15 ms of fixed cost per model call) instead of
   * settling into alternating half batches, and starts as soon as all sixteen are back.
   */
  @Test
  void closedLoopCallersAreWaitedForAndMakeFullBatches() throws Exception {
    Sim sim = new Sim(new BatchingSpec(true, 16, 100), 15, 0.1);
    for (int c = 0; c < 16; c++) {
      sim.closedLoopCaller(c < 8 ? 0 : 5 * MS, c % 2 == 0 ? MS / 2 : 3 * MS, 40);
    }
    sim.steps(40);
    for (Ran b : sim.warm()) {
      assertEquals(16, b.rows(), "batches after warm-up " + sim.batches);
      assertTrue(b.headWaitNanos() <= 3 * MS, "waited longer than the burst: " + b);
    }
  }

  /** A lone closed-loop caller is never held back: nobody else is coming. */
  @Test
  void aLoneCallerIsNotHeldBack() throws Exception {
    Sim sim = new Sim(new BatchingSpec(true, 16, 1000), 15, 0.1);
    sim.closedLoopCaller(0, MS, 30);
    sim.steps(30);
    for (Ran b : sim.warm()) {
      assertEquals(new Ran(1, 0), b);
    }
  }

  /**
   * A caller faster than the worker (its next row arrives while the worker is still answering)
   * is counted as back and not waited for; here it returns from inside its answer.
   */
  @Test
  void aCallerBackBeforeTheBatchIsDoneIsNotWaitedFor() throws Exception {
    Sim sim = new Sim(new BatchingSpec(true, 16, 1000), 60, 0.1);
    sim.closedLoopCaller(0, 0, 30);
    sim.steps(30);
    for (Ran b : sim.warm()) {
      assertEquals(new Ran(1, 0), b);
    }
  }

  /**
   * Open loop: rows arrive every ms and the cost model says a call has 10 ms of fixed cost, so
   * about ten rows arrive per fixed cost and the worker waits until about that many are queued
   * (here batches really take 1 ms, so the rows come from waiting, not from a busy worker).
   */
  @Test
  void openLoopArrivalsAreWaitedForWhileWaitingPays() throws Exception {
    Sim sim = new Sim(new BatchingSpec(true, 64, 50), 10, 0);
    sim.runsForMs = 1;
    sim.openLoop(0, MS, 2_000);
    sim.steps(60);
    // The rate estimate settles over the first batches after warm-up; then it holds.
    for (Ran b : sim.batches.subList(30, 60)) {
      assertTrue(b.rows() >= 8 && b.rows() <= 12, "batch of " + b.rows() + "; " + sim.batches);
      assertTrue(b.headWaitNanos() <= 50 * MS, b.toString());
    }
  }

  /** ... but no row waits longer than max_latency_ms for more rows. */
  @Test
  void noRowWaitsLongerThanMaxLatency() throws Exception {
    Sim sim = new Sim(new BatchingSpec(true, 64, 4), 10, 0);
    sim.runsForMs = 1;
    sim.openLoop(0, MS, 2_000);
    sim.steps(60);
    for (Ran b : sim.warm()) {
      assertTrue(b.headWaitNanos() <= 4 * MS, "a row waited " + b.headWaitNanos() / 1e6
          + " ms; " + sim.batches);
      assertTrue(b.rows() >= 2, "the worker never waited; " + sim.batches);
    }
  }

  /** Under light load (a row every 50 ms, 10 ms of fixed cost) waiting never pays. */
  @Test
  void lightLoadIsNotHeldBack() throws Exception {
    Sim sim = new Sim(new BatchingSpec(true, 64, 100), 10, 0);
    sim.openLoop(0, 50 * MS, 100);
    sim.steps(40);
    for (Ran b : sim.warm()) {
      assertEquals(new Ran(1, 0), b);
    }
  }

  /**
   * On real threads and the real clock: sixteen closed-loop callers each get their own answer,
   * whatever the batches turn out to be.
   */
  @Test
  void concurrentCallersEachGetTheirOwnAnswer() throws Exception {
    try (ApiEndpoint ep = new ApiEndpoint(bundle, api("classify_tensor"), runtime, null,
        runner -> new AdaptiveBatcher("classify_tensor", new BatchingSpec(true, 16, 5), 10_000, 1,
            runner))) {
      AdaptiveBatcher batcher = ep.batcher();
      ExecutorService pool = Executors.newFixedThreadPool(16);
      try {
        List<Future<?>> done = new ArrayList<>();
        for (int c = 0; c < 16; c++) {
          boolean setosa = c % 2 == 0;
          float[] x = setosa ? new float[] {5.1f, 3.5f, 1.4f, 0.2f}
              : new float[] {6.7f, 3.0f, 5.2f, 2.3f};
          done.add(pool.submit(() -> {
            for (int r = 0; r < 20; r++) {
              ModelInferResponse resp = call(ep, batcher, x);
              assertArrayEquals(new String[] {setosa ? "setosa" : "virginica"},
                  RawCodec.decodeStrings(resp.getRawOutputContents(0), 1));
            }
            return null;
          }));
        }
        for (Future<?> f : done) {
          f.get(2, TimeUnit.MINUTES);
        }
      } finally {
        pool.shutdownNow();
      }
    }
  }

  private static ModelInferResponse call(ApiEndpoint ep, AdaptiveBatcher batcher, float[] x)
      throws Exception {
    CompletableFuture<ModelInferResponse> answer = new CompletableFuture<>();
    InferCall call = ep.decode(Fixtures.rawRequest("classify_tensor", "features", x, 1, 4), null,
        new InferCall.Listener() {
          @Override
          public void onResponse(ModelInferResponse response) {
            answer.complete(response);
          }

          @Override
          public void onError(Status status) {
            answer.completeExceptionally(status.asRuntimeException());
          }
        });
    batcher.submit(call);
    return answer.get(1, TimeUnit.MINUTES);
  }
}
