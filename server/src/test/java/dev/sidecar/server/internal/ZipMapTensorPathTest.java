package dev.sidecar.server.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxSequence;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.sidecar.bundle.DType;
import dev.sidecar.bundle.OutputSpec;
import dev.sidecar.bundle.onnx.ApiBinding.Output;
import dev.sidecar.bundle.onnx.ClassMaps;
import dev.sidecar.proto.onnx.TensorProto;
import dev.sidecar.testkit.OnnxModels;
import dev.sidecar.testkit.OnnxModels.Attr;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A ZipMap output is fetched as the tensor its ZipMap node reads (the maps are never read) and
 * answered in the declared key order, the same floats ClassMaps reads from the sequence of maps
 * of the unmodified model; a ZipMap whose input does not fit is read as maps, as before.
 */
class ZipMapTensorPathTest {
  private static final int FEATURES = 5;
  private static final long SEED = 11L;
  private static final int ROWS = 7;
  private static final String PROBS = "output_probability";

  @TempDir
  Path tmp;

  private Path classifier() throws Exception {
    Path f = tmp.resolve("m.onnx");
    Files.write(f, OnnxModels.zipMapClassifier(FEATURES, SEED, 30L, 10L, 20L));
    return f;
  }

  private static Output output(String... keys) {
    return new Output("p", PROBS, DType.FLOAT32, new long[] {keys.length}, List.of(),
        new OutputSpec.ClassMap(DType.INT64, List.of(keys), false));
  }

  private static float[] floats(AnswerEncoder.BatchOutput b) {
    FloatBuffer fb = b.numbers().duplicate().order(ByteOrder.nativeOrder()).asFloatBuffer();
    float[] f = new float[fb.remaining()];
    fb.get(f);
    return f;
  }

