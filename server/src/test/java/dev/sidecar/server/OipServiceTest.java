package dev.sidecar.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.proto.inference.GRPCInferenceServiceGrpc;
import dev.sidecar.proto.inference.InferTensorContents;
import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.proto.inference.ModelInferResponse;
import dev.sidecar.proto.inference.ModelMetadataRequest;
import dev.sidecar.proto.inference.ModelMetadataResponse;
import dev.sidecar.proto.inference.ModelReadyRequest;
import dev.sidecar.proto.inference.ModelStreamInferResponse;
import dev.sidecar.proto.inference.ServerLiveRequest;
import dev.sidecar.proto.inference.ServerMetadataRequest;
import dev.sidecar.proto.inference.ServerMetadataResponse;
import dev.sidecar.proto.inference.ServerReadyRequest;
import dev.sidecar.proto.stats.ApiStats;
import dev.sidecar.tensor.RawCodec;
import dev.sidecar.wire.SidecarChannels;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Every RPC of the iris bundle's server over real gRPC, on loopback TCP and on a Unix socket. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OipServiceTest {
  private static final String[] SPECIES = {"setosa", "versicolor", "virginica"};

  @TempDir
  static Path tmp;

  private ModelServer tcp;
  private ModelServer uds;
  private ManagedChannel tcpChannel;
  private ManagedChannel udsChannel;
  private float[] x;
  private List<String[]> expected;

  @BeforeAll
  void start() throws Exception {
    Bundle iris = Fixtures.iris(tmp);
    tcp = ModelServer.builder(iris).tcp("127.0.0.1", 0).start();
    uds = ModelServer.builder(iris).unixSocket(tmp.resolve("iris.sock")).start();
    tcpChannel = SidecarChannels.forTarget(tcp.target());
    udsChannel = SidecarChannels.forTarget(uds.target());
    x = Fixtures.irisFeatures();
    expected = Fixtures.irisExpected();
  }

  @AfterAll
  void stop() throws Exception {
    Fixtures.close(tcpChannel);
    Fixtures.close(udsChannel);
    tcp.close();
    uds.close();
  }

  private ManagedChannel channel(String transport) {
    return transport.equals("tcp") ? tcpChannel : udsChannel;
  }

  @Test
  void theUnixSocketIsTheUsersAlone() throws java.io.IOException {
    assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
        java.nio.file.Files.getPosixFilePermissions(tmp.resolve("iris.sock"))));
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "uds"})
  void targetsHaveTheDocumentedForms(String transport) {
    if (transport.equals("tcp")) {
      assertEquals("127.0.0.1:" + tcp.port(), tcp.target());
    } else {
      assertEquals("unix://" + tmp.resolve("iris.sock").toAbsolutePath(), uds.target());
      assertEquals(-1, uds.port());
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "uds"})
  void serverLiveReadyMetadataAndHealth(String transport) {
    GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub s =
        Fixtures.blocking(channel(transport));
    assertTrue(s.serverLive(ServerLiveRequest.getDefaultInstance()).getLive());
    assertTrue(s.serverReady(ServerReadyRequest.getDefaultInstance()).getReady());
    ServerMetadataResponse m = s.serverMetadata(ServerMetadataRequest.getDefaultInstance());
    assertEquals("sidecar", m.getName());
    assertFalse(m.getVersion().isEmpty());
    HealthCheckResponse h = HealthGrpc.newBlockingStub(channel(transport))
        .check(HealthCheckRequest.newBuilder().setService("").build());
    assertEquals(HealthCheckResponse.ServingStatus.SERVING, h.getStatus());
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "uds"})
  void modelReadyAndMetadataUnderEveryName(String transport) {
    GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub s =
        Fixtures.blocking(channel(transport));
    for (String name : List.of("classify", "iris_classifier/classify", "iris_classifier")) {
      assertTrue(s.modelReady(ModelReadyRequest.newBuilder().setName(name).build()).getReady());
      assertTrue(s.modelReady(ModelReadyRequest.newBuilder().setName(name).setVersion("1.0.0")
          .build()).getReady());
      ModelMetadataResponse m = s.modelMetadata(ModelMetadataRequest.newBuilder().setName(name)
          .build());
      assertEquals("classify", m.getName());
      assertEquals(List.of("1.0.0"), m.getVersionsList());
      assertEquals("onnxruntime_onnx", m.getPlatform());
      assertEquals(List.of("sepal_length", "sepal_width", "petal_length", "petal_width"),
          m.getInputsList().stream().map(ModelMetadataResponse.TensorMetadata::getName).toList());
      for (ModelMetadataResponse.TensorMetadata t : m.getInputsList()) {
        assertEquals("FP32", t.getDatatype());
        assertEquals(List.of(-1L), t.getShapeList());
      }
      assertEquals("label", m.getOutputs(0).getName());
      assertEquals("BYTES", m.getOutputs(0).getDatatype());
      assertEquals(List.of(-1L), m.getOutputs(0).getShapeList());
      assertEquals("probabilities", m.getOutputs(1).getName());
      assertEquals("FP32", m.getOutputs(1).getDatatype());
      assertEquals(List.of(-1L, 3L), m.getOutputs(1).getShapeList());
      assertEquals("iris_classifier", m.getPropertiesOrThrow("bundle"));
      assertEquals("1.0.0", m.getPropertiesOrThrow("bundle_version"));
      assertTrue(m.getPropertiesOrThrow("bundle_digest").startsWith("sha256:"));
      assertEquals("classifier", m.getPropertiesOrThrow("model"));
      assertEquals("dataframe", m.getPropertiesOrThrow("input_kind"));
      assertEquals("classify,classify_tensor", m.getPropertiesOrThrow("apis"));
    }
    ModelMetadataResponse t = s.modelMetadata(ModelMetadataRequest.newBuilder()
        .setName("classify_tensor").build());
    assertEquals("features", t.getInputs(0).getName());
    assertEquals(List.of(-1L, 4L), t.getInputs(0).getShapeList());
    assertEquals("tensor", t.getPropertiesOrThrow("input_kind"));
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "uds"})
  void unknownModelsAndVersionsAreNotFoundAndNameTheKnownOnes(String transport) {
    GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub s =
        Fixtures.blocking(channel(transport));
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () ->
        s.modelMetadata(ModelMetadataRequest.newBuilder().setName("nope").build()));
    assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
    assertTrue(e.getStatus().getDescription().contains("'nope'"));
    assertTrue(e.getStatus().getDescription().contains("classify_tensor"), e.getMessage());
    e = assertThrows(StatusRuntimeException.class, () ->
        s.modelReady(ModelReadyRequest.newBuilder().setName("classify").setVersion("9").build()));
    assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
    assertTrue(e.getStatus().getDescription().contains("[1.0.0]"), e.getMessage());
    e = assertThrows(StatusRuntimeException.class, () ->
        s.modelInfer(Fixtures.rawRequest("nope", "features", new float[4], 1, 4)));
    assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
  }

  /** The dataframe API (four scalar columns, raw) equals scikit-learn's predictions. */
  @ParameterizedTest
  @ValueSource(strings = {"tcp", "uds"})
  void irisDataframeApiMatchesExpectedPredictions(String transport) {
    int n = x.length / 4;
    ModelInferRequest.Builder r = ModelInferRequest.newBuilder().setModelName("classify")
        .setId("df-1");
    String[] cols = {"sepal_length", "sepal_width", "petal_length", "petal_width"};
    for (int c = 0; c < 4; c++) {
      float[] col = new float[n];
      for (int i = 0; i < n; i++) {
        col[i] = x[i * 4 + c];
      }
      r.addInputs(Fixtures.fp32(cols[c], n)).addRawInputContents(Fixtures.floats(col));
    }
    ModelInferResponse resp = Fixtures.blocking(channel(transport)).modelInfer(r.build());
    assertEquals("df-1", resp.getId());
    assertEquals("classify", resp.getModelName());
    assertEquals("1.0.0", resp.getModelVersion());
    checkIris(resp, n);
  }

  /** The tensor API (one [N, 4] column, raw) equals scikit-learn's predictions. */
  @ParameterizedTest
  @ValueSource(strings = {"tcp", "uds"})
  void irisTensorApiMatchesExpectedPredictions(String transport) {
    int n = x.length / 4;
    ModelInferResponse resp = Fixtures.blocking(channel(transport))
        .modelInfer(Fixtures.rawRequest("iris_classifier/classify_tensor", "features", x, n, 4));
    assertEquals("classify_tensor", resp.getModelName());
    checkIris(resp, n);
  }

  /**
   * A client that knows only the Open Inference Protocol: model name = bundle name, typed
   * {@code contents}, and also the ONNX model's own input name.
   */
  @ParameterizedTest
  @ValueSource(strings = {"tcp", "uds"})
  void plainOipClientWithTypedContents(String transport) {
    GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub s =
        Fixtures.blocking(channel(transport));
    ModelMetadataResponse meta = s.modelMetadata(ModelMetadataRequest.newBuilder()
        .setName("iris_classifier").build());
    int n = x.length / 4;
    ModelInferRequest.Builder r = ModelInferRequest.newBuilder().setModelName("iris_classifier");
    for (int c = 0; c < meta.getInputsCount(); c++) {
      InferTensorContents.Builder contents = InferTensorContents.newBuilder();
      for (int i = 0; i < n; i++) {
        contents.addFp32Contents(x[i * 4 + c]);
      }
      r.addInputs(ModelInferRequest.InferInputTensor.newBuilder()
          .setName(meta.getInputs(c).getName()).setDatatype(meta.getInputs(c).getDatatype())
          .addShape(n).setContents(contents));
    }
    checkIris(s.modelInfer(r.build()), n);

    InferTensorContents.Builder all = InferTensorContents.newBuilder();
    for (float v : x) {
      all.addFp32Contents(v);
    }
    ModelInferResponse passThrough = s.modelInfer(ModelInferRequest.newBuilder()
        .setModelName("iris_classifier")
        .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("input")
            .setDatatype("FP32").addShape(n).addShape(4).setContents(all))
        .build());
    checkIris(passThrough, n);
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "uds"})
  void requestedOutputsOnly(String transport) {
    ModelInferResponse resp = Fixtures.blocking(channel(transport)).modelInfer(
        Fixtures.rawRequest("classify_tensor", "features", x, x.length / 4, 4).toBuilder()
            .addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder()
                .setName("probabilities"))
            .build());
    assertEquals(1, resp.getOutputsCount());
    assertEquals("probabilities", resp.getOutputs(0).getName());
  }

  /** The stream answers in request order; a bad request gets error_message, the stream goes on. */
  @ParameterizedTest
  @ValueSource(strings = {"tcp", "uds"})
  void streamAnswersInOrderAndSurvivesBadRequests(String transport) throws Exception {
    int n = 40;
    List<ModelStreamInferResponse> got = new ArrayList<>();
    CompletableFuture<Void> done = new CompletableFuture<>();
    StreamObserver<ModelInferRequest> in = GRPCInferenceServiceGrpc.newStub(channel(transport))
        .modelStreamInfer(new StreamObserver<>() {
          @Override
          public void onNext(ModelStreamInferResponse v) {
            synchronized (got) {
              got.add(v);
            }
          }

          @Override
          public void onError(Throwable t) {
            done.completeExceptionally(t);
          }

          @Override
          public void onCompleted() {
            done.complete(null);
          }
        });
    for (int i = 0; i < n; i++) {
      int rows = 1 + i % 7;
      float[] part = java.util.Arrays.copyOfRange(x, 0, rows * 4);
      ModelInferRequest req = i % 10 == 3
          ? Fixtures.rawRequest("classify_tensor", "features", part, rows, 5)
          : Fixtures.rawRequest(i % 2 == 0 ? "classify_tensor" : "iris_classifier", "input",
              part, rows, 4);
      in.onNext(req.toBuilder().setId("r" + i).build());
    }
    in.onCompleted();
    done.get(60, TimeUnit.SECONDS);
    assertEquals(n, got.size());
    for (int i = 0; i < n; i++) {
      ModelStreamInferResponse r = got.get(i);
      assertEquals("r" + i, r.getInferResponse().getId());
      if (i % 10 == 3) {
        assertTrue(r.getErrorMessage().startsWith("INVALID_ARGUMENT"), r.getErrorMessage());
        assertTrue(r.getErrorMessage().contains("[-1, 4]"), r.getErrorMessage());
      } else {
        assertEquals("", r.getErrorMessage());
        checkIris(r.getInferResponse(), 1 + i % 7);
      }
    }
    ApiStats st = Fixtures.stats(channel(transport), "classify_tensor");
    assertTrue(st.getRequests() >= 20);
  }

  private void checkIris(ModelInferResponse resp, int n) {
    assertEquals(2, resp.getOutputsCount());
    assertEquals("label", resp.getOutputs(0).getName());
    assertEquals("BYTES", resp.getOutputs(0).getDatatype());
    assertEquals(List.of((long) n), resp.getOutputs(0).getShapeList());
    assertEquals("FP32", resp.getOutputs(1).getDatatype());
    assertEquals(List.of((long) n, 3L), resp.getOutputs(1).getShapeList());
    String[] labels = RawCodec.decodeStrings(resp.getRawOutputContents(0), n);
    float[] p = RawCodec.decodeFloats(resp.getRawOutputContents(1));
    assertEquals(n * 3, p.length);
    for (int i = 0; i < n; i++) {
      String[] e = expected.get(i);
      assertEquals(SPECIES[Integer.parseInt(e[0])], labels[i], "row " + i);
      for (int c = 0; c < 3; c++) {
        assertEquals(Double.parseDouble(e[1 + c]), p[i * 3 + c], 1e-5, "row " + i + " p" + c);
      }
    }
  }
}
