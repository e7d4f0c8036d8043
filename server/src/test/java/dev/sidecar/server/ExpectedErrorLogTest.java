package dev.sidecar.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.proto.inference.GRPCInferenceServiceGrpc;
import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.proto.inference.ModelInferResponse;
import dev.sidecar.proto.inference.ModelStreamInferResponse;
import dev.sidecar.wire.SidecarChannels;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;
import java.util.logging.StreamHandler;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Expected client errors (bad requests, messages over the size limit, a deadline that passed,
 * a stream its client cancelled) are logged as one line each, without stack traces. The log is
 * what the server writes to stderr: SLF4J (slf4j-simple in tests, the sidecar's
 * StderrLoggerProvider in the process) and java.util.logging, where gRPC logs.
 */
class ExpectedErrorLogTest {
  @TempDir
  Path tmp;

  private volatile Fixtures.Gate gate;

  /** Everything written to stderr, by SLF4J and by java.util.logging's root handlers alike. */
  private static final class Capture implements AutoCloseable {
    final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final PrintStream original = System.err;
    private final StreamHandler jul;

    Capture() {
      OutputStream tee = new OutputStream() {
        @Override
        public void write(int b) {
          synchronized (bytes) {
            bytes.write(b);
          }
          original.write(b);
        }

        @Override
        public void write(byte[] b, int off, int len) {
          synchronized (bytes) {
            bytes.write(b, off, len);
          }
          original.write(b, off, len);
        }
      };
      System.setErr(new PrintStream(tee, true, StandardCharsets.UTF_8));
      jul = new StreamHandler(tee, new SimpleFormatter());
      Logger.getLogger("").addHandler(jul);
    }

    String text() {
      jul.flush();
      synchronized (bytes) {
        return bytes.toString(StandardCharsets.UTF_8);
      }
    }

    long lines(String marker) {
      return text().lines().filter(l -> l.contains(marker)).count();
    }

    /** Waits (at most 30 s) until {@code count} lines hold {@code marker}. */
    void await(String marker, int count) {
      for (int i = 0; i < 3000 && lines(marker) < count; i++) {
        Fixtures.sleep(10);
      }
    }

    @Override
    public void close() {
      Logger.getLogger("").removeHandler(jul);
      System.setErr(original);
    }
  }

  @Test
  void eachExpectedClientErrorIsOneLogLine() throws Exception {
    ModelServer server;
    ManagedChannel ch;
    try (Capture log = new Capture()) {
      server = ModelServer.builder(Fixtures.iris(tmp))
          .options(ServerOptions.defaults().withMaxInboundMessageBytes(64 * 1024))
          .beforeModelCall((api, rows) -> Fixtures.Gate.pass(gate)).start();
      ch = SidecarChannels.forTarget(server.target());
      try {
        for (int i = 0; i < 3; i++) {
          StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () ->
              Fixtures.blocking(ch).modelInfer(Fixtures.rawRequest("classify_tensor", "nope",
                  new float[4], 1, 4)));
          assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        }
        for (int i = 0; i < 2; i++) {
          StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () ->
              Fixtures.blocking(ch).modelInfer(Fixtures.rawRequest("classify_tensor", "features",
                  new float[40_000], 10_000, 4)));
          assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
        }
        deadlinePassesInTheQueue(ch);
        streamCancelledWithARequestQueued(ch);

        log.await("unknown input 'nope'", 3);
        log.await("exceeds maximum size", 2);
        log.await("deadline passed before it was answered", 1);
        log.await("cancelled by its client", 1);
        String text = log.text();
        assertEquals(3, log.lines("unknown input 'nope'"), text);
        assertEquals(2, log.lines("exceeds maximum size"), text);
        assertEquals(1, log.lines("deadline passed before it was answered"), text);
        assertEquals(1, log.lines("cancelled by its client"), text);
        assertEquals(0, log.lines("DEADLINE_EXCEEDED"), "the dropped call is not logged again:\n"
            + text);
        assertFalse(text.lines().anyMatch(l -> l.startsWith("\tat ") || l.startsWith("Caused by")),
            "stack traces in the log:\n" + text);
      } finally {
        Fixtures.close(ch);
        server.close();
      }
    }
  }

  /** A call whose deadline passes while the worker is held is dropped unrun. */
  private void deadlinePassesInTheQueue(ManagedChannel ch) throws Exception {
    whileTheWorkerIsHeld(ch, () -> {
      StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () ->
          Fixtures.blocking(ch).withDeadlineAfter(2000, TimeUnit.MILLISECONDS)
              .modelInfer(request()));
      assertEquals(Status.Code.DEADLINE_EXCEEDED, e.getStatus().getCode());
    });
  }

  /** A stream cancelled by its client while its request waits in the queue. */
  private void streamCancelledWithARequestQueued(ManagedChannel ch) throws Exception {
    ModelInferResponse held = whileTheWorkerIsHeld(ch, () -> {
      StreamObserver<ModelInferRequest> s = GRPCInferenceServiceGrpc.newStub(ch)
          .modelStreamInfer(new StreamObserver<ModelStreamInferResponse>() {
            @Override
            public void onNext(ModelStreamInferResponse r) {
            }

            @Override
            public void onError(Throwable t) {
            }

            @Override
            public void onCompleted() {
            }
          });
      s.onNext(request());
      for (int i = 0; i < 3000 && Fixtures.stats(ch, "classify_tensor").getQueueDepth() == 0; i++) {
        Fixtures.sleep(10);
      }
      ((ClientCallStreamObserver<ModelInferRequest>) s).cancel("the test cancels", null);
    });
    assertEquals(1, held.getOutputs(0).getShape(0));
  }

  private interface Step {
    void run() throws Exception;
  }

  /**
   * Holds the only inference worker with one call while {@code step} runs, then lets it go;
   * returns the held call's answer.
   */
  private ModelInferResponse whileTheWorkerIsHeld(ManagedChannel ch, Step step) throws Exception {
    Fixtures.Gate g = new Fixtures.Gate();
    gate = g;
    try {
      var busy = GRPCInferenceServiceGrpc.newFutureStub(ch).withDeadlineAfter(60, TimeUnit.SECONDS)
          .modelInfer(request());
      assertTrue(g.entered.await(60, TimeUnit.SECONDS));
      step.run();
      gate = null;
      g.release.countDown();
      return busy.get(60, TimeUnit.SECONDS);
    } finally {
      gate = null;
      g.release.countDown();
    }
  }

  private static ModelInferRequest request() {
    return Fixtures.rawRequest("classify_tensor", "features", new float[] {5.1f, 3.5f, 1.4f, 0.2f},
        1, 4);
  }
}
