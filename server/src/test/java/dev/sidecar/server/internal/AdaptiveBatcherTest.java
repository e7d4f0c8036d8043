package dev.sidecar.server.internal;

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
import io.grpc.Status;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The batcher's waiting rules, on the iris model run by ONNX Runtime, with each model call made
 * 15 ms dearer than it is (a sleep before the real inference) so that a call's fixed cost is
 * large and certain: the shape of a big model, without a big model in a unit test.
 */
class AdaptiveBatcherTest {
  private static final int EXTRA_MS = 15;
  /** How long a caller takes to send its next row after an answer (an RPC's way back). */
  private static final int RETURN_MS = 3;

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

  /**
   * Sixteen callers that each send their next row 3 ms after their last answer, half of them
   * starting 5 ms late, come back in a burst after every batch. The batcher waits for that burst
   * (3 ms, against 15 ms of fixed cost per model call) instead of settling into the alternating
   * half batches the late start seeds, and every caller gets its own answer.
   */
  @Test
  void closedLoopCallersMakeFullBatches() throws Exception {
    ApiEndpoint ep = new ApiEndpoint(bundle, api("classify_tensor"), runtime);
    AtomicInteger rows = new AtomicInteger();
    List<Integer> sizes = new ArrayList<>();
    try (AdaptiveBatcher batcher = new AdaptiveBatcher("classify_tensor",
        new BatchingSpec(true, 16, 100), 10_000, 1, (batch, answering) -> {
          sleep(EXTRA_MS);
          int n = batch.stream().mapToInt(InferCall.Slice::rowCount).sum();
          synchronized (sizes) {
            sizes.add(n);
          }
          rows.addAndGet(n);
          return EXTRA_MS + ep.runBatch(batch, answering);
        })) {
      ep.attach(batcher);
      int callers = 16;
      int rounds = 40;
      ExecutorService pool = Executors.newFixedThreadPool(callers);
      try {
        List<Future<Integer>> done = new ArrayList<>();
        for (int c = 0; c < callers; c++) {
          float[] x = {5.1f + c * 0.1f, 3.5f, 1.4f, 0.2f};
          int late = c < callers / 2 ? 0 : 5;
          done.add(pool.submit(() -> {
            sleep(late);
            int answered = 0;
            for (int r = 0; r < rounds; r++) {
              ModelInferResponse resp = call(ep, batcher, x);
              assertEquals(1, resp.getOutputs(0).getShape(0), "one row back");
              answered++;
              sleep(RETURN_MS);
            }
            return answered;
          }));
        }
        for (Future<Integer> f : done) {
          assertEquals(rounds, f.get(2, TimeUnit.MINUTES));
        }
      } finally {
        pool.shutdownNow();
      }
      assertEquals(16 * 40, rows.get());
      // The first batches run while the cost model is still learning (8 batches); after that,
      // every caller is either queued or on its way back, and batches are full.
      List<Integer> late;
      synchronized (sizes) {
        late = sizes.subList(LatencyModel.WARMUP_BATCHES + 2, sizes.size());
      }
      double mean = late.stream().mapToInt(Integer::intValue).average().orElse(0);
      assertTrue(mean >= 14, "mean batch after warm-up " + mean + " of 16; sizes " + sizes);
    }
  }

  /** A lone closed-loop caller is never held back: nobody else is coming. */
  @Test
  void aLoneCallerIsNotHeldBack() throws Exception {
    ApiEndpoint ep = new ApiEndpoint(bundle, api("classify_tensor"), runtime);
    try (AdaptiveBatcher batcher = new AdaptiveBatcher("classify_tensor",
        new BatchingSpec(true, 16, 1000), 10_000, 1, (batch, answering) -> {
          sleep(EXTRA_MS);
          return EXTRA_MS + ep.runBatch(batch, answering);
        })) {
      ep.attach(batcher);
      float[] x = {5.1f, 3.5f, 1.4f, 0.2f};
      long worstMs = 0;
      for (int r = 0; r < 20; r++) {
        long t0 = System.nanoTime();
        call(ep, batcher, x);
        if (r >= LatencyModel.WARMUP_BATCHES + 2) {
          worstMs = Math.max(worstMs, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
        }
      }
      // A wait would cost up to max_latency_ms (1000 ms here); each call is ~15 ms of model.
      assertTrue(worstMs < 500, "a lone caller waited " + worstMs + " ms for rows that never came");
    }
  }

  /**
   * A caller faster than the worker (its next row arrives while the worker is still answering
   * the batch) is counted as back. Here the caller returns in 2 ms every other time and from
   * inside its answer in between; were the fast returns missed, the batcher would wait a whole
   * fixed cost (60 ms here) for a caller already queued, every other call.
   */
  @Test
  void aCallerBackBeforeTheBatchIsDoneIsNotWaitedFor() throws Exception {
    int costMs = 60;
    ApiEndpoint ep = new ApiEndpoint(bundle, api("classify_tensor"), runtime);
    try (AdaptiveBatcher batcher = new AdaptiveBatcher("classify_tensor",
        new BatchingSpec(true, 16, 1000), 10_000, 1, (batch, answering) -> {
          // The dear part comes after the queue wait is measured, as a model call's would.
          return costMs + ep.runBatch(batch, () -> {
            sleep(costMs);
            answering.run();
          });
        })) {
      ep.attach(batcher);
      float[] x = {5.1f, 3.5f, 1.4f, 0.2f};
      CompletableFuture<ModelInferResponse> last = new CompletableFuture<>();
      AtomicInteger left = new AtomicInteger(LatencyModel.WARMUP_BATCHES + 16);
      InferCall.Listener next = new InferCall.Listener() {
        @Override
        public void onResponse(ModelInferResponse response) {
          int n = left.decrementAndGet();
          if (n == 0) {
            last.complete(response);
          } else if (n % 2 == 0) {
            send();
          } else {
            CompletableFuture.runAsync(this::send,
                CompletableFuture.delayedExecutor(2, TimeUnit.MILLISECONDS));
          }
        }

        void send() {
          try {
            batcher.submit(ep.decode(request(x), null, this));
          } catch (Exception e) {
            last.completeExceptionally(e);
          }
        }

        @Override
        public void onError(Status status) {
          last.completeExceptionally(status.asRuntimeException());
        }
      };
      batcher.submit(ep.decode(request(x), null, next));
      last.get(1, TimeUnit.MINUTES);
      double waitMs = ep.metrics().snapshot(0, batcher.latencyModel()).getQueueWaitP95Ms();
      assertTrue(waitMs < costMs / 3.0, "rows waited " + waitMs + " ms (p95) for a caller"
          + " that was already back");
    }
  }

  private static ModelInferRequest request(float[] x) {
    return Fixtures.rawRequest("classify_tensor", "features", x, 1, 4);
  }

  private static ModelInferResponse call(ApiEndpoint ep, AdaptiveBatcher batcher, float[] x)
      throws Exception {
    CompletableFuture<ModelInferResponse> answer = new CompletableFuture<>();
    InferCall call = ep.decode(request(x), null, new InferCall.Listener() {
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

  private static void sleep(int ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
