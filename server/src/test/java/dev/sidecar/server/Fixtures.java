package dev.sidecar.server;

import com.google.protobuf.ByteString;
import dev.sidecar.bundle.Bundle;
import dev.sidecar.bundle.BundleArchive;
import dev.sidecar.bundle.BundleBuilder;
import dev.sidecar.proto.inference.GRPCInferenceServiceGrpc;
import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.proto.stats.ApiStats;
import dev.sidecar.proto.stats.SidecarStatsServiceGrpc;
import dev.sidecar.proto.stats.StatsRequest;
import dev.sidecar.tensor.RawCodec;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** Builds real bundles (real .onnx files, real archives) and requests for the server tests. */
public final class Fixtures {
  static final Path IRIS_DIR = Path.of("..", "examples", "iris").toAbsolutePath().normalize();

  private Fixtures() {
  }

  /** Writes the models and bundle.yaml into {@code work}, builds the archive and unpacks it. */
  public static Bundle bundle(Path work, String yaml, Map<String, byte[]> models) {
    try {
      Path src = Files.createDirectories(work.resolve("src"));
      for (Map.Entry<String, byte[]> m : models.entrySet()) {
        Files.write(src.resolve(m.getKey()), m.getValue());
      }
      Files.writeString(src.resolve("bundle.yaml"), yaml);
      Path archive = work.resolve("b.bundle");
      BundleBuilder.fromSpec(src.resolve("bundle.yaml")).build(archive);
      return BundleArchive.unpack(archive, work.resolve("unpacked"));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The iris example bundle (examples/iris), built and unpacked under {@code work}. */
  static Bundle iris(Path work) {
    try {
      Path src = Files.createDirectories(work.resolve("iris-src"));
      for (String f : List.of("bundle.yaml", "iris_classifier.onnx", "README.md")) {
        Files.copy(IRIS_DIR.resolve(f), src.resolve(f));
      }
      Path archive = work.resolve("iris.bundle");
      BundleBuilder.fromSpec(src.resolve("bundle.yaml")).build(archive);
      return BundleArchive.unpack(archive, work.resolve("iris"));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** iris.csv features, row-major [150, 4]. */
  static float[] irisFeatures() {
    List<String[]> rows = csv(IRIS_DIR.resolve("iris.csv"));
    float[] x = new float[rows.size() * 4];
    for (int r = 0; r < rows.size(); r++) {
      for (int c = 0; c < 4; c++) {
        x[r * 4 + c] = Float.parseFloat(rows.get(r)[c]);
      }
    }
    return x;
  }

  /** expected_predictions.csv: label index and three probabilities per row. */
  static List<String[]> irisExpected() {
    return csv(IRIS_DIR.resolve("expected_predictions.csv"));
  }

  static List<String[]> csv(Path file) {
    try {
      List<String[]> out = new ArrayList<>();
      List<String> lines = Files.readAllLines(file);
      for (String l : lines.subList(1, lines.size())) {
        if (!l.isBlank()) {
          out.add(l.split(","));
        }
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A raw FP32 input tensor. */
  static ModelInferRequest.InferInputTensor fp32(String name, long... shape) {
    ModelInferRequest.InferInputTensor.Builder b = ModelInferRequest.InferInputTensor.newBuilder()
        .setName(name).setDatatype("FP32");
    for (long d : shape) {
      b.addShape(d);
    }
    return b.build();
  }

  /** A request with one raw FP32 input. */
  public static ModelInferRequest rawRequest(String model, String input, float[] x,
      long... shape) {
    return ModelInferRequest.newBuilder().setModelName(model)
        .addInputs(fp32(input, shape))
        .addRawInputContents(RawCodec.encodeFloats(x, 0, x.length))
        .build();
  }

  static ByteString floats(float... x) {
    return RawCodec.encodeFloats(x, 0, x.length);
  }

  static GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub blocking(ManagedChannel ch) {
    return GRPCInferenceServiceGrpc.newBlockingStub(ch);
  }

  static ApiStats stats(ManagedChannel ch, String api) {
    return SidecarStatsServiceGrpc.newBlockingStub(ch).stats(StatsRequest.getDefaultInstance())
        .getApisList().stream().filter(a -> a.getApi().equals(api)).findFirst().orElseThrow();
  }

  /** Holds an inference worker inside its model call until released (a {@code ModelCallHook}). */
  static final class Gate {
    final CountDownLatch entered = new CountDownLatch(1);
    final CountDownLatch release = new CountDownLatch(1);

    /** Holds the calling worker while {@code gate} is set (at most a minute). */
    static void pass(Gate gate) {
      if (gate == null) {
        return;
      }
      gate.entered.countDown();
      try {
        gate.release.await(60, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** Sleeps, keeping the interrupt for the caller to see. */
  static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  static void close(ManagedChannel ch) throws InterruptedException {
    ch.shutdownNow();
    ch.awaitTermination(10, TimeUnit.SECONDS);
  }
}
