package dev.sidecar.testkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.sidecar.testkit.OnnxModels.Attr;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Loads every ready-made model with ONNX Runtime and checks its outputs against plain Java. */
class OnnxModelsTest {

  static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();

  // ONNX element type numbers
  static final int FLOAT = 1;
  static final int UINT8 = 2;
  static final int INT8 = 3;
  static final int INT16 = 5;
  static final int INT32 = 6;
  static final int INT64 = 7;
  static final int STRING = 8;
  static final int BOOL = 9;
  static final int FLOAT16 = 10;
  static final int DOUBLE = 11;

  @ParameterizedTest
  @ValueSource(ints = {FLOAT, UINT8, INT8, INT16, INT32, INT64, BOOL, FLOAT16, DOUBLE})
  void identityRoundTripsEveryFixedWidthType(int elemType) throws OrtException {
    double[] values = {0, 1, 1, 0, 3, 100};
    ByteBuffer in = encode(elemType, values);
    try (OrtSession s = session(OnnxModels.identity(elemType, -1, 3));
         OnnxTensor x = tensor(elemType, in, 2, 3);
         OrtSession.Result r = s.run(Map.of("x", x))) {
      OnnxTensor y = (OnnxTensor) r.get("y").orElseThrow();
      assertArrayEquals(new long[] {2, 3}, y.getInfo().getShape());
      assertEquals(in.rewind(), y.getByteBuffer().order(ByteOrder.LITTLE_ENDIAN));
    }
  }

  @Test
  void identityRoundTripsStrings() throws OrtException {
    String[] values = {"a", "", "héllo wörld", "日本"};
    try (OrtSession s = session(OnnxModels.identity(STRING));
         OnnxTensor x = OnnxTensor.createTensor(ENV, values, new long[] {4});
         OrtSession.Result r = s.run(Map.of("x", x))) {
      assertArrayEquals(values, (String[]) r.get(0).getValue());
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {FLOAT, UINT8, INT8, INT16, INT32, INT64, FLOAT16, DOUBLE})
  void affineComputesTwoXPlusOneInEveryNumericType(int elemType) throws OrtException {
    double[] values = switch (elemType) {
      case INT8 -> new double[] {-128, -1, 0, 5, 100, 127};
      case UINT8 -> new double[] {0, 1, 100, 127, 200, 255};
      case INT16 -> new double[] {-30000, -1, 0, 5, 20000, 32767};
      case INT32 -> new double[] {-5, 0, 7, 1_000_000, -2_000_000, 3};
      case INT64 -> new double[] {-5, 0, 7, 1L << 40, -(1L << 45), 3};
      default -> new double[] {-1.5, 0, 2.25, 100, -0.125, 1000};
    };
    double[] expected = new double[values.length];
    for (int i = 0; i < values.length; i++) {
      expected[i] = 2 * values[i] + 1;
    }
    try (OrtSession s = session(OnnxModels.affine(elemType, -1, 2));
         OnnxTensor x = tensor(elemType, encode(elemType, values), 3, 2);
         OrtSession.Result r = s.run(Map.of("x", x))) {
      OnnxTensor y = (OnnxTensor) r.get("y").orElseThrow();
      assertArrayEquals(new long[] {3, 2}, y.getInfo().getShape());
      assertEquals(encode(elemType, expected), y.getByteBuffer().order(ByteOrder.LITTLE_ENDIAN),
          "2x+1 of " + java.util.Arrays.toString(values));
    }
  }

  @Test
  void affineRejectsNonNumericTypes() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> OnnxModels.affine(BOOL));
    assertTrue(e.getMessage().contains("9 (BOOL)"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> OnnxModels.affine(STRING));
    e = assertThrows(IllegalArgumentException.class, () -> OnnxModels.affine(99));
    assertTrue(e.getMessage().contains("unknown ONNX element type 99"), e.getMessage());
  }

