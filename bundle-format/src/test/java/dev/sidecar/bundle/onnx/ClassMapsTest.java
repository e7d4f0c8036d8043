package dev.sidecar.bundle.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.sidecar.bundle.DType;
import dev.sidecar.bundle.OutputSpec;
import dev.sidecar.testkit.OnnxModels;
import java.nio.FloatBuffer;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@link ClassMaps} on real ZipMap outputs of ONNX Runtime: probabilities in the declared key
 * order, and a map whose keys differ from the declared ones is an error naming the output and
 * the row, never a silent zero.
 */
class ClassMapsTest {
  private static final int FEATURES = 3;
  private static final long SEED = 5L;
  private static final int ROWS = 4;

  private interface Check {
    void on(OnnxValue probabilities, OnnxValue tensor) throws Exception;
  }

  private static void run(byte[] model, Check check) throws Exception {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    float[] x = OnnxModels.randomFloats(ROWS * FEATURES, 9L);
    try (OrtSession s = env.createSession(model, new OrtSession.SessionOptions());
        OnnxTensor in = OnnxTensor.createTensor(env, FloatBuffer.wrap(x),
            new long[] {ROWS, FEATURES});
        OrtSession.Result r = s.run(Map.of("x", in))) {
      check.on(r.get("output_probability").orElseThrow(), r.get("label").orElseThrow());
    }
  }

  private static OutputSpec.ClassMap ints(String... keys) {
    return new OutputSpec.ClassMap(DType.INT64, List.of(keys), false);
  }

  @Test
  void probabilitiesComeInTheDeclaredKeyOrder() throws Exception {
    float[] x = OnnxModels.randomFloats(ROWS * FEATURES, 9L);
    float[] expected = OnnxModels.linearClassifierProbabilities(FEATURES, 3, SEED, x);
    run(OnnxModels.zipMapClassifier(FEATURES, SEED, 30L, 10L, 20L), (p, t) -> {
      assertArrayEquals(expected, ClassMaps.toFloats("output_probability", p,
          ints("30", "10", "20"), ROWS), 1e-6f);
      // Another declared order permutes the columns: the keys, not the map's order, decide.
      float[] swapped = ClassMaps.toFloats("output_probability", p, ints("10", "30", "20"), ROWS);
      for (int r = 0; r < ROWS; r++) {
        assertEquals(expected[r * 3], swapped[r * 3 + 1], 1e-6f);
        assertEquals(expected[r * 3 + 1], swapped[r * 3], 1e-6f);
      }
    });
    run(OnnxModels.zipMapClassifier(FEATURES, SEED, "b", "a", "c"), (p, t) ->
        assertArrayEquals(expected, ClassMaps.toFloats("output_probability", p,
            new OutputSpec.ClassMap(DType.STRING, List.of("b", "a", "c"), true), ROWS), 1e-6f));
  }

  @Test
  void keysThatDifferFromTheDeclaredOnesAreAnErrorNamingTheOutput() throws Exception {
    run(OnnxModels.zipMapClassifier(FEATURES, SEED, 30L, 10L, 20L), (p, t) -> {
      String missing = assertThrows(IllegalStateException.class,
          () -> ClassMaps.toFloats("output_probability", p, ints("30", "10", "20", "40"), ROWS))
          .getMessage();
      assertEquals("model output 'output_probability' row 0 maps the keys [10, 20, 30] but the"
          + " bundle declares the keys [30, 10, 20, 40] (no probability for key 40)", missing);
      String other = assertThrows(IllegalStateException.class,
          () -> ClassMaps.toFloats("output_probability", p, ints("30", "10", "99"), ROWS))
          .getMessage();
      assertEquals("model output 'output_probability' row 0 maps the keys [10, 20, 30] but the"
          + " bundle declares the keys [30, 10, 99] (key 20 is not declared)", other);
      String rows = assertThrows(IllegalStateException.class,
          () -> ClassMaps.toFloats("output_probability", p, ints("30", "10", "20"), ROWS + 1))
          .getMessage();
      assertEquals("model output 'output_probability' holds 4 maps for 5 rows", rows);
      String tensor = assertThrows(IllegalStateException.class,
          () -> ClassMaps.toFloats("label", t, ints("30", "10", "20"), ROWS)).getMessage();
      assertEquals("model output 'label' is a tensor, expected a sequence of maps", tensor);
    });
  }
}
