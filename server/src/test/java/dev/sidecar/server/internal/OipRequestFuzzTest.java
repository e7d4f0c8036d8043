package dev.sidecar.server.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.sidecar.bundle.ApiSpec;
import dev.sidecar.bundle.Bundle;
import dev.sidecar.bundle.DType;
import dev.sidecar.bundle.onnx.ApiBinding;
import dev.sidecar.proto.inference.InferParameter;
import dev.sidecar.proto.inference.InferTensorContents;
import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.proto.inference.ModelInferResponse;
import dev.sidecar.proto.onnx.TensorProto.DataType;
import dev.sidecar.server.Fixtures;
import dev.sidecar.testkit.OnnxModels;
import io.grpc.Status;
import io.grpc.StatusException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Fuzzes the Open Inference Protocol request decoder ({@link ApiEndpoint#decode},
 * {@link RequestDecoder}): raw and typed
 * contents of every dtype (BYTES and FP16 too), shapes, dataframe columns, parameters and wire
 * bytes. Property: a request either decodes into a call whose data match its shape, or is
 * refused with INVALID_ARGUMENT; any other exception, or an allocation sized by what a request
 * declares rather than what it holds (an OutOfMemoryError on the fuzzing run's small heap), is a
 * finding. Without JAZZER_FUZZ=1 it replays the inputs under
 * {@code OipRequestFuzzTestInputs/decode}; the build's fuzz run fuzzes it for a minute.
 */
class OipRequestFuzzTest {
  private static final String[] DATATYPES = {"BOOL", "UINT8", "INT8", "INT16", "INT32", "INT64",
      "FP16", "FP32", "FP64", "BYTES", "UINT16", "BF16", "fp32", ""};
  private static final long[] DIMS = {0, 1, 2, 3, 4, 5, -1, 1L << 31, 1L << 40, Long.MAX_VALUE,
      Integer.MAX_VALUE, 3 * (1L << 62) / 3};
  private static final InferCall.Listener IGNORED = new InferCall.Listener() {
    @Override
    public void onResponse(ModelInferResponse response) {
    }

    @Override
    public void onError(Status status) {
    }
  };

  private static List<ApiEndpoint> endpoints;

  /** One API per dtype (a series), a [-1, 3] tensor and a dataframe of three packed columns. */
  private static synchronized List<ApiEndpoint> endpoints() {
    if (endpoints != null) {
      return endpoints;
    }
    try {
      Path work = Files.createTempDirectory("oip-fuzz");
      StringBuilder yaml = new StringBuilder("name: types\nversion: \"1\"\nmodels:\n");
      Map<String, byte[]> models = new LinkedHashMap<>();
      StringBuilder apis = new StringBuilder("apis:\n");
      for (DType dt : DType.values()) {
        yaml.append("  - {name: m_").append(dt.id()).append(", path: ").append(dt.id())
            .append(".onnx}\n");
        models.put(dt.id() + ".onnx", OnnxModels.identity(dt.onnxType(), -1));
        apis.append("  - {name: ").append(dt.id()).append(", model: m_").append(dt.id())
            .append(", input: {kind: series, column: c, model_input: x, dtype: ").append(dt.id())
            .append("}, outputs: [{name: y, from: y}]}\n");
      }
      yaml.append("  - {name: m_wide, path: wide.onnx}\n");
      models.put("wide.onnx", OnnxModels.identity(DataType.FLOAT_VALUE, -1, 3));
      apis.append("  - {name: tensor, model: m_wide, input: {kind: tensor, column: t, ")
          .append("model_input: x, dtype: float32, shape: [-1, 3]}, ")
          .append("outputs: [{name: y, from: y, shape: [-1, 3]}]}\n")
          .append("  - {name: frame, model: m_wide, input: {kind: dataframe, pack_into: x, ")
          .append("columns: [{name: a, dtype: float32}, {name: b, dtype: float32}, ")
          .append("{name: c, dtype: float32}]}, outputs: [{name: y, from: y, shape: [-1, 3]}]}\n");
      // Passed through, its inner dimension comes from the request.
      yaml.append("  - {name: m_ragged, path: ragged.onnx}\n");
      models.put("ragged.onnx", OnnxModels.identity(DataType.FLOAT_VALUE, -1, -1));
      apis.append("  - {name: ragged, model: m_ragged, input: {kind: tensor, column: r, ")
          .append("model_input: x, dtype: float32, shape: [-1, 2]}, ")
          .append("outputs: [{name: y, from: y, shape: [-1, 2]}]}\n");
      Bundle bundle = Fixtures.bundle(work, yaml.append(apis).toString(), models);
      List<ApiEndpoint> eps = new ArrayList<>();
      Map<String, ModelRuntime> runtimes = new LinkedHashMap<>();
      for (ApiSpec api : bundle.manifest().apis()) {
        ModelRuntime rt = runtimes.get(api.model());
        if (rt == null) {
          rt = new ModelRuntime(api.model(), bundle.modelPath(api.model()), 1, 1);
          runtimes.put(api.model(), rt);
        }
        eps.add(new ApiEndpoint(bundle, api, rt, null, runner -> null));
      }
      endpoints = eps;
      return eps;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (ai.onnxruntime.OrtException e) {
      throw new IllegalStateException(e);
    }
  }

  @FuzzTest(maxDuration = "60s")
  void decode(FuzzedDataProvider data) {
    List<ApiEndpoint> eps = endpoints();
    ApiEndpoint ep = eps.get(data.consumeInt(0, eps.size() - 1));
    ModelInferRequest request;
    if (data.consumeBoolean()) {
      try {
        request = ModelInferRequest.parseFrom(data.consumeRemainingAsBytes());
      } catch (InvalidProtocolBufferException e) {
        return;
      }
    } else {
      request = build(data, ep);
    }
    InferCall call;
    try {
      call = ep.decode(request, null, IGNORED);
    } catch (StatusException e) {
      assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getMessage());
      return;
    }
    // A decoded call holds exactly the data its shape declares, for every model input.
    assertTrue(call.rows >= 0);
    DecodedRequest req = call.request();
    for (int f = 0; f < req.feeds().size(); f++) {
      ApiBinding.Feed feed = req.feeds().get(f);
      for (int k = 0; k < feed.sources().length; k++) {
        long perRow = feed.sources().length == 1 ? product(req.feedDims()[f]) : feed.srcElems()[k];
        long elems = Math.multiplyExact((long) call.rows, perRow);
        Object src = req.sources()[feed.sources()[k]];
        if (src instanceof String[] strings) {
          assertEquals(elems, strings.length);
        } else {
          assertEquals(Math.multiplyExact(elems, feed.dtype().byteSize()),
              ((ByteString) src).size());
        }
      }
    }
  }

  private static long product(long[] dims) {
    long n = 1;
    for (long d : dims) {
      assertTrue(d >= 0, "a negative dimension was accepted");
      n = Math.multiplyExact(n, d);
    }
    return n;
  }

  /** A request built from the fuzzer's choices, mostly close to what the API expects. */
  private static ModelInferRequest build(FuzzedDataProvider data, ApiEndpoint ep) {
    ModelInferRequest.Builder r = ModelInferRequest.newBuilder()
        .setModelName(data.consumeBoolean() ? ep.name() : data.consumeString(8))
        .setId(data.consumeString(4));
    List<String> names = new ArrayList<>();
    ep.metadata().getInputsList().forEach(t -> names.add(t.getName()));
    names.add("x");
    boolean raw = data.consumeBoolean();
    int inputs = data.consumeInt(0, 4);
    for (int i = 0; i < inputs; i++) {
      ModelInferRequest.InferInputTensor.Builder in = ModelInferRequest.InferInputTensor
          .newBuilder()
          .setName(data.consumeBoolean() ? data.pickValue(names) : data.consumeString(4))
          .setDatatype(data.consumeBoolean() ? ep.metadata().getInputs(0).getDatatype()
              : data.pickValue(DATATYPES));
      int rank = data.consumeInt(0, 3);
      for (int d = 0; d < rank; d++) {
        in.addShape(data.consumeBoolean() ? data.pickValue(DIMS) : data.consumeLong());
      }
      if (raw) {
        r.addRawInputContents(ByteString.copyFrom(data.consumeBytes(data.consumeInt(0, 96))));
      } else {
        in.setContents(contents(data));
      }
      if (data.consumeBoolean()) {
        in.putParameters(data.consumeString(4), parameter(data));
      }
      r.addInputs(in);
    }
    if (data.consumeBoolean()) {
      r.addRawInputContents(ByteString.copyFrom(data.consumeBytes(8)));
    }
    if (data.consumeBoolean()) {
      r.addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder()
          .setName(data.consumeBoolean() ? "y" : data.consumeString(4)));
    }
    if (data.consumeBoolean()) {
      r.putParameters(data.consumeString(6), parameter(data));
    }
    return r.build();
  }

  private static InferTensorContents contents(FuzzedDataProvider data) {
    InferTensorContents.Builder c = InferTensorContents.newBuilder();
    int n = data.consumeInt(0, 12);
    switch (data.consumeInt(0, 7)) {
      case 0 -> { for (int i = 0; i < n; i++) { c.addBoolContents(data.consumeBoolean()); } }
      case 1 -> { for (int i = 0; i < n; i++) { c.addIntContents(data.consumeInt()); } }
      case 2 -> { for (int i = 0; i < n; i++) { c.addInt64Contents(data.consumeLong()); } }
      case 3 -> { for (int i = 0; i < n; i++) { c.addUintContents(data.consumeInt()); } }
      case 4 -> { for (int i = 0; i < n; i++) { c.addUint64Contents(data.consumeLong()); } }
      case 5 -> { for (int i = 0; i < n; i++) { c.addFp32Contents(data.consumeFloat()); } }
      case 6 -> { for (int i = 0; i < n; i++) { c.addFp64Contents(data.consumeDouble()); } }
      default -> {
        for (int i = 0; i < n; i++) {
          c.addBytesContents(ByteString.copyFrom(data.consumeBytes(data.consumeInt(0, 8))));
        }
      }
    }
    return c.build();
  }

  private static InferParameter parameter(FuzzedDataProvider data) {
    return switch (data.consumeInt(0, 2)) {
      case 0 -> InferParameter.newBuilder().setBoolParam(data.consumeBoolean()).build();
      case 1 -> InferParameter.newBuilder().setInt64Param(data.consumeLong()).build();
      default -> InferParameter.newBuilder().setStringParam(data.consumeString(8)).build();
    };
  }
}
