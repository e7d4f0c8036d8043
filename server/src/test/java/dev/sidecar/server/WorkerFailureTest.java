package dev.sidecar.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.proto.inference.GRPCInferenceServiceGrpc;
import dev.sidecar.proto.inference.ModelInferResponse;
import dev.sidecar.proto.inference.ModelReadyRequest;
import dev.sidecar.tensor.RawCodec;
import dev.sidecar.wire.SidecarChannels;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An inference worker whose batch throws an {@link Error} (here an OutOfMemoryError raised in
 * the model-call stage of the real path) fails that batch with INTERNAL naming the cause and
 * goes on; an API whose batches keep failing so is reported NOT_SERVING by gRPC health and
 * ModelReady, and SERVING again once a batch succeeds.
 */
class WorkerFailureTest {
  @TempDir
  static Path tmp;

  /** Model calls of {@code classify_tensor} still to fail with an OutOfMemoryError. */
  private static final AtomicInteger failNext = new AtomicInteger();
  private static ModelServer server;
  private static ManagedChannel ch;

  @BeforeAll
  static void start() throws Exception {
    server = ModelServer.builder(Fixtures.iris(tmp)).beforeModelCall((api, rows) -> {
      if (api.equals("classify_tensor") && failNext.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
        throw new OutOfMemoryError("Cannot reserve 819200 bytes of direct buffer memory");
      }
    }).start();
    ch = SidecarChannels.forTarget(server.target());
  }

  @AfterAll
  static void stop() throws Exception {
    Fixtures.close(ch);
    server.close();
  }

  private static ModelInferResponse classify() {
    return GRPCInferenceServiceGrpc.newBlockingStub(ch).withDeadlineAfter(30, TimeUnit.SECONDS)
        .modelInfer(Fixtures.rawRequest("classify_tensor", "features",
            new float[] {5.1f, 3.5f, 1.4f, 0.2f}, 1, 4));
  }

  private static void failsWithTheCause() {
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
        WorkerFailureTest::classify);
    assertEquals(Status.Code.INTERNAL, e.getStatus().getCode(), e.getMessage());
    assertTrue(e.getStatus().getDescription().contains("OutOfMemoryError: Cannot reserve"),
        e.getStatus().getDescription());
  }

  private static ServingStatus health(String service) {
    return HealthGrpc.newBlockingStub(ch).withDeadlineAfter(30, TimeUnit.SECONDS)
        .check(HealthCheckRequest.newBuilder().setService(service).build()).getStatus();
  }

  private static boolean ready(String model) {
    return GRPCInferenceServiceGrpc.newBlockingStub(ch).withDeadlineAfter(30, TimeUnit.SECONDS)
        .modelReady(ModelReadyRequest.newBuilder().setName(model).build()).getReady();
  }

  private static void answersSetosa() {
    assertArrayEquals(new String[] {"setosa"},
        RawCodec.decodeStrings(classify().getRawOutputContents(0), 1));
  }

  @Test
  void anErrorInABatchFailsItsCallsAndTheWorkerGoesOn() {
    failNext.set(1);
    failsWithTheCause();
    answersSetosa();
    answersSetosa();
    assertEquals(ServingStatus.SERVING, health("classify_tensor"));
    assertEquals(ServingStatus.SERVING, health(""));
  }

  @Test
  void anApiWhoseBatchesKeepFailingIsNotServingUntilOneSucceeds() {
    failNext.set(3);
    for (int i = 0; i < 3; i++) {
      failsWithTheCause();
    }
    assertEquals(ServingStatus.NOT_SERVING, health("classify_tensor"));
    assertEquals(ServingStatus.NOT_SERVING, health("iris_classifier/classify_tensor"));
    assertEquals(ServingStatus.NOT_SERVING, health(""));
    assertEquals(ServingStatus.NOT_SERVING, health("inference.GRPCInferenceService"));
    assertFalse(ready("classify_tensor"));
    // The other API has its own workers and still serves.
    assertEquals(ServingStatus.SERVING, health("classify"));
    assertTrue(ready("classify"));

    answersSetosa();
    // The worker notes the success once the batch's answers are out.
    awaitServing("classify_tensor");
    awaitServing("");
    assertTrue(ready("classify_tensor"));
  }

  private static void awaitServing(String service) {
    for (int i = 0; i < 3000 && health(service) != ServingStatus.SERVING; i++) {
      Fixtures.sleep(10);
    }
    assertEquals(ServingStatus.SERVING, health(service));
  }
}