  /** What the unmodified model answers, read as today by ClassMaps. */
  private static float[] viaMaps(Path model, float[] x, OutputSpec.ClassMap map) throws Exception {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession s = env.createSession(model.toString(), new OrtSession.SessionOptions());
        OnnxTensor in = OnnxTensor.createTensor(env, FloatBuffer.wrap(x),
            new long[] {ROWS, FEATURES});
        OrtSession.Result r = s.run(Map.of("x", in), Set.of(PROBS))) {
      return ClassMaps.toFloats(PROBS, r.get(PROBS).orElseThrow(), map, ROWS);
    }
  }

  /** Runs the runtime for the ZipMap output and reads it as the server does. */
  private static float[] served(ModelRuntime rt, AnswerEncoder enc, float[] x) throws Exception {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OnnxTensor in = OnnxTensor.createTensor(env, FloatBuffer.wrap(x),
        new long[] {ROWS, FEATURES});
        OrtSession.Result r = rt.run(Map.of("x", in), Set.of(PROBS))) {
      return floats(enc.read(PROBS, rt.output(r, PROBS), ROWS));
    }
  }

  @Test
  void theZipMapInputTensorIsRequestedAndAnswersAsTheMapsDo() throws Exception {
    Path model = classifier();
    float[] x = OnnxModels.randomFloats(ROWS * FEATURES, 3L);
    try (ModelRuntime rt = new ModelRuntime("m", model, 1, 1)) {
      assertEquals("probabilities", rt.requested(PROBS));
      assertEquals(Set.of(PROBS), rt.zipMapTaps().keySet());
      // The added output is the runtime's own business: binding and messages see the model's.
      assertEquals(List.of("label", PROBS), List.copyOf(rt.ports().outputs().keySet()));
      assertEquals(Set.of("label", PROBS), rt.allOutputNames());
      OrtEnvironment env = OrtEnvironment.getEnvironment();
      try (OnnxTensor in = OnnxTensor.createTensor(env, FloatBuffer.wrap(x),
          new long[] {ROWS, FEATURES});
          OrtSession.Result r = rt.run(Map.of("x", in), Set.of(PROBS))) {
        assertTrue(r.get(PROBS).isEmpty(), "the sequence of maps must not be fetched");
        OnnxValue v = rt.output(r, PROBS);
        assertTrue(v instanceof OnnxTensor, String.valueOf(v.getType()));
      }
      Output o = output("30", "10", "20");
      AnswerEncoder enc = new AnswerEncoder("c", "1", List.of(o), rt.zipMapTaps());
      float[] got = served(rt, enc, x);
      assertArrayEquals(viaMaps(model, x, o.classMap()), got, 1e-6f);
      assertArrayEquals(OnnxModels.linearClassifierProbabilities(FEATURES, 3, SEED, x), got,
          1e-5f);
    }
  }

  @Test
  void declaredKeysInAnotherOrderGetTheirColumnsByKey() throws Exception {
    Path model = classifier();
    float[] x = OnnxModels.randomFloats(ROWS * FEATURES, 4L);
    try (ModelRuntime rt = new ModelRuntime("m", model, 1, 1)) {
      Output o = output("10", "20", "30");
      float[] got = served(rt, new AnswerEncoder("c", "1", List.of(o), rt.zipMapTaps()), x);
      assertArrayEquals(viaMaps(model, x, o.classMap()), got, 1e-6f);
      // The node's order is 30, 10, 20: declared column 0 (key 10) is the node's column 1.
      float[] nodeOrder = OnnxModels.linearClassifierProbabilities(FEATURES, 3, SEED, x);
      for (int r = 0; r < ROWS; r++) {
        assertEquals(nodeOrder[r * 3 + 1], got[r * 3], 1e-5f);
        assertEquals(nodeOrder[r * 3 + 2], got[r * 3 + 1], 1e-5f);
        assertEquals(nodeOrder[r * 3], got[r * 3 + 2], 1e-5f);
      }
    }
  }

  @Test
  void declaredKeysThatAreNotTheNodesFailNamingBothKeySets() throws Exception {
    try (ModelRuntime rt = new ModelRuntime("m", classifier(), 1, 1)) {
      AnswerEncoder enc = new AnswerEncoder("c", "1", List.of(output("30", "10", "99")),
          rt.zipMapTaps());
      IllegalStateException e = assertThrows(IllegalStateException.class,
          () -> served(rt, enc, OnnxModels.randomFloats(ROWS * FEATURES, 5L)));
      assertEquals("model output 'output_probability' row 0 maps the keys [10, 20, 30] but the"
          + " bundle declares the keys [30, 10, 99] (key 20 is not declared)", e.getMessage());
      AnswerEncoder missing = new AnswerEncoder("c", "1", List.of(output("30", "10")),
          rt.zipMapTaps());
      e = assertThrows(IllegalStateException.class,
          () -> served(rt, missing, OnnxModels.randomFloats(ROWS * FEATURES, 5L)));
      assertTrue(e.getMessage().startsWith("model output 'output_probability' row 0 maps the"
          + " keys [10, 20, 30] but the bundle declares the keys [30, 10]"), e.getMessage());
    }
  }

  /** ZipMap over a graph input: nothing to request instead, so the maps are read as before. */
  @Test
  void aZipMapThatReadsAGraphInputIsReadAsMaps() throws Exception {
    Path model = tmp.resolve("direct.onnx");
    Files.write(model, OnnxModels.graph("direct")
        .input("x", TensorProto.DataType.FLOAT_VALUE, -1, 3)
        .outputSequenceOfMaps(PROBS, TensorProto.DataType.INT64_VALUE)
        .node(OnnxModels.ML_DOMAIN, "ZipMap", List.of("x"), List.of(PROBS),
            Attr.ints("classlabels_int64s", 7L, 8L, 9L))
        .build());
    float[] x = OnnxModels.randomFloats(ROWS * 3, 6L);
    try (ModelRuntime rt = new ModelRuntime("m", model, 1, 1)) {
      assertTrue(rt.zipMapTaps().isEmpty());
      assertEquals(PROBS, rt.requested(PROBS));
      Output o = output("9", "7", "8");
      AnswerEncoder enc = new AnswerEncoder("c", "1", List.of(o), rt.zipMapTaps());
      OrtEnvironment env = OrtEnvironment.getEnvironment();
      try (OnnxTensor in = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), new long[] {ROWS, 3});
          OrtSession.Result r = rt.run(Map.of("x", in), Set.of(PROBS))) {
        OnnxValue v = rt.output(r, PROBS);
        assertTrue(v instanceof OnnxSequence);
        float[] got = floats(enc.read(PROBS, v, ROWS));
        for (int row = 0; row < ROWS; row++) {
          assertArrayEquals(new float[] {x[row * 3 + 2], x[row * 3], x[row * 3 + 1]},
              java.util.Arrays.copyOfRange(got, row * 3, row * 3 + 3), "row " + row);
        }
      }
    }
  }

  /**
   * As skl2onnx converts a linear model: an ai.onnx.ml LinearClassifier, for whose outputs ONNX
   * Runtime infers no shape, then ZipMap. The tensor is still requested, and checked per batch.
   */
  @Test
  void aClassifierOutputOfUnknownShapeIsRequestedAndCheckedPerBatch() throws Exception {
    Path model = linearClassifier(30L, 10L, 20L);
    float[] x = OnnxModels.randomFloats(ROWS * FEATURES, 10L);
    try (ModelRuntime rt = new ModelRuntime("m", model, 1, 1)) {
      assertEquals("probabilities", rt.requested(PROBS));
      for (Output o : List.of(output("30", "10", "20"), output("20", "30", "10"))) {
        AnswerEncoder enc = new AnswerEncoder("c", "1", List.of(o), rt.zipMapTaps());
        assertArrayEquals(viaMaps(model, x, o.classMap()), served(rt, enc, x), 1e-6f);
      }
    }
  }

  /**
   * A tensor whose width ONNX Runtime does not know at load (reshaped to its own runtime shape)
   * is requested; a batch where it is not [rows, k] fails, as it did when the maps were read
   * (ONNX Runtime's inference builds run the whole graph, so its ZipMap node refuses it first;
   * else ZipMapTensors.read would).
   */
  @Test
  void aTensorOfAnotherWidthFailsTheBatchNamingTheOutput() throws Exception {
    Path model = linearClassifier(30L, 10L, 20L, 40L);
    try (ModelRuntime rt = new ModelRuntime("m", model, 1, 1)) {
      assertEquals("probabilities", rt.requested(PROBS));
      AnswerEncoder enc = new AnswerEncoder("c", "1", List.of(output("30", "10", "20")),
          rt.zipMapTaps());
      Exception e = assertThrows(Exception.class,
          () -> served(rt, enc, OnnxModels.randomFloats(ROWS * FEATURES, 11L)));
      assertTrue(e.getMessage().contains("ZipMap") && e.getMessage().contains("3"),
          e.getMessage());
    }
  }

  /**
   * An ai.onnx.ml LinearClassifier over the given classes, its probabilities reshaped to their
   * own runtime shape (so ONNX Runtime knows only their rank), then a ZipMap of three labels.
   */
  private Path linearClassifier(long... classes) throws Exception {
    Path model = tmp.resolve("ml" + classes.length + ".onnx");
    float[] w = OnnxModels.randomFloats(classes.length * FEATURES, 9L);
    float[] b = OnnxModels.randomFloats(classes.length, 12L);
    Files.write(model, OnnxModels.graph("ml")
        .input("x", TensorProto.DataType.FLOAT_VALUE, -1, FEATURES)
        .output("label", TensorProto.DataType.INT64_VALUE, -1)
        .outputSequenceOfMaps(PROBS, TensorProto.DataType.INT64_VALUE)
        .node(OnnxModels.ML_DOMAIN, "LinearClassifier", List.of("x"),
            List.of("label", "scores"), Attr.floats("coefficients", w),
            Attr.floats("intercepts", b), Attr.ints("classlabels_ints", classes),
            Attr.s("post_transform", "SOFTMAX"))
        .node("Shape", List.of("scores"), List.of("scores_shape"))
        .node("Reshape", List.of("scores", "scores_shape"), List.of("probabilities"))
        .node(OnnxModels.ML_DOMAIN, "ZipMap", List.of("probabilities"), List.of(PROBS),
            Attr.ints("classlabels_int64s", 30L, 10L, 20L))
        .build());
    return model;
  }

  /** A ZipMap input that is already a graph output is requested as is: no copy of the model. */
  @Test
  void aZipMapInputThatIsAGraphOutputIsRequestedAsIs() throws Exception {
    Path model = tmp.resolve("exposed.onnx");
    Files.write(model, OnnxModels.graph("exposed")
        .input("x", TensorProto.DataType.FLOAT_VALUE, -1, 3)
        .output("p", TensorProto.DataType.FLOAT_VALUE, -1, 3)
        .outputSequenceOfMaps(PROBS, TensorProto.DataType.INT64_VALUE)
        .node("Identity", List.of("x"), List.of("p"))
        .node(OnnxModels.ML_DOMAIN, "ZipMap", List.of("p"), List.of(PROBS),
            Attr.ints("classlabels_int64s", 7L, 8L, 9L))
        .build());
    float[] x = OnnxModels.randomFloats(ROWS * 3, 8L);
    try (ModelRuntime rt = new ModelRuntime("m", model, 1, 1)) {
      assertEquals("p", rt.requested(PROBS));
      assertEquals(List.of("p", PROBS), List.copyOf(rt.ports().outputs().keySet()));
      AnswerEncoder enc = new AnswerEncoder("c", "1", List.of(output("8", "9", "7")),
          rt.zipMapTaps());
      OrtEnvironment env = OrtEnvironment.getEnvironment();
      try (OnnxTensor in = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), new long[] {ROWS, 3});
          OrtSession.Result r = rt.run(Map.of("x", in), Set.of(PROBS))) {
        assertTrue(r.get(PROBS).isEmpty(), "the sequence of maps must not be fetched");
        float[] got = floats(enc.read(PROBS, rt.output(r, PROBS), ROWS));
        for (int row = 0; row < ROWS; row++) {
          assertArrayEquals(new float[] {x[row * 3 + 1], x[row * 3 + 2], x[row * 3]},
              java.util.Arrays.copyOfRange(got, row * 3, row * 3 + 3), "row " + row);
        }
      }
    }
  }

  /** A ZipMap input that is not float [N, k] (k = its labels) is not read as the tensor. */
  @Test
  void aZipMapInputOfAnotherWidthIsReadAsMaps() throws Exception {
    Path model = tmp.resolve("wide.onnx");
    Files.write(model, OnnxModels.graph("wide")
        .input("x", TensorProto.DataType.FLOAT_VALUE, -1, 4)
        .outputSequenceOfMaps(PROBS, TensorProto.DataType.STRING_VALUE)
        .node("Identity", List.of("x"), List.of("p4"))
        .node(OnnxModels.ML_DOMAIN, "ZipMap", List.of("p4"), List.of(PROBS),
            Attr.strings("classlabels_strings", "a", "b", "c"))
        .build());
    try (ModelRuntime rt = new ModelRuntime("m", model, 1, 1)) {
      assertTrue(rt.zipMapTaps().isEmpty());
      assertEquals(PROBS, rt.requested(PROBS));
      assertEquals(Set.of(PROBS), rt.allOutputNames());
      assertEquals(List.of(PROBS), List.copyOf(rt.ports().outputs().keySet()));
    }
  }
}
