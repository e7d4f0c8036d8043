package dev.sidecar.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.proto.inference.GRPCInferenceServiceGrpc;
import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.proto.inference.ModelInferResponse;
import dev.sidecar.proto.stats.ApiStats;
import dev.sidecar.tensor.RawCodec;
import dev.sidecar.testkit.OnnxModels;
import com.google.common.util.concurrent.ListenableFuture;
import dev.sidecar.wire.SidecarChannels;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A full queue answers RESOURCE_EXHAUSTED and recovers; expired calls are dropped unrun. */
class OverloadAndDeadlineTest {
  static final int IN = 256;
  static final int[] HIDDEN = {1024, 1024};
  static final int OUT = 8;
  static final int BUSY_ROWS = 64;

  /** While set, holds the inference workers inside their model calls. */
  private static volatile Fixtures.Gate gate;

  @TempDir
  static Path tmp;

  private static ModelServer bounded;
  private static ModelServer open;
  private static ManagedChannel ch;
  private static ManagedChannel openCh;

  @BeforeAll
  static void start() throws Exception {
    String yaml = String.join("\n",
        "name: heavy",
        "version: \"1\"",
        "models:",
        "  - {name: mlp, path: mlp.onnx}",
        "apis:",
        "  - name: score",
        "    model: mlp",
        "    input: {kind: tensor, column: x, model_input: x, dtype: float32, shape: [-1, 256]}",
        "    outputs:",
        "      - {name: y, from: y, shape: [-1, 8]}",
        "    batching: {enabled: true, max_batch_size: 64, max_latency_ms: 1}",
        "");
    Bundle b = Fixtures.bundle(tmp, yaml, Map.of("mlp.onnx", OnnxModels.mlp(IN, HIDDEN, OUT, 3)));
    bounded = ModelServer.builder(b).tcp("127.0.0.1", 0)
        .options(ServerOptions.defaults().withMaxQueuedRows(128))
        .beforeModelCall((api, rows) -> Fixtures.Gate.pass(gate)).start();
    ch = SidecarChannels.forTarget(bounded.target());
    open = ModelServer.builder(b).unixSocket(tmp.resolve("open.sock"))
        .beforeModelCall((api, rows) -> Fixtures.Gate.pass(gate)).start();
    openCh = SidecarChannels.forTarget(open.target());
  }

  @AfterAll
  static void stop() throws Exception {
    Fixtures.close(ch);
    Fixtures.close(openCh);
    bounded.close();
    open.close();
  }

  private static ModelInferRequest request(int rows, long seed) {
    return Fixtures.rawRequest("score", "x", OnnxModels.randomFloats(rows * IN, seed), rows, IN);
  }

  @Test
  void fullQueueIsRefusedWithResourceExhaustedThenRecovers() throws Exception {
    GRPCInferenceServiceGrpc.GRPCInferenceServiceFutureStub async =
        GRPCInferenceServiceGrpc.newFutureStub(ch);
    int refused = 0;
    for (int round = 0; round < 5 && refused == 0; round++) {
      List<ListenableFuture<ModelInferResponse>> calls = new ArrayList<>();
      for (int i = 0; i < 40; i++) {
        calls.add(async.modelInfer(request(64, i)));
      }
      for (ListenableFuture<ModelInferResponse> f : calls) {
        try {
          assertEquals(64, f.get(60, TimeUnit.SECONDS).getOutputs(0).getShape(0));
        } catch (ExecutionException e) {
          Status st = Status.fromThrowable(e.getCause());
          assertEquals(Status.Code.RESOURCE_EXHAUSTED, st.getCode(), st.toString());
          assertTrue(st.getDescription().contains("limit is 128 rows"), st.getDescription());
          refused++;
        }
      }
    }
    assertTrue(refused > 0, "40 concurrent 64-row calls never filled a 128-row queue");
    float[] x = OnnxModels.randomFloats(3 * IN, 5);
    ModelInferResponse ok = GRPCInferenceServiceGrpc.newBlockingStub(ch)
        .modelInfer(Fixtures.rawRequest("score", "x", x, 3, IN));
    assertArrayEquals(OnnxModels.mlpPredict(IN, HIDDEN, OUT, 3, x),
        RawCodec.decodeFloats(ok.getRawOutputContents(0)), 1e-3f);
    ApiStats st = Fixtures.stats(ch, "score");
    assertEquals(refused, st.getErrorsByCodeOrDefault("RESOURCE_EXHAUSTED", 0));
  }

