package dev.sidecar.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.bundle.ApiSpec;
import dev.sidecar.bundle.Bundle;
import dev.sidecar.bundle.BundleArchive;
import dev.sidecar.bundle.BundleBuilder;
import dev.sidecar.bundle.DType;
import dev.sidecar.bundle.Manifest;
import dev.sidecar.bundle.OutputSpec;
import dev.sidecar.proto.inference.GRPCInferenceServiceGrpc;
import dev.sidecar.proto.inference.ModelInferResponse;
import dev.sidecar.proto.inference.ModelMetadataRequest;
import dev.sidecar.proto.inference.ModelMetadataResponse;
import dev.sidecar.tensor.RawCodec;
import dev.sidecar.testkit.OnnxModels;
import dev.sidecar.wire.SidecarChannels;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A classifier whose probabilities come out of a ZipMap (a sequence of maps, as skl2onnx
 * converts classifiers) served over real gRPC: the output is an FP32 [N, k] tensor in the
 * order of the ZipMap's class keys, alone and when the batcher merges calls.
 */
class ClassMapServingTest {
  private static final int FEATURES = 5;
  private static final long SEED = 11L;

  @TempDir
  Path tmp;

  @Test
  void aZipMapOutputIsServedAsProbabilitiesInClassOrder() throws Exception {
    // Keys out of numeric order: the column follows the node's (= the classifier's) order.
    Object[] keys = {30L, 10L, 20L};
    String yaml = String.join("\n",
        "name: zipmap",
        "version: \"1\"",
        "models: [{name: m, path: m.onnx}]",
        "apis:",
        "  - name: c",
        "    input: {kind: tensor, column: x}",
        "    batching: {enabled: true, max_batch_size: 64, max_latency_ms: 5}",
        "  - name: as-map",
        "    input: {kind: tensor, column: x}",
        "    outputs: [label, {name: p, from: output_probability, as: map}]",
        "");
    Bundle b = Fixtures.bundle(tmp, yaml,
        Map.of("m.onnx", OnnxModels.zipMapClassifier(FEATURES, SEED, keys)));
    try (ModelServer server = ModelServer.builder(b).tcp("127.0.0.1", 0).start()) {
      ManagedChannel ch = SidecarChannels.forTarget(server.target());
      try {
        var stub = GRPCInferenceServiceGrpc.newBlockingStub(ch);
        for (String api : List.of("c", "as-map")) {
          ModelMetadataResponse md = stub.withDeadlineAfter(30, TimeUnit.SECONDS)
              .modelMetadata(ModelMetadataRequest.newBuilder().setName(api).build());
          assertEquals("FP32", md.getOutputs(1).getDatatype(), api);
          assertEquals(List.of(-1L, 3L), md.getOutputs(1).getShapeList(), api);
        }
        // Concurrent callers: merged batches must keep every row's probabilities.
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
          List<Future<Void>> calls = new ArrayList<>();
          for (int c = 0; c < 16; c++) {
            int call = c;
            calls.add(pool.submit(() -> {
              int n = 1 + call % 5;
              float[] x = OnnxModels.randomFloats(n * FEATURES, 100 + call);
              ModelInferResponse r = stub.withDeadlineAfter(60, TimeUnit.SECONDS).modelInfer(
                  Fixtures.rawRequest(call % 2 == 0 ? "c" : "as-map", "x", x, n, FEATURES));
              assertEquals(List.of((long) n, 3L), r.getOutputs(1).getShapeList());
              assertEquals("FP32", r.getOutputs(1).getDatatype());
              assertArrayEquals(OnnxModels.linearClassifierLabels(FEATURES, 3, SEED, x),
                  RawCodec.decodeLongs(r.getRawOutputContents(0)));
              assertArrayEquals(OnnxModels.linearClassifierProbabilities(FEATURES, 3, SEED, x),
                  RawCodec.decodeFloats(r.getRawOutputContents(1)), 1e-5f, "call " + call);
              return null;
            }));
          }
          for (Future<Void> f : calls) {
            f.get(120, TimeUnit.SECONDS);
          }
        } finally {
          pool.shutdownNow();
        }
      } finally {
        Fixtures.close(ch);
      }
    }
  }

  /**
   * A bundle whose manifest declares other class keys than the model's ZipMap gives (the built
   * bundle unpacked and its manifest rewritten by hand: a build never does that): a call fails
   * naming the model output, the row and both key sets, never answering zeros for the missing
   * class.
   */
  @Test
  void keysThatDifferFromTheManifestFailTheCallNamingTheOutput() throws Exception {
    Path src = Files.createDirectories(tmp.resolve("src"));
    Files.write(src.resolve("m.onnx"), OnnxModels.zipMapClassifier(FEATURES, SEED, 30L, 10L, 20L));
    Files.writeString(src.resolve("bundle.yaml"), "name: keys\nversion: \"1\"\n"
        + "models: [{name: m, path: m.onnx}]\napis:\n"
        + "  - name: c\n    input: {kind: tensor, column: x}\n");
    Path archive = tmp.resolve("built.bundle");
    Manifest built = BundleBuilder.fromSpec(src.resolve("bundle.yaml")).build(archive).manifest();
    ApiSpec api = built.api("c");
    OutputSpec p = api.outputs().get(1);
    OutputSpec wrong = new OutputSpec(p.name(), p.modelOutput(), p.dtype(), p.shape(), List.of(),
        new OutputSpec.ClassMap(DType.INT64, List.of("30", "10", "99"), false));
    Manifest m = new Manifest(built.formatVersion(), built.name(), built.version(),
        built.createdAt(), built.description(), built.labels(), built.models(),
        List.of(new ApiSpec(api.name(), api.model(), api.input(),
            List.of(api.outputs().get(0), wrong), api.batching())), built.files());
    Path dir = BundleArchive.unpack(archive, tmp.resolve("unpacked")).root();
    Files.write(dir.resolve("manifest.json"), m.toJson().getBytes(StandardCharsets.UTF_8));
    Bundle b = Bundle.open(dir);
    try (ModelServer server = ModelServer.builder(b).tcp("127.0.0.1", 0).start()) {
      ManagedChannel ch = SidecarChannels.forTarget(server.target());
      try {
        float[] x = OnnxModels.randomFloats(2 * FEATURES, 1L);
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
            () -> GRPCInferenceServiceGrpc.newBlockingStub(ch)
                .withDeadlineAfter(30, TimeUnit.SECONDS)
                .modelInfer(Fixtures.rawRequest("c", "x", x, 2, FEATURES)));
        assertEquals(Status.Code.INTERNAL, e.getStatus().getCode(), e.getMessage());
        assertTrue(e.getStatus().getDescription().contains("model output 'output_probability'"
            + " row 0 maps the keys [10, 20, 30] but the bundle declares the keys [30, 10, 99]"
            + " (key 20 is not declared)"), e.getStatus().getDescription());
      } finally {
        Fixtures.close(ch);
      }
    }
  }
}
