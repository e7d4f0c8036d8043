package dev.sidecar.testkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The benchmark models (MLP, tree ensemble, large model) against their plain-Java references. */
class ComputeHeavyModelsTest {

  static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();

  @Test
  void mlpMatchesItsJavaReference() throws OrtException {
    int in = 256;
    int[] hidden = {512, 512};
    int out = 16;
    long seed = 11;
    int rows = 24;
    float[] xs = OnnxModels.randomFloats(rows * in, 5);
    float[] expected = OnnxModels.mlpPredict(in, hidden, out, seed, xs);
    float[] actual;
    try (OrtSession s = session(OnnxModels.mlp(in, hidden, out, seed));
         OnnxTensor x = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(xs), new long[] {rows, in});
         OrtSession.Result r = s.run(Map.of("x", x))) {
      OnnxTensor y = (OnnxTensor) r.get("y").orElseThrow();
      assertArrayEquals(new long[] {rows, out}, y.getInfo().getShape());
      actual = OnnxModelsTest.toArray(y.getFloatBuffer());
    }
    assertClose(expected, actual, 1e-4);
    // the outputs are spread out, not collapsed to zero by the Relus
    assertTrue(Arrays.stream(box(expected)).filter(v -> Math.abs(v) > 0.1).count() > expected.length / 2,
        Arrays.toString(expected));
  }

  @Test
  void mlpWithoutHiddenLayersIsOneAffineMap() throws OrtException {
    float[] xs = OnnxModels.randomFloats(3 * 4, 1);
    try (OrtSession s = session(OnnxModels.mlp(4, new int[0], 2, 9));
         OnnxTensor x = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(xs), new long[] {3, 4});
         OrtSession.Result r = s.run(Map.of("x", x))) {
      assertClose(OnnxModels.mlpPredict(4, new int[0], 2, 9, xs),
          OnnxModelsTest.toArray(((OnnxTensor) r.get(0)).getFloatBuffer()), 1e-5);
    }
    assertThrows(IllegalArgumentException.class, () -> OnnxModels.mlp(4, new int[] {0}, 2, 1));
  }

  @Test
  void treeEnsembleMatchesItsJavaReference() throws OrtException {
    int trees = 300;
    int depth = 8;
    int features = 32;
    long seed = 3;
    int rows = 200;
    byte[] model = OnnxModels.treeEnsemble(trees, depth, features, seed);
    float[] xs = OnnxModels.randomFloats(rows * features, 17);
    float[] expected = OnnxModels.treeEnsemblePredict(trees, depth, features, seed, xs);
    try (OrtSession s = session(model);
         OnnxTensor x = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(xs), new long[] {rows, features});
         OrtSession.Result r = s.run(Map.of("x", x))) {
      OnnxTensor y = (OnnxTensor) r.get("y").orElseThrow();
      assertArrayEquals(new long[] {rows, 1}, y.getInfo().getShape());
      assertClose(expected, OnnxModelsTest.toArray(y.getFloatBuffer()), 1e-4);
    }
    // rows land in different leaves, so the check is not trivially satisfied
    assertTrue(Arrays.stream(box(expected)).distinct().count() == rows);
  }

  @Test
  void smallTreeEnsembleFollowsTheSplits() throws OrtException {
    float[] xs = OnnxModels.randomFloats(50 * 2, 23);
    try (OrtSession s = session(OnnxModels.treeEnsemble(1, 2, 2, 4));
         OnnxTensor x = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(xs), new long[] {50, 2});
         OrtSession.Result r = s.run(Map.of("x", x))) {
      float[] expected = OnnxModels.treeEnsemblePredict(1, 2, 2, 4, xs);
      float[] actual = OnnxModelsTest.toArray(((OnnxTensor) r.get(0)).getFloatBuffer());
      assertArrayEquals(expected, actual, 0f); // one tree: exactly one leaf weight per row
      assertTrue(Arrays.stream(box(expected)).distinct().count() > 1);
    }
    var e = assertThrows(IllegalArgumentException.class, () -> OnnxModels.treeEnsemble(1, 0, 2, 1));
    assertTrue(e.getMessage().contains("depth=0"), e.getMessage());
  }

  @Test
  void largeModelStreamsToAFileOfTheRequestedSize(@TempDir Path dir) throws Exception {
    long approx = 8L << 20;
    long seed = 99;
    Path file = OnnxModels.writeLargeModel(dir.resolve("big/large.onnx"), approx, seed);
    long size = Files.size(file);
    assertTrue(Math.abs(size - approx) <= 16, "size " + size + " for " + approx);
    try (OrtSession s = ENV.createSession(file.toString(), new OrtSession.SessionOptions())) {
      long count = Long.parseLong(s.getMetadata().getCustomMetadata().get("weight_count"));
      assertTrue(count > (approx - 1024) / 4 && count <= approx / 4, "weight_count " + count);
      long[] index = {0, 1, count / 2, count - 1, 7};
      try (OnnxTensor x = OnnxTensor.createTensor(ENV, index);
           OrtSession.Result r = s.run(Map.of("index", x))) {
        float[] y = (float[]) r.get("y").orElseThrow().getValue();
        for (int i = 0; i < index.length; i++) {
          assertEquals(OnnxModels.largeModelWeight(seed, index[i]), y[i], 0f, "weights[" + index[i] + "]");
        }
      }
      // Gather checks its indices: an index past the end is an error, not garbage
      try (OnnxTensor x = OnnxTensor.createTensor(ENV, new long[] {count});
           OrtSession.RunOptions quiet = new OrtSession.RunOptions()) {
        quiet.setLogLevel(OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL);
        OrtException e = assertThrows(OrtException.class, () -> s.run(Map.of("index", x), quiet).close());
        assertTrue(e.getMessage().contains("out of data bounds"), e.getMessage());
      }
    }
  }

  @Test
  void largeModelInMemoryEqualsTheStreamedFile(@TempDir Path dir) throws Exception {
    for (long approx : new long[] {1, 200, 1_000_003}) {
      byte[] bytes = OnnxModels.largeModel(approx, 5);
      Path file = OnnxModels.writeLargeModel(dir.resolve("m" + approx + ".onnx"), approx, 5);
      assertArrayEquals(bytes, Files.readAllBytes(file));
      try (OrtSession s = session(bytes);
           OnnxTensor x = OnnxTensor.createTensor(ENV, new long[] {0});
           OrtSession.Result r = s.run(Map.of("index", x))) {
        assertEquals(OnnxModels.largeModelWeight(5, 0), ((float[]) r.get(0).getValue())[0], 0f);
      }
    }
    assertThrows(IllegalArgumentException.class, () -> OnnxModels.largeModel(0, 1));
    assertThrows(IllegalArgumentException.class, () -> OnnxModels.largeModel(3L << 30, 1));
    // values are spread over [-1, 1)
    double mean = 0;
    for (int i = 0; i < 10_000; i++) {
      float w = OnnxModels.largeModelWeight(1, i);
      assertTrue(w >= -1f && w < 1f, "weight " + w);
      mean += w / 10_000;
    }
    assertEquals(0, mean, 0.05);
  }

  static void assertClose(float[] expected, float[] actual, double tolerance) {
    assertEquals(expected.length, actual.length, "length");
    for (int i = 0; i < expected.length; i++) {
      double allowed = tolerance * Math.max(1, Math.abs(expected[i]));
      if (Math.abs(expected[i] - actual[i]) > allowed) {
        throw new AssertionError("element " + i + ": expected " + expected[i] + " but got " + actual[i]
            + " (tolerance " + allowed + ")");
      }
    }
  }

  static double[] box(float[] a) {
    double[] d = new double[a.length];
    for (int i = 0; i < a.length; i++) {
      d[i] = a[i];
    }
    return d;
  }

  static OrtSession session(byte[] model) throws OrtException {
    return ENV.createSession(model, new OrtSession.SessionOptions());
  }
}