  @Test
  void linearClassifierMatchesItsJavaReference() throws OrtException {
    int features = 5;
    int classes = 3;
    long seed = 42;
    int rows = 64;
    float[] xs = OnnxModels.randomFloats(rows * features, 7);
    float[] expectedProbabilities = OnnxModels.linearClassifierProbabilities(features, classes, seed, xs);
    long[] expectedLabels = OnnxModels.linearClassifierLabels(features, classes, seed, xs);
    try (OrtSession s = session(OnnxModels.linearClassifier("input", features, classes, seed));
         OnnxTensor x = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(xs), new long[] {rows, features});
         OrtSession.Result r = s.run(Map.of("input", x))) {
      assertEquals(List.of("input"), new ArrayList<>(s.getInputNames()));
      assertEquals(List.of("label", "probabilities"), new ArrayList<>(s.getOutputNames()));
      OnnxTensor label = (OnnxTensor) r.get("label").orElseThrow();
      OnnxTensor probabilities = (OnnxTensor) r.get("probabilities").orElseThrow();
      assertArrayEquals(new long[] {rows}, label.getInfo().getShape());
      assertArrayEquals(new long[] {rows, classes}, probabilities.getInfo().getShape());
      assertArrayEquals(expectedProbabilities, toArray(probabilities.getFloatBuffer()), 1e-5f);
      assertArrayEquals(expectedLabels, toArray(label.getLongBuffer()));
    }
    // several classes are predicted, so the weights are not degenerate
    assertTrue(java.util.Arrays.stream(expectedLabels).distinct().count() > 1);
    // the same seed gives the same model; another seed another one
    assertArrayEquals(OnnxModels.linearClassifier("input", features, classes, seed),
        OnnxModels.linearClassifier("input", features, classes, seed));
    assertTrue(!java.util.Arrays.equals(OnnxModels.linearClassifier("input", features, classes, seed),
        OnnxModels.linearClassifier("input", features, classes, seed + 1)));
  }

  @Test
  void columnsSumAddsOneInputPerColumn() throws OrtException {
    Map<String, float[]> columns = new LinkedHashMap<>();
    columns.put("sepal_length", new float[] {1f, 2f, 3f});
    columns.put("sepal_width", new float[] {10f, 20f, 30f});
    columns.put("petal_length", new float[] {0.5f, -1f, 0f});
    float[] expected = {11.5f, 21f, 33f};
    String[] names = columns.keySet().toArray(String[]::new);
    for (boolean rank2 : new boolean[] {true, false}) {
      byte[] model = rank2 ? OnnxModels.columnsSum(names) : OnnxModels.columnsSum1d(names);
      long[] shape = rank2 ? new long[] {3, 1} : new long[] {3};
      Map<String, OnnxTensor> inputs = new LinkedHashMap<>();
      try (OrtSession s = session(model)) {
        assertEquals(List.of(names), new ArrayList<>(s.getInputNames()));
        for (var e : columns.entrySet()) {
          inputs.put(e.getKey(), OnnxTensor.createTensor(ENV, FloatBuffer.wrap(e.getValue()), shape));
        }
        try (OrtSession.Result r = s.run(inputs)) {
          OnnxTensor sum = (OnnxTensor) r.get("sum").orElseThrow();
          assertArrayEquals(shape, sum.getInfo().getShape());
          assertArrayEquals(expected, toArray(sum.getFloatBuffer()), 0f);
        }
      } finally {
        inputs.values().forEach(OnnxTensor::close);
      }
    }
  }

  @Test
  void stringLabelEncoderMapsKeysAndDefaultsToMinusOne() throws OrtException {
    byte[] model = OnnxModels.stringLabelEncoder(
        new String[] {"setosa", "versicolor", "virginica"}, new long[] {0, 1, 2});
    try (OrtSession s = session(model);
         OnnxTensor x = OnnxTensor.createTensor(ENV,
             new String[] {"virginica", "setosa", "unknown", "versicolor", ""}, new long[] {5});
         OrtSession.Result r = s.run(Map.of("x", x))) {
      OnnxTensor y = (OnnxTensor) r.get("y").orElseThrow();
      assertArrayEquals(new long[] {2, 0, -1, 1, -1}, toArray(y.getLongBuffer()));
    }
    assertThrows(IllegalArgumentException.class,
        () -> OnnxModels.stringLabelEncoder(new String[] {"a", "b"}, new long[] {1}));
    assertThrows(IllegalArgumentException.class,
        () -> OnnxModels.stringLabelEncoder(new String[] {"a", "a"}, new long[] {1, 2}));
  }

  @Test
  void builderWritesAFileOrtLoadsWithAttributesAndMetadata(@TempDir Path dir) throws Exception {
    Path file = OnnxModels.graph("clip_and_scale")
        .input("x", FLOAT, -1, -1)
        .output("y", FLOAT, -1, -1)
        .initializer("scale", new float[] {0.5f, 2f}, 2)
        .initializer("low", new float[] {-1f}, 1)
        .initializer("high", new float[] {1f}, 1)
        .node("Clip", List.of("x", "low", "high"), List.of("clipped"))
        .node("Mul", List.of("clipped", "scale"), List.of("scaled"))
        .node("LeakyRelu", List.of("scaled"), List.of("y"), Attr.f("alpha", 0.25f))
        .metadata("purpose", "test")
        .write(dir.resolve("nested/clip.onnx"));
    assertTrue(Files.size(file) > 0);
    try (OrtSession s = ENV.createSession(file.toString(), new OrtSession.SessionOptions());
         OnnxTensor x = OnnxTensor.createTensor(ENV, new float[][] {{-3f, 0.5f}, {0.2f, -0.4f}});
         OrtSession.Result r = s.run(Map.of("x", x))) {
      assertEquals("test", s.getMetadata().getCustomMetadata().get("purpose"));
      float[][] y = (float[][]) r.get(0).getValue();
      assertArrayEquals(new float[] {-0.125f, 1f}, y[0], 1e-6f);
      assertArrayEquals(new float[] {0.1f, -0.2f}, y[1], 1e-6f);
    }
  }

  @Test
  void builderSupportsIntAndStringAttributesAndTypedInitializers() throws OrtException {
    byte[] model = OnnxModels.graph("typed")
        .input("x", INT64, -1)
        .output("y", INT64, -1)
        .output("z", DOUBLE, 2)
        .output("w", INT32, 3)
        .output("padded", FLOAT, -1)
        .initializer("offset", new long[] {10L}, 1)
        .initializer("d", new double[] {1.5, 2.5})
        .initializer("i", new int[] {1, 2, 3})
        .initializer("pads", new long[] {1, 1})
        .node("Add", List.of("x", "offset"), List.of("y"))
        .node("Identity", List.of("d"), List.of("z"))
        .node("Identity", List.of("i"), List.of("w"))
        .node("Cast", List.of("x"), List.of("xf"), Attr.i("to", FLOAT))
        .node("Pad", List.of("xf", "pads", ""), List.of("padded"), Attr.s("mode", "edge"))
        .build();
    try (OrtSession s = session(model);
         OnnxTensor x = OnnxTensor.createTensor(ENV, new long[] {1, 2});
         OrtSession.Result r = s.run(Map.of("x", x))) {
      assertArrayEquals(new long[] {11, 12}, (long[]) r.get("y").orElseThrow().getValue());
      assertArrayEquals(new double[] {1.5, 2.5}, (double[]) r.get("z").orElseThrow().getValue());
      assertArrayEquals(new int[] {1, 2, 3}, (int[]) r.get("w").orElseThrow().getValue());
      assertArrayEquals(new float[] {1, 1, 2, 2}, (float[]) r.get("padded").orElseThrow().getValue());
    }
  }

  @Test
  void builderNamesTheProblem() {
    var e = assertThrows(IllegalArgumentException.class, () -> OnnxModels.graph("g")
        .input("x", FLOAT, -1)
        .node("Relu", List.of("nope"), List.of("y")));
    assertTrue(e.getMessage().contains("'nope'"), e.getMessage());

    var s = assertThrows(IllegalStateException.class, () -> OnnxModels.graph("g")
        .input("x", FLOAT, -1)
        .output("y", FLOAT, -1)
        .build());
    assertTrue(s.getMessage().contains("output 'y'"), s.getMessage());

    e = assertThrows(IllegalArgumentException.class, () -> OnnxModels.graph("g")
        .initializer("w", new float[] {1, 2, 3}, 2, 2));
    assertTrue(e.getMessage().contains("'w' has 3 elements but shape [2, 2] needs 4"), e.getMessage());

    e = assertThrows(IllegalArgumentException.class, () -> OnnxModels.graph("g").input("x", FLOAT, -2));
    assertTrue(e.getMessage().contains("'x' has dimension -2"), e.getMessage());

    e = assertThrows(IllegalArgumentException.class, () -> OnnxModels.graph("g")
        .input("x", FLOAT, -1).input("x", FLOAT, -1));
    assertTrue(e.getMessage().contains("'x'"), e.getMessage());

    e = assertThrows(IllegalArgumentException.class, () -> OnnxModels.graph("g")
        .input("x", FLOAT, -1)
        .node("com.example", "Custom", List.of("x"), List.of("y")));
    assertTrue(e.getMessage().contains("domain 'com.example'"), e.getMessage());

    e = assertThrows(IllegalArgumentException.class, () -> OnnxModels.graph("g")
        .initializer("b", STRING, new byte[] {1}, 1));
    assertTrue(e.getMessage().contains("8 (STRING)"), e.getMessage());
  }

  @Test
  void rawInitializerOfAnyFixedWidthType() throws OrtException {
    byte[] model = OnnxModels.graph("raw")
        .input("x", INT16, -1)
        .output("y", INT16, -1)
        .initializer("k", INT16, new byte[] {3, 0, (byte) 0xff, (byte) 0xff}, 2)
        .node("Cast", List.of("x"), List.of("x32"), Attr.i("to", INT32))
        .node("Cast", List.of("k"), List.of("k32"), Attr.i("to", INT32))
        .node("Mul", List.of("x32", "k32"), List.of("y32"))
        .node("Cast", List.of("y32"), List.of("y"), Attr.i("to", INT16))
        .build();
    try (OrtSession s = session(model);
         OnnxTensor x = tensor(INT16, encode(INT16, new double[] {5, 7}), 2);
         OrtSession.Result r = s.run(Map.of("x", x))) {
      assertEquals(encode(INT16, new double[] {15, -7}),
          ((OnnxTensor) r.get(0)).getByteBuffer().order(ByteOrder.LITTLE_ENDIAN));
    }
  }

  // ---------------------------------------------------------------- helpers

  static OrtSession session(byte[] model) throws OrtException {
    return ENV.createSession(model, new OrtSession.SessionOptions());
  }

  static OnnxTensor tensor(int elemType, ByteBuffer littleEndian, long... shape) throws OrtException {
    ByteBuffer direct = ByteBuffer.allocateDirect(littleEndian.remaining()).order(ByteOrder.nativeOrder());
    direct.put(littleEndian.duplicate()).flip();
    return OnnxTensor.createTensor(ENV, direct, shape, javaType(elemType));
  }

  static OnnxJavaType javaType(int elemType) {
    return switch (elemType) {
      case FLOAT -> OnnxJavaType.FLOAT;
      case UINT8 -> OnnxJavaType.UINT8;
      case INT8 -> OnnxJavaType.INT8;
      case INT16 -> OnnxJavaType.INT16;
      case INT32 -> OnnxJavaType.INT32;
      case INT64 -> OnnxJavaType.INT64;
      case BOOL -> OnnxJavaType.BOOL;
      case FLOAT16 -> OnnxJavaType.FLOAT16;
      case DOUBLE -> OnnxJavaType.DOUBLE;
      default -> throw new IllegalArgumentException("no fixed-width Java type for " + elemType);
    };
  }

  /** Little-endian bytes of {@code values} in {@code elemType}; integers wrap like Java narrowing casts. */
  static ByteBuffer encode(int elemType, double[] values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    for (double v : values) {
      switch (elemType) {
        case FLOAT -> b.putFloat((float) v);
        case DOUBLE -> b.putDouble(v);
        case UINT8, INT8 -> b.put((byte) (long) v);
        case BOOL -> b.put((byte) (v != 0 ? 1 : 0));
        case INT16 -> b.putShort((short) (long) v);
        case INT32 -> b.putInt((int) (long) v);
        case INT64 -> b.putLong((long) v);
        case FLOAT16 -> b.putShort(toHalfExact((float) v));
        default -> throw new IllegalArgumentException("cannot encode " + elemType);
      }
    }
    return b.flip();
  }

  /** IEEE half bits of a float that half precision represents exactly (normal numbers and zero). */
  static short toHalfExact(float v) {
    int bits = Float.floatToIntBits(v);
    int sign = (bits >>> 16) & 0x8000;
    if ((bits & 0x7fffffff) == 0) {
      return (short) sign;
    }
    int exponent = ((bits >>> 23) & 0xff) - 127 + 15;
    int mantissa = bits & 0x7fffff;
    if (exponent <= 0 || exponent >= 31 || (mantissa & 0x1fff) != 0) {
      throw new IllegalArgumentException(v + " is not exactly representable as a normal half");
    }
    return (short) (sign | exponent << 10 | mantissa >>> 13);
  }

  static float[] toArray(FloatBuffer b) {
    float[] a = new float[b.remaining()];
    b.get(a);
    return a;
  }

  static long[] toArray(LongBuffer b) {
    long[] a = new long[b.remaining()];
    b.get(a);
    return a;
  }
}
