package dev.sidecar.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sidecar.proto.inference.GRPCInferenceServiceGrpc;
import dev.sidecar.proto.inference.InferTensorContents;
import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.proto.inference.ModelInferResponse;
import dev.sidecar.proto.inference.ModelMetadataRequest;
import dev.sidecar.proto.inference.ModelMetadataResponse;
import dev.sidecar.server.ServerOptions;
import dev.sidecar.tensor.RawCodec;
import dev.sidecar.wire.SidecarChannels;
import io.grpc.ManagedChannel;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code sidecar serve} and {@code sidecar stats} through picocli, on a real store and server;
 * serve reads its token from a file, stats takes it from a file and from {@code --token}.
 */
class ServeAndStatsCommandTest {
  @TempDir
  Path tmp;

  @Test
  void serveFromTheStoreAnswersAPlainOipClientAndStatsReadsItsCounters() throws Exception {
    String home = tmp.resolve("home").toString();
    assertEquals(0, BundleCliTest.run("bundle", "build", BundleCliTest.IRIS_YAML.toString(),
        "--home", home).code());

    Path tokenFile = tmp.resolve("token");
    Files.writeString(tokenFile, "tok\n");
    Files.setPosixFilePermissions(tokenFile, PosixFilePermissions.fromString("rw-------"));
    AtomicReference<String> statsTable = new AtomicReference<>();
    AtomicReference<String> statsJson = new AtomicReference<>();
    AtomicReference<ModelInferResponse> answer = new AtomicReference<>();
    AtomicReference<ModelMetadataResponse> meta = new AtomicReference<>();
    CommandLine serve = new CommandLine(new ServeCommand(server -> {
      try {
        ManagedChannel ch = SidecarChannels.forTarget(server.target(), "tok", null);
        try {
          GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub oip =
              GRPCInferenceServiceGrpc.newBlockingStub(ch);
          meta.set(oip.modelMetadata(ModelMetadataRequest.newBuilder()
              .setName("iris_classifier").build()));
          ModelInferRequest.Builder r = ModelInferRequest.newBuilder()
              .setModelName("iris_classifier");
          float[] row = {6.7f, 3.0f, 5.2f, 2.3f};
          for (int c = 0; c < 4; c++) {
            r.addInputs(ModelInferRequest.InferInputTensor.newBuilder()
                .setName(meta.get().getInputs(c).getName()).setDatatype("FP32").addShape(1)
                .setContents(InferTensorContents.newBuilder().addFp32Contents(row[c])));
          }
          answer.set(oip.modelInfer(r.build()));
        } finally {
          ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        BundleCliTest.Run t = BundleCliTest.run("stats", "--target", server.target(),
            "--token-file", tokenFile.toString());
        statsTable.set(t.code() + "\n" + t.out() + t.err());
        BundleCliTest.Run j = BundleCliTest.run("stats", "--target", server.target(),
            "--token", "tok", "--json");
        statsJson.set(j.out());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        server.close();
      }
    }));
    StringWriter out = new StringWriter();
    serve.setOut(new PrintWriter(out, true));
    serve.setErr(new PrintWriter(new StringWriter(), true));
    int code = serve.execute("iris_classifier:latest", "--home", home, "--port", "0",
        "--token-file", tokenFile.toString());
    assertEquals(0, code, out.toString());
    assertTrue(out.toString().matches("(?s)serving iris_classifier:1\\.0\\.0 \\(sha256:[0-9a-f]+\\)"
        + " on 127\\.0\\.0\\.1:\\d+\n.*"), out.toString());
    assertTrue(out.toString().contains("classify, classify_tensor"), out.toString());

    assertEquals("classify", meta.get().getName());
    assertEquals(4, meta.get().getInputsCount());
    assertEquals("virginica", RawCodec.decodeStrings(answer.get().getRawOutputContents(0), 1)[0]);

    String table = statsTable.get();
    assertTrue(table.startsWith("0\n"), table);
    assertTrue(table.contains("iris_classifier:1.0.0"), table);
    assertTrue(table.matches("(?s).*\nclassify +1 +1 +1 .*"), table);
    JsonNode j = new ObjectMapper().readTree(statsJson.get());
    assertEquals("classify", j.get("apis").get(0).get("api").asText());
    assertEquals(1, j.get("apis").get(0).get("rows").asLong());
    assertTrue(j.get("apis").get(0).get("queue_wait_p99_ms").asDouble() > 0, statsJson.get());
    assertTrue(j.get("apis").get(0).get("inference_p99_ms").asDouble() > 0, statsJson.get());
    assertEquals(0, j.get("apis").get(1).get("requests").asLong());
  }

  @Test
  void statsWithoutAServerAndHalfATlsPairFailClearly() {
    BundleCliTest.Run r = BundleCliTest.run("stats", "--target", "127.0.0.1:1");
    assertEquals(1, r.code());
    assertTrue(r.err().contains("cannot read stats from 127.0.0.1:1: UNAVAILABLE"), r.err());
    BundleCliTest.Run s = BundleCliTest.run("serve", "x:1", "--tls-cert", "c.pem");
    assertEquals(2, s.code());
    assertTrue(s.err().contains("--tls-cert and --tls-key go together"), s.err());
    BundleCliTest.Run both = BundleCliTest.run("serve", "x:1", "--port", "1", "--socket", "/tmp/a");
    assertEquals(2, both.code());
  }

  @Test
  void unknownBundleIsAOneLineFailure() {
    BundleCliTest.Run r = BundleCliTest.run("serve", "nope:1", "--home",
        tmp.resolve("empty").toString(), "--port", "0");
    assertEquals(1, r.code());
    assertTrue(r.err().contains("no bundle named 'nope'"), r.err());
  }

  @Test
  void zeroIntraOpThreadsMeansOnnxRuntimesChoiceAsInTheSidecar() {
    ServeCommand serve = new ServeCommand();
    new CommandLine(serve).parseArgs("iris_classifier:1.0.0", "--intra-op-threads", "0");
    ServerOptions o = serve.options();
    assertEquals(0, o.intraOpThreads());
    // The same server options as the sidecar process reads from the same flag.
    assertEquals(o, ServerOptions.parseArgs(List.of("--intra-op-threads", "0"), (f, v) -> {
      throw new IllegalArgumentException(f);
    }));
    assertEquals(1, new ServeCommand().options().intraOpThreads());
  }
}