  @Test
  void aCallWhoseDeadlinePassedInTheQueueIsDroppedBeforeInference() throws Exception {
    ApiStats before = Fixtures.stats(openCh, "score");
    // Hold the single inference worker inside the model call of a first request, so that a
    // second one waits in the queue until its deadline has passed, however fast the machine.
    // The deadline is long enough that the call reaches the queue before it expires even on a
    // loaded machine (expiring in transit would be cancelled by gRPC, never counted here).
    Fixtures.Gate g = new Fixtures.Gate();
    gate = g;
    ListenableFuture<ModelInferResponse> busy;
    try {
      busy = GRPCInferenceServiceGrpc.newFutureStub(openCh).modelInfer(request(BUSY_ROWS, 1));
      assertTrue(g.entered.await(60, TimeUnit.SECONDS), "the worker never started the batch");
      StatusRuntimeException late = assertThrows(StatusRuntimeException.class, () ->
          GRPCInferenceServiceGrpc.newBlockingStub(openCh).withDeadlineAfter(2000,
              TimeUnit.MILLISECONDS).modelInfer(request(1, 3)));
      assertEquals(Status.Code.DEADLINE_EXCEEDED, late.getStatus().getCode());
    } finally {
      gate = null;
      g.release.countDown();
    }
    assertEquals(BUSY_ROWS, busy.get(60, TimeUnit.SECONDS).getOutputs(0).getShape(0));
    ApiStats after = waitForError(openCh, before, "DEADLINE_EXCEEDED");
    assertEquals(before.getRows() + BUSY_ROWS, after.getRows(), "the expired row must not be inferred");
  }

  /**
   * A request of more rows than the whole queue holds (300 > 128) is admitted alone on an idle
   * server and answered in slices; while other rows are queued it is refused with a message
   * that says the limit and how to get under it.
   */
  @Test
  void aRequestLargerThanTheQueueIsAdmittedWhenTheQueueIsEmpty() throws Exception {
    float[] x = OnnxModels.randomFloats(300 * IN, 17);
    ModelInferResponse r = GRPCInferenceServiceGrpc.newBlockingStub(ch)
        .withDeadlineAfter(60, TimeUnit.SECONDS)
        .modelInfer(Fixtures.rawRequest("score", "x", x, 300, IN));
    assertEquals(300, r.getOutputs(0).getShape(0));
    assertArrayEquals(OnnxModels.mlpPredict(IN, HIDDEN, OUT, 3, x),
        RawCodec.decodeFloats(r.getRawOutputContents(0)), 1e-3f);

    Fixtures.Gate g = new Fixtures.Gate();
    gate = g;
    ListenableFuture<ModelInferResponse> running;
    ListenableFuture<ModelInferResponse> queued;
    try {
      GRPCInferenceServiceGrpc.GRPCInferenceServiceFutureStub async =
          GRPCInferenceServiceGrpc.newFutureStub(ch).withDeadlineAfter(60, TimeUnit.SECONDS);
      running = async.modelInfer(request(8, 1));
      assertTrue(g.entered.await(60, TimeUnit.SECONDS), "the worker never started the batch");
      queued = async.modelInfer(request(8, 2));
      StatusRuntimeException busy = null;
      for (int i = 0; i < 3000 && busy == null; i++) {
        // Until the queued request has arrived, the large one may still be admitted.
        if (Fixtures.stats(ch, "score").getQueueDepth() > 0) {
          busy = assertThrows(StatusRuntimeException.class, () -> GRPCInferenceServiceGrpc
              .newBlockingStub(ch).modelInfer(Fixtures.rawRequest("score", "x", x, 300, IN)));
        } else {
          Thread.sleep(10);
        }
      }
      assertTrue(busy != null, "the second request never reached the queue");
      assertEquals(Status.Code.RESOURCE_EXHAUSTED, busy.getStatus().getCode());
      assertTrue(busy.getStatus().getDescription().contains("300 rows are more than the queue "
          + "limit of 128 rows"), busy.getStatus().getDescription());
      assertTrue(busy.getStatus().getDescription().contains("send at most 128 rows per request"),
          busy.getStatus().getDescription());
    } finally {
      gate = null;
      g.release.countDown();
    }
    assertEquals(8, running.get(60, TimeUnit.SECONDS).getOutputs(0).getShape(0));
    assertEquals(8, queued.get(60, TimeUnit.SECONDS).getOutputs(0).getShape(0));
  }

  private static ApiStats waitForError(ManagedChannel channel, ApiStats before,
      String... codes) throws Exception {
    for (int i = 0; i < 3000; i++) {
      ApiStats now = Fixtures.stats(channel, "score");
      long n = 0;
      long b = 0;
      for (String c : codes) {
        n += now.getErrorsByCodeOrDefault(c, 0);
        b += before.getErrorsByCodeOrDefault(c, 0);
      }
      if (n > b) {
        return now;
      }
      Thread.sleep(10);
    }
    fail("the server never dropped the expired call");
    return null;
  }
}
