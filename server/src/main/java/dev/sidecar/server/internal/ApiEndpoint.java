package dev.sidecar.server.internal;

import dev.sidecar.bundle.ApiSpec;
import dev.sidecar.bundle.Bundle;
import dev.sidecar.bundle.onnx.ApiBinding;
import dev.sidecar.bundle.onnx.ApiBinding.Column;
import dev.sidecar.bundle.onnx.ApiBinding.Output;
import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.proto.inference.ModelMetadataResponse;
import dev.sidecar.proto.inference.ModelMetadataResponse.TensorMetadata;
import io.grpc.Context;
import io.grpc.StatusException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * One API of the served bundle as an Open Inference Protocol model: the API bound to its ONNX
 * model ({@link ApiBinding}, checked again here against the session that serves it), its
 * metadata, and the parts that serve it: the {@link RequestDecoder}, the {@link BatchRunner}
 * its {@link AdaptiveBatcher} calls, and the {@link AnswerEncoder}.
 */
final class ApiEndpoint implements AutoCloseable {
  private final String name;
  private final String version;
  private final ApiSpec api;
  private final ModelMetadataResponse metadata;
  private final ApiMetrics metrics;
  private final RequestDecoder decoder;
  private final AnswerEncoder answers;
  private final AdaptiveBatcher batcher;

  /**
   * Binds the API to {@code model} and starts its batcher.
   *
   * @param hook runs before every model call (tests only; null = none)
   * @param batcher makes the batcher that runs batches with the given runner (null: none, for
   *     tests that only decode)
   * @throws IllegalArgumentException if the API does not fit the model
   */
  ApiEndpoint(Bundle bundle, ApiSpec api, ModelRuntime model, ModelCallHook hook,
      Function<AdaptiveBatcher.Runner, AdaptiveBatcher> batcher) {
    this.name = api.name();
    this.version = bundle.manifest().version();
    this.api = api;
    ApiBinding binding = ApiBinding.bind(api, model.ports());
    this.metadata = buildMetadata(bundle, binding);
    this.metrics = new ApiMetrics(name);
    this.decoder = new RequestDecoder(name, binding, model);
    this.answers = new AnswerEncoder(name, version, binding.outputs(), model.zipMapTaps());
    this.batcher = batcher.apply(new BatchRunner(name, model, metrics, answers, hook));
  }

  String name() {
    return name;
  }

  String version() {
    return version;
  }

  ApiSpec api() {
    return api;
  }

  ApiMetrics metrics() {
    return metrics;
  }

  AdaptiveBatcher batcher() {
    return batcher;
  }

  ModelMetadataResponse metadata() {
    return metadata;
  }

  /** Validates and decodes a request into a call; every problem is an INVALID_ARGUMENT. */
  InferCall decode(ModelInferRequest req, Context context, InferCall.Listener listener)
      throws StatusException {
    return decode(req, null, context, listener);
  }

  /**
   * Validates and decodes a request whose tensors may name regions of {@code shm} (null: none);
   * the call holds them until it is answered or failed.
   */
  InferCall decode(ModelInferRequest req, SharedMemoryRegistry shm, Context context,
      InferCall.Listener listener) throws StatusException {
    long arrival = System.nanoTime();
    return new InferCall(name, decoder.decode(req, shm), metrics, answers, arrival, context,
        listener);
  }

  private ModelMetadataResponse buildMetadata(Bundle bundle, ApiBinding binding) {
    ModelMetadataResponse.Builder m = ModelMetadataResponse.newBuilder()
        .setName(name)
        .addVersions(version)
        .setPlatform("onnxruntime_onnx");
    for (Column c : binding.columns()) {
      m.addInputs(TensorMetadata.newBuilder().setName(c.name()).setDatatype(c.dtype().oipName())
          .addAllShape(withBatch(c.rowDims())));
    }
    for (Output o : binding.outputs()) {
      m.addOutputs(TensorMetadata.newBuilder().setName(o.name())
          .setDatatype(o.wireType().oipName()).addAllShape(withBatch(o.rowDims())));
    }
    m.putProperties("bundle", bundle.manifest().name());
    m.putProperties("bundle_version", version);
    m.putProperties("bundle_digest", bundle.digest());
    m.putProperties("model", api.model());
    m.putProperties("input_kind", api.input().kind().id());
    m.putProperties("apis", bundle.manifest().apis().stream().map(ApiSpec::name)
        .collect(Collectors.joining(",")));
    return m.build();
  }

  private static List<Long> withBatch(long[] rowDims) {
    List<Long> s = new ArrayList<>();
    s.add(-1L);
    for (long d : rowDims) {
      s.add(d);
    }
    return s;
  }

  @Override
  public void close() {
    if (batcher != null) {
      batcher.close();
    }
  }
}
