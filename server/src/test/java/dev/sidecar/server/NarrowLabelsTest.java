package dev.sidecar.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.bundle.DType;
import dev.sidecar.proto.inference.GRPCInferenceServiceGrpc;
import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.proto.inference.ModelInferResponse;
import dev.sidecar.testkit.OnnxModels;
import dev.sidecar.tensor.RawCodec;
import dev.sidecar.wire.SidecarChannels;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Class labels on every integer output the bundle format accepts (int8, uint8, int16, not only
 * int32/int64): the server reads the class index at the output's own width, and an index
 * without a label is still FAILED_PRECONDITION naming it.
 */
class NarrowLabelsTest {
  @TempDir
  Path tmp;

  @Test
  void labelsMapInt8Uint8AndInt16ClassIndexes() throws Exception {
    for (DType t : new DType[] {DType.INT8, DType.UINT8, DType.INT16}) {
      String yaml = String.join("\n",
          "name: narrow-" + t.id(),
          "version: \"1\"",
          "models:",
          "  - {name: pass, path: pass.onnx}",
          "apis:",
          "  - name: name_of",
          "    model: pass",
          "    input: {kind: series, column: index, model_input: x, dtype: " + t.id() + "}",
          "    outputs:",
          "      - {name: animal, from: y, labels: [cat, dog, emu]}",
          "");
      Bundle b = Fixtures.bundle(tmp.resolve(t.id()), yaml, Map.of("pass.onnx",
          OnnxModels.identity(t.onnxType(), -1)));
      try (ModelServer server = ModelServer.builder(b).start()) {
        ManagedChannel ch = SidecarChannels.forTarget(server.target());
        try {
          ModelInferResponse ok = GRPCInferenceServiceGrpc.newBlockingStub(ch).modelInfer(
              request(t, 2, 0, 1, 2));
          assertEquals("BYTES", ok.getOutputs(0).getDatatype(), t.id());
          assertArrayEquals(new String[] {"emu", "cat", "dog", "emu"},
              RawCodec.decodeStrings(ok.getRawOutputContents(0), 4), t.id());
          StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () ->
              GRPCInferenceServiceGrpc.newBlockingStub(ch).modelInfer(request(t, 1, 3)));
          assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode(), t.id());
          assertTrue(e.getStatus().getDescription().contains("gave class index 3, but the bundle"
              + " lists 3 labels"), e.getStatus().getDescription());
        } finally {
          Fixtures.close(ch);
        }
      }
    }
  }

  private static ModelInferRequest request(DType t, int... indexes) {
    return ModelInferRequest.newBuilder().setModelName("name_of")
        .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("index")
            .setDatatype(t.oipName()).addShape(indexes.length))
        .addRawInputContents(RawCodec.encodeInts(t, indexes, 0, indexes.length)).build();
  }
}
