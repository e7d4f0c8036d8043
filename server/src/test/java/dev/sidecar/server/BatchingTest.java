package dev.sidecar.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.proto.inference.GRPCInferenceServiceGrpc;
import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.proto.inference.ModelInferResponse;
import dev.sidecar.proto.stats.ApiStats;
import dev.sidecar.tensor.RawCodec;
import dev.sidecar.testkit.OnnxModels;
import dev.sidecar.wire.SidecarChannels;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The adaptive batcher over real gRPC: concurrent single-row calls are merged (seen in Stats)
 * and give the same results as running each alone; oversize requests are split and reassembled.
 */
class BatchingTest {
  static final int FEATURES = 16;
  static final int CLASSES = 4;
  static final long SEED = 7;

  @TempDir
  static Path tmp;

  private static ModelServer tcp;
  private static ModelServer uds;
  private static ManagedChannel tcpCh;
  private static ManagedChannel udsCh;

  @BeforeAll
  static void start() throws Exception {
    String yaml = String.join("\n",
        "name: linear",
        "version: \"2\"",
        "models:",
        "  - {name: lin, path: lin.onnx}",
        "apis:",
        "  - name: batched",
        "    model: lin",
        "    input: {kind: tensor, column: x, model_input: x, dtype: float32, shape: [-1, 16]}",
        "    outputs:",
        "      - {name: label, from: label}",
        "      - {name: probabilities, from: probabilities, shape: [-1, 4]}",
        "    batching: {enabled: true, max_batch_size: 64, max_latency_ms: 5}",
        "  - name: alone",
        "    model: lin",
        "    input: {kind: tensor, column: x, model_input: x, dtype: float32, shape: [-1, 16]}",
        "    outputs:",
        "      - {name: label, from: label}",
        "      - {name: probabilities, from: probabilities, shape: [-1, 4]}",
        "    batching: {enabled: false}",
        "  - name: small",
        "    model: lin",
        "    input: {kind: tensor, column: x, model_input: x, dtype: float32, shape: [-1, 16]}",
        "    outputs:",
        "      - {name: label, from: label}",
        "      - {name: probabilities, from: probabilities, shape: [-1, 4]}",
        "    batching: {enabled: true, max_batch_size: 8, max_latency_ms: 2}",
        "");
    Bundle b = Fixtures.bundle(tmp, yaml,
        Map.of("lin.onnx", OnnxModels.linearClassifier("x", FEATURES, CLASSES, SEED)));
    tcp = ModelServer.builder(b).tcp("127.0.0.1", 0).start();
    uds = ModelServer.builder(b).unixSocket(tmp.resolve("lin.sock")).start();
    tcpCh = SidecarChannels.forTarget(tcp.target());
    udsCh = SidecarChannels.forTarget(uds.target());
  }

  @AfterAll
  static void stop() throws Exception {
    Fixtures.close(tcpCh);
    Fixtures.close(udsCh);
    tcp.close();
    uds.close();
  }

  static float[] rows(int n, long seed) {
    float[] x = OnnxModels.randomFloats(n * FEATURES, seed);
    return x;
  }

