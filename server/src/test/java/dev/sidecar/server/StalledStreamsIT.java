package dev.sidecar.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.proto.inference.GRPCInferenceServiceGrpc;
import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.proto.inference.ModelInferResponse;
import dev.sidecar.proto.inference.ModelStreamInferResponse;
import dev.sidecar.proto.onnx.TensorProto;
import dev.sidecar.tensor.RawCodec;
import dev.sidecar.testkit.OnnxModels;
import dev.sidecar.wire.ReadyLine;
import dev.sidecar.wire.SidecarChannels;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Clients that never read their answers cannot wedge the server: a real sidecar process on a
 * small heap (256 MB, direct memory too), 48 streams that send 400 KB requests to a pass-through
 * model (400 KB answers) and never read. Before, each stalled stream held 16 answers in direct
 * memory (about 6 MB), the writes ran out of it on the inference worker, which died, and every
 * later call timed out while health said SERVING. Now a fresh client is answered, health stays
 * SERVING, and each stalled stream is cancelled with RESOURCE_EXHAUSTED saying why.
 */
class StalledStreamsIT {
  static final int WIDTH = 256;
  static final int ROWS = 400;
  static final int STREAMS = 48;
  static final int CHANNELS = 6;
  static final int SENDS_PER_STREAM = 24;

  @TempDir
  static Path tmp;

  private static Bundle bundle;

  @BeforeAll
  static void build() {
    String yaml = String.join("\n",
        "name: echo",
        "version: \"1\"",
        "models:",
        "  - {name: pass, path: pass.onnx}",
        "apis:",
        "  - name: echo",
        "    model: pass",
        "    input: {kind: tensor, column: x, model_input: x, dtype: float32, shape: [-1, 256]}",
        "    outputs:",
        "      - {name: y, from: y, shape: [-1, 256]}",
        "");
    bundle = Fixtures.bundle(tmp, yaml, Map.of("pass.onnx",
        OnnxModels.identity(TensorProto.DataType.FLOAT_VALUE, -1, WIDTH)));
  }

  /** A stream that sends while the server asks for more and never reads an answer. */
  private static final class StalledStream
      implements ClientResponseObserver<ModelInferRequest, ModelStreamInferResponse> {
    final CompletableFuture<Status> end = new CompletableFuture<>();
    final AtomicInteger received = new AtomicInteger();
    private final ModelInferRequest request;
    private ClientCallStreamObserver<ModelInferRequest> out;
    private int sent;

    StalledStream(ModelInferRequest request) {
      this.request = request;
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<ModelInferRequest> requestStream) {
      out = requestStream;
      requestStream.disableAutoRequestWithInitial(0);
      requestStream.setOnReadyHandler(() -> {
        synchronized (this) {
          while (out.isReady() && sent < SENDS_PER_STREAM) {
            out.onNext(request);
            sent++;
          }
        }
      });
    }

    /** Starts reading at last: what the server kept for this stream, then its end. */
    void read() {
      out.request(Integer.MAX_VALUE);
    }

    @Override
    public void onNext(ModelStreamInferResponse r) {
      received.incrementAndGet();
    }

    @Override
    public void onError(Throwable t) {
      end.complete(Status.fromThrowable(t));
    }

    @Override
    public void onCompleted() {
      end.complete(Status.OK);
    }
  }

