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
import dev.sidecar.tensor.RawCodec;
import dev.sidecar.testkit.OnnxModels;
import dev.sidecar.wire.ReadyLine;
import dev.sidecar.wire.SidecarChannels;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
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
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@link SidecarMain} as a real process: the READY line, SIGTERM under load, parent death. */
class SidecarMainIT {
  static final int IN = 256;
  static final int[] HIDDEN = {512, 512};
  static final int OUT = 16;

  @TempDir
  static Path tmp;

  private static Bundle bundle;

  @BeforeAll
  static void build() {
    String yaml = String.join("\n",
        "name: mlp",
        "version: \"1\"",
        "models:",
        "  - {name: mlp, path: mlp.onnx}",
        "apis:",
        "  - name: score",
        "    model: mlp",
        "    input: {kind: tensor, column: x, model_input: x, dtype: float32, shape: [-1, 256]}",
        "    outputs:",
        "      - {name: y, from: y, shape: [-1, 16]}",
        "");
    bundle = Fixtures.bundle(tmp, yaml, Map.of("mlp.onnx", OnnxModels.mlp(IN, HIDDEN, OUT, 11)));
  }

  private static Process launch(Path log, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"),
        "-Xmx512m", SidecarMain.class.getName()));
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd).redirectError(log.toFile()).start();
  }

  private static String awaitReady(Process p, Path log) throws Exception {
    BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(),
        StandardCharsets.UTF_8));
    CompletableFuture<String> line = CompletableFuture.supplyAsync(() -> {
      try {
        return out.readLine();
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    String l = line.get(90, TimeUnit.SECONDS);
    assertNotNull(l, "no READY line; stderr: " + Files.readString(log));
    return ReadyLine.target(l).orElseThrow(() -> new AssertionError("not the ready line: " + l));
  }

  @Test
  @Timeout(value = 4, unit = TimeUnit.MINUTES)
  void sigtermDuringLoadAnswersEveryAcceptedRequestAndExitsZero() throws Exception {
    Path log = tmp.resolve("sigterm.log");
    Path sock = tmp.resolve("main.sock");
    Process p = launch(log, "--bundle-dir", bundle.root().toString(), "--socket",
        sock.toString(), "--parent-pid", Long.toString(ProcessHandle.current().pid()),
        "--intra-op-threads", "1");
    String target = awaitReady(p, log);
    assertEquals("unix://" + sock.toAbsolutePath(), target);
    ManagedChannel ch = SidecarChannels.forTarget(target);
    AtomicInteger ok = new AtomicInteger();
    int callers = 6;
    ExecutorService pool = Executors.newFixedThreadPool(callers);
    List<Future<String>> ends = new ArrayList<>();
    try {
      for (int c = 0; c < callers; c++) {
        int caller = c;
        ends.add(pool.submit(() -> {
          for (int i = 0; ; i++) {
            float[] x = OnnxModels.randomFloats(4 * IN, caller * 100_000L + i);
            try {
              ModelInferResponse r = GRPCInferenceServiceGrpc.newBlockingStub(ch)
                  .withDeadlineAfter(60, TimeUnit.SECONDS)
                  .modelInfer(Fixtures.rawRequest("score", "x", x, 4, IN));
              assertArrayEquals(OnnxModels.mlpPredict(IN, HIDDEN, OUT, 11, x),
                  RawCodec.decodeFloats(r.getRawOutputContents(0)), 1e-3f);
              ok.incrementAndGet();
            } catch (StatusRuntimeException e) {
              return e.getStatus().getCode().name();
            }
          }
        }));
      }
      StreamResult stream = startStream(ch, ok);
      for (int i = 0; i < 12_000 && ok.get() < 60; i++) {
        Thread.sleep(5);
      }
      assertTrue(ok.get() >= 60, "only " + ok.get() + " answers within a minute");
      p.destroy(); // SIGTERM
      assertTrue(p.waitFor(60, TimeUnit.SECONDS), "sidecar did not exit after SIGTERM");
      assertEquals(0, p.exitValue(), Files.readString(log));
      for (Future<String> f : ends) {
        String code = f.get(60, TimeUnit.SECONDS);
        assertEquals("UNAVAILABLE", code, "callers may only see 'not accepted'");
      }
      Status end = stream.end.get(60, TimeUnit.SECONDS);
      assertTrue(end.isOk() || end.getCode() == Status.Code.UNAVAILABLE, end.toString());
      assertEquals("", stream.problem.toString());
    } finally {
      pool.shutdownNow();
      Fixtures.close(ch);
      p.destroyForcibly();
    }
    String err = Files.readString(log);
    Matcher m = Pattern.compile("sidecar stopped: accepted=(\\d+) answered=(\\d+)").matcher(err);
    assertTrue(m.find(), err);
    long accepted = Long.parseLong(m.group(1));
    long answered = Long.parseLong(m.group(2));
    assertEquals(accepted, answered, "an accepted request went unanswered");
    assertEquals(answered, ok.get(), "client saw a different number of answers than the server sent");
    assertTrue(!Files.exists(sock), "socket file left behind");
  }

  /** A stream that keeps sending 2-row requests under flow control and checks every answer. */
  private static final class StreamResult {
    final CompletableFuture<Status> end = new CompletableFuture<>();
    final StringBuilder problem = new StringBuilder();
  }

  private static StreamResult startStream(ManagedChannel ch, AtomicInteger ok) {
    StreamResult result = new StreamResult();
    List<float[]> sent = java.util.Collections.synchronizedList(new ArrayList<>());
    AtomicInteger next = new AtomicInteger();
    AtomicInteger received = new AtomicInteger();
    GRPCInferenceServiceGrpc.newStub(ch).modelStreamInfer(
        new ClientResponseObserver<ModelInferRequest, ModelStreamInferResponse>() {
          ClientCallStreamObserver<ModelInferRequest> out;

          @Override
          public void beforeStart(ClientCallStreamObserver<ModelInferRequest> requestStream) {
            out = requestStream;
            requestStream.setOnReadyHandler(() -> {
              while (out.isReady() && next.get() - received.get() < 32) {
                int i = next.getAndIncrement();
                float[] x = OnnxModels.randomFloats(2 * IN, 7_000_000L + i);
                sent.add(x);
                out.onNext(Fixtures.rawRequest("score", "x", x, 2, IN).toBuilder()
                    .setId("s" + i).build());
              }
            });
          }

          @Override
          public void onNext(ModelStreamInferResponse r) {
            int i = received.getAndIncrement();
            if (!r.getErrorMessage().isEmpty() || !r.getInferResponse().getId().equals("s" + i)) {
              result.problem.append("response ").append(i).append(": ").append(r.getErrorMessage())
                  .append(r.getInferResponse().getId()).append('\n');
            } else {
              float[] want = OnnxModels.mlpPredict(IN, HIDDEN, OUT, 11, sent.get(i));
              float[] got = RawCodec.decodeFloats(r.getInferResponse().getRawOutputContents(0));
              for (int k = 0; k < want.length; k++) {
                if (Math.abs(want[k] - got[k]) > 1e-3f) {
                  result.problem.append("response ").append(i).append(" differs\n");
                  break;
                }
              }
              ok.incrementAndGet();
            }
            out.getClass();
            if (out.isReady()) {
              int i2 = next.getAndIncrement();
              float[] x = OnnxModels.randomFloats(2 * IN, 7_000_000L + i2);
              sent.add(x);
              out.onNext(Fixtures.rawRequest("score", "x", x, 2, IN).toBuilder()
                  .setId("s" + i2).build());
            }
          }

          @Override
          public void onError(Throwable t) {
            result.end.complete(Status.fromThrowable(t));
          }

          @Override
          public void onCompleted() {
            result.end.complete(Status.OK);
          }
        });
    return result;
  }

  @Test
  @Timeout(value = 3, unit = TimeUnit.MINUTES)
  void exitsWhenTheParentProcessDies() throws Exception {
    Process parent = new ProcessBuilder("sleep", "300").start();
    Path log = tmp.resolve("parent.log");
    Process p = launch(log, "--bundle-dir", bundle.root().toString(), "--host", "127.0.0.1",
        "--port", "0", "--parent-pid", Long.toString(parent.pid()));
    try {
      String target = awaitReady(p, log);
      assertTrue(target.matches("127\\.0\\.0\\.1:\\d+"), target);
      parent.destroy();
      assertTrue(p.waitFor(60, TimeUnit.SECONDS), "sidecar outlived its parent");
      assertEquals(0, p.exitValue());
      assertTrue(Files.readString(log).contains("parent process " + parent.pid()));
    } finally {
      parent.destroyForcibly();
      p.destroyForcibly();
    }
  }

  @Test
  @Timeout(value = 3, unit = TimeUnit.MINUTES)
  void badArgumentsAndBadBundlesExitNonZeroWithAReason() throws Exception {
    Path log = tmp.resolve("bad.log");
    Process p = launch(log, "--bundle-dir", tmp.toString());
    assertTrue(p.waitFor(60, TimeUnit.SECONDS));
    assertEquals(2, p.exitValue());
    assertTrue(Files.readString(log).contains("--socket PATH or --port N"));
    Path log2 = tmp.resolve("bad2.log");
    Process q = launch(log2, "--bundle-dir", tmp.resolve("missing").toString(), "--port", "0");
    assertTrue(q.waitFor(60, TimeUnit.SECONDS));
    assertEquals(1, q.exitValue());
    assertTrue(Files.readString(log2).contains("cannot start"), Files.readString(log2));
    assertEquals(-1, q.getInputStream().read(), "stdout must stay empty on failure");
    Path log3 = tmp.resolve("bad3.log");
    Process r = launch(log3, "--bundle-dir", bundle.root().toString(), "--bundle-digest",
        "sha256:abc", "--port", "0");
    assertTrue(r.waitFor(60, TimeUnit.SECONDS));
    assertEquals(2, r.exitValue());
    assertTrue(Files.readString(log3).contains("--bundle-digest needs sha256:<64"),
        Files.readString(log3));
  }

  /**
   * A cache entry as an executor leaves it: opened without hashing while its verified marker
   * matches (the log says so), refused at start once a model was changed in place.
   */
  @Test
  @Timeout(value = 3, unit = TimeUnit.MINUTES)
  void aVerifiedCacheEntryIsTrustedAndAChangedOneRefused() throws Exception {
    Bundle cached = dev.sidecar.bundle.BundleArchive.unpackCached(tmp.resolve("b.bundle"),
        tmp.resolve("cache")).bundle();
    Path log = tmp.resolve("cached.log");
    Process p = launch(log, "--bundle-dir", cached.root().toString(), "--bundle-digest",
        cached.digest(), "--host", "127.0.0.1", "--port", "0");
    try {
      awaitReady(p, log);
      assertTrue(Files.readString(log).contains("verified marker matches every file; not hashed"
          + " again"), Files.readString(log));
    } finally {
      p.destroy();
      p.waitFor(60, TimeUnit.SECONDS);
    }
    Path model = cached.modelPath("mlp");
    java.nio.file.attribute.FileTime mtime = Files.getLastModifiedTime(model);
    try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(model.toFile(), "rw")) {
      f.seek(f.length() - 1);
      int b = f.read();
      f.seek(f.length() - 1);
      f.write(~b & 0xff);
    }
    Files.setLastModifiedTime(model, mtime);
    Path log2 = tmp.resolve("changed.log");
    Process q = launch(log2, "--bundle-dir", cached.root().toString(), "--bundle-digest",
        cached.digest(), "--host", "127.0.0.1", "--port", "0");
    assertTrue(q.waitFor(60, TimeUnit.SECONDS));
    assertEquals(1, q.exitValue());
    String err = Files.readString(log2);
    assertTrue(err.contains("cannot start") && err.contains("mlp.onnx")
        && err.contains("does not match the manifest"), err);
    assertEquals(-1, q.getInputStream().read(), "stdout must stay empty on failure");
  }
}