  static ModelInferResponse infer(ManagedChannel ch, String api, float[] x, int n) {
    return GRPCInferenceServiceGrpc.newBlockingStub(ch).withDeadlineAfter(30, TimeUnit.SECONDS)
        .modelInfer(Fixtures.rawRequest(api, "x", x, n, FEATURES));
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "uds"})
  void thirtyTwoConcurrentSingleRowCallersAreMergedWithUnchangedResults(String transport)
      throws Exception {
    ManagedChannel ch = transport.equals("tcp") ? tcpCh : udsCh;
    int clients = 32;
    int perClient = 25;
    ExecutorService pool = Executors.newFixedThreadPool(clients);
    CountDownLatch go = new CountDownLatch(1);
    List<Future<List<ModelInferResponse[]>>> futures = new ArrayList<>();
    long before = Fixtures.stats(ch, "batched").getBatches();
    try {
      for (int c = 0; c < clients; c++) {
        int client = c;
        futures.add(pool.submit(() -> {
          go.await(60, TimeUnit.SECONDS);
          List<ModelInferResponse[]> pairs = new ArrayList<>();
          for (int i = 0; i < perClient; i++) {
            float[] x = rows(1, client * 1000L + i);
            pairs.add(new ModelInferResponse[] {infer(ch, "batched", x, 1), null});
          }
          for (int i = 0; i < perClient; i++) {
            float[] x = rows(1, client * 1000L + i);
            pairs.get(i)[1] = infer(ch, "alone", x, 1);
          }
          return pairs;
        }));
      }
      go.countDown();
      for (int c = 0; c < clients; c++) {
        List<ModelInferResponse[]> pairs = futures.get(c).get(120, TimeUnit.SECONDS);
        for (int i = 0; i < perClient; i++) {
          ModelInferResponse batched = pairs.get(i)[0];
          ModelInferResponse alone = pairs.get(i)[1];
          assertArrayEquals(RawCodec.decodeLongs(alone.getRawOutputContents(0)),
              RawCodec.decodeLongs(batched.getRawOutputContents(0)));
          float[] pb = RawCodec.decodeFloats(batched.getRawOutputContents(1));
          float[] pa = RawCodec.decodeFloats(alone.getRawOutputContents(1));
          assertArrayEquals(pa, pb, 1e-6f, "client " + c + " call " + i);
          float[] ref = OnnxModels.linearClassifierProbabilities(FEATURES, CLASSES, SEED,
              rows(1, c * 1000L + i));
          assertArrayEquals(ref, pb, 1e-5f);
        }
      }
    } finally {
      pool.shutdownNow();
    }
    ApiStats merged = Fixtures.stats(ch, "batched");
    assertTrue(merged.getMaxBatchRows() > 1, "no batch merged calls: " + merged);
    assertTrue(merged.getBatches() - before < (long) clients * perClient,
        "every call ran alone: " + merged);
    ApiStats alone = Fixtures.stats(ch, "alone");
    assertEquals(1, alone.getMaxBatchRows(), "batching off must run each request alone");
    assertEquals(alone.getRequests(), alone.getBatches());
    assertTrue(merged.getLatencyP99Ms() > 0);
    // Each request waits for its batch, then for its answer: the wait is a part of the latency.
    assertTrue(merged.getQueueWaitP99Ms() > 0, merged.toString());
    assertTrue(merged.getQueueWaitP99Ms() <= merged.getLatencyP99Ms(), merged.toString());
    assertTrue(merged.getInferenceP99Ms() >= merged.getInferenceP50Ms(), merged.toString());
    assertTrue(merged.getFittedFixedMs() + merged.getFittedPerRowMs() > 0, merged.toString());
  }

  @Test
  void anOversizeRequestIsSplitAndReassembledInOrder() {
    int n = 61;
    float[] x = rows(n, 99);
    ModelInferResponse r = infer(tcpCh, "small", x, n);
    assertEquals(List.of((long) n, (long) CLASSES), r.getOutputs(1).getShapeList());
    assertArrayEquals(OnnxModels.linearClassifierLabels(FEATURES, CLASSES, SEED, x),
        RawCodec.decodeLongs(r.getRawOutputContents(0)));
    assertArrayEquals(OnnxModels.linearClassifierProbabilities(FEATURES, CLASSES, SEED, x),
        RawCodec.decodeFloats(r.getRawOutputContents(1)), 1e-5f);
    ApiStats st = Fixtures.stats(tcpCh, "small");
    assertTrue(st.getMaxBatchRows() <= 8, st.toString());
    assertTrue(st.getBatches() >= 8, st.toString());
    assertEquals(n, st.getRows());
  }

  @Test
  void zeroRowRequestsAnswerEmptyTensors() {
    ModelInferResponse r = infer(tcpCh, "batched", new float[0], 0);
    assertEquals(List.of(0L), r.getOutputs(0).getShapeList());
    assertEquals(0, r.getRawOutputContents(1).size());
  }

  @Test
  void wrongVersionIsNotFound() {
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () ->
        GRPCInferenceServiceGrpc.newBlockingStub(tcpCh).modelInfer(
            Fixtures.rawRequest("batched", "x", new float[16], 1, 16).toBuilder()
                .setModelVersion("1").build()));
    assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
  }
}