  @Test
  @Timeout(value = 4, unit = TimeUnit.MINUTES)
  void streamsThatNeverReadCannotWedgeTheServer() throws Exception {
    Path log = tmp.resolve("stalled.log");
    List<String> cmd = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"),
        "-Xmx256m", "-XX:MaxDirectMemorySize=256m",
        "-Dslf4j.provider=dev.sidecar.server.internal.StderrLoggerProvider",
        SidecarMain.class.getName(), "--bundle-dir", bundle.root().toString(),
        "--port", "0", "--stream-stall-timeout-ms", "3000"));
    Process p = new ProcessBuilder(cmd).redirectError(log.toFile()).start();
    List<ManagedChannel> channels = new ArrayList<>();
    try {
      String target = awaitReady(p, log);
      float[] big = OnnxModels.randomFloats(ROWS * WIDTH, 1);
      ModelInferRequest request = Fixtures.rawRequest("echo", "x", big, ROWS, WIDTH);
      List<StalledStream> stalled = new ArrayList<>();
      for (int c = 0; c < CHANNELS; c++) {
        channels.add(SidecarChannels.forTarget(target));
      }
      for (int s = 0; s < STREAMS; s++) {
        StalledStream st = new StalledStream(request);
        GRPCInferenceServiceGrpc.newStub(channels.get(s % CHANNELS)).modelStreamInfer(st);
        stalled.add(st);
      }
      ManagedChannel fresh = SidecarChannels.forTarget(target);
      channels.add(fresh);
      // Every stalled stream has had answers made for it (and not taken).
      awaitRows(fresh, (long) STREAMS * ROWS);
      answersCorrectly(fresh);
      assertEquals(ServingStatus.SERVING, health(fresh, ""));
      assertEquals(ServingStatus.SERVING, health(fresh, "echo"));

      // The server gives up on each stalled stream, saying why.
      // (Under load the client transport sometimes resets a few streams itself; those count as
      // ended too, and the server logs them as cancelled by their client.)
      awaitLines(log, "cancelled", STREAMS);
      for (StalledStream st : stalled) {
        st.read();
      }
      int byServer = 0;
      for (StalledStream st : stalled) {
        Status end = st.end.get(60, TimeUnit.SECONDS);
        if (end.getCode() == Status.Code.CANCELLED) {
          continue;
        }
        byServer++;
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, end.getCode(), end.toString());
        assertTrue(end.getDescription().contains("client took no answer for"),
            end.getDescription());
        assertTrue(end.getDescription().contains("read a stream's answers as they come"),
            end.getDescription());
      }
      assertTrue(byServer >= STREAMS / 2, byServer + " of " + STREAMS + " streams were cancelled "
          + "by the server");
      answersCorrectly(fresh);
      assertEquals(ServingStatus.SERVING, health(fresh, ""));
      String err = Files.readString(log);
      assertTrue(!err.contains("OutOfMemoryError") && !err.contains("OutOfDirectMemory"), err);
    } finally {
      for (ManagedChannel ch : channels) {
        Fixtures.close(ch);
      }
      p.destroy();
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly();
      }
    }
  }

  private static String awaitReady(Process p, Path log) throws Exception {
    BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(),
        StandardCharsets.UTF_8));
    String line = CompletableFuture.supplyAsync(() -> {
      try {
        return out.readLine();
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }).get(90, TimeUnit.SECONDS);
    assertNotNull(line, "no READY line; stderr: " + Files.readString(log));
    return ReadyLine.target(line)
        .orElseThrow(() -> new AssertionError("not the ready line: " + line));
  }

  /** A small request on a fresh channel comes back unchanged (the model passes it through). */
  private static void answersCorrectly(ManagedChannel ch) {
    float[] x = OnnxModels.randomFloats(2 * WIDTH, 7);
    ModelInferResponse r = GRPCInferenceServiceGrpc.newBlockingStub(ch)
        .withDeadlineAfter(30, TimeUnit.SECONDS)
        .modelInfer(Fixtures.rawRequest("echo", "x", x, 2, WIDTH));
    assertArrayEquals(x, RawCodec.decodeFloats(r.getRawOutputContents(0)));
  }

  private static ServingStatus health(ManagedChannel ch, String service) {
    return HealthGrpc.newBlockingStub(ch).withDeadlineAfter(30, TimeUnit.SECONDS)
        .check(HealthCheckRequest.newBuilder().setService(service).build()).getStatus();
  }

  private static void awaitRows(ManagedChannel ch, long rows) {
    long seen = 0;
    for (int i = 0; i < 600 && seen < rows; i++) {
      seen = Fixtures.stats(ch, "echo").getRows();
      Fixtures.sleep(100);
    }
    assertTrue(seen >= rows, "the server answered " + seen + " rows, expected " + rows);
  }

  private static void awaitLines(Path log, String text, int count) throws Exception {
    long n = 0;
    for (int i = 0; i < 600 && n < count; i++) {
      n = Files.readAllLines(log).stream().filter(l -> l.contains(text)).count();
      Fixtures.sleep(100);
    }
    assertEquals(count, n, "log lines with '" + text + "':\n" + Files.readString(log));
  }
}
