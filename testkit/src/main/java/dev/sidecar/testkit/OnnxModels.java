package dev.sidecar.testkit;

import com.google.protobuf.ByteString;
import dev.sidecar.proto.onnx.AttributeProto;
import dev.sidecar.proto.onnx.GraphProto;
import dev.sidecar.proto.onnx.ModelProto;
import dev.sidecar.proto.onnx.NodeProto;
import dev.sidecar.proto.onnx.OperatorSetIdProto;
import dev.sidecar.proto.onnx.StringStringEntryProto;
import dev.sidecar.proto.onnx.TensorProto;
import dev.sidecar.proto.onnx.TensorShapeProto;
import dev.sidecar.proto.onnx.TypeProto;
import dev.sidecar.proto.onnx.ValueInfoProto;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Builds real ONNX model files in Java, for tests and benchmarks: a small fluent
 * {@link GraphBuilder} ({@link #graph(String)}) and ready-made models with plain-Java
 * reference implementations so tests can check ONNX Runtime's outputs numerically.
 *
 * <p>Element types are ONNX {@code TensorProto.DataType} numbers (FLOAT=1, UINT8=2, INT8=3,
 * INT16=5, INT32=6, INT64=7, STRING=8, BOOL=9, FLOAT16=10, DOUBLE=11), e.g.
 * {@code DType.FLOAT32.onnxType()} or {@code TensorProto.DataType.FLOAT_VALUE}. In shapes a
 * dimension of {@code -1} is symbolic: the first dimension is named {@code N}, later ones
 * {@code d1}, {@code d2}, ... Models use IR version {@value #IR_VERSION}, opset
 * {@value #OPSET} of the default domain and opset {@value #ML_OPSET} of {@value #ML_DOMAIN}.
 */
public final class OnnxModels {

  /** The ONNX IR version written into every model. */
  public static final long IR_VERSION = 8;
  /** The opset version of the default ONNX domain. */
  public static final long OPSET = 17;
  /** The domain of the traditional-ML operators (LabelEncoder, TreeEnsembleRegressor...). */
  public static final String ML_DOMAIN = "ai.onnx.ml";
  /** The opset version of {@value #ML_DOMAIN}, imported when a node uses that domain. */
  public static final long ML_OPSET = 3;

  private static final int FLOAT = TensorProto.DataType.FLOAT_VALUE;
  private static final int UINT8 = TensorProto.DataType.UINT8_VALUE;
  private static final int INT8 = TensorProto.DataType.INT8_VALUE;
  private static final int INT16 = TensorProto.DataType.INT16_VALUE;
  private static final int INT32 = TensorProto.DataType.INT32_VALUE;
  private static final int INT64 = TensorProto.DataType.INT64_VALUE;
  private static final int STRING = TensorProto.DataType.STRING_VALUE;
  private static final int FLOAT16 = TensorProto.DataType.FLOAT16_VALUE;
  private static final int DOUBLE = TensorProto.DataType.DOUBLE_VALUE;

  private OnnxModels() {}

  /** Starts a graph (and model) named {@code name}. */
  public static GraphBuilder graph(String name) {
    return new GraphBuilder(name);
  }

  // ---------------------------------------------------------------- ready-made models

  /**
   * {@code y = Identity(x)}: input {@code x} and output {@code y} of {@code elemType} and
   * {@code shape} (default {@code [N]} when no shape is given). Works for every element
   * type, including STRING, BOOL and FLOAT16.
   */
  public static byte[] identity(int elemType, long... shape) {
    long[] dims = shape.length == 0 ? new long[] {-1} : shape;
    return graph("identity")
        .input("x", elemType, dims)
        .output("y", elemType, dims)
        .node("Identity", List.of("x"), List.of("y"))
        .build();
  }

  /**
   * A multinomial logistic regression shaped like the iris example: input
   * {@code inputName} FLOAT {@code [N, features]}; {@code Gemm(transB=1) -> Softmax ->
   * ArgMax(keepdims=0)}; outputs {@code label} INT64 {@code [N]} then
   * {@code probabilities} FLOAT {@code [N, classes]}. Weights in [-1, 1) are derived from
   * {@code seed}; {@link #linearClassifierProbabilities} and {@link #linearClassifierLabels}
   * compute the expected outputs in plain Java.
   */
  public static byte[] linearClassifier(String inputName, int features, int classes, long seed) {
    LinearClassifier m = LinearClassifier.of(features, classes, seed);
    return graph("linear_classifier")
        .input(inputName, FLOAT, -1, features)
        .output("label", INT64, -1)
        .output("probabilities", FLOAT, -1, classes)
        .initializer("coefficients", m.weights(), classes, features)
        .initializer("intercepts", m.bias(), classes)
        .node("Gemm", List.of(inputName, "coefficients", "intercepts"), List.of("logits"),
            Attr.i("transB", 1))
        .node("Softmax", List.of("logits"), List.of("probabilities"), Attr.i("axis", 1))
        .node("ArgMax", List.of("probabilities"), List.of("label"),
            Attr.i("axis", 1), Attr.i("keepdims", 0))
        .build();
  }

  /**
   * The reference for {@link #linearClassifier}: softmax probabilities for row-major
   * {@code x} ({@code N * features} floats), returned row-major ({@code N * classes}).
   */
  public static float[] linearClassifierProbabilities(int features, int classes, long seed, float[] x) {
    return LinearClassifier.of(features, classes, seed).probabilities(x);
  }

  /** The reference for {@link #linearClassifier}'s {@code label} output: argmax per row (first max wins). */
  public static long[] linearClassifierLabels(int features, int classes, long seed, float[] x) {
    return LinearClassifier.argMax(linearClassifierProbabilities(features, classes, seed, x), classes);
  }

  /**
   * A classifier as {@code skl2onnx} converts one with its defaults: {@link #linearClassifier}
   * whose probabilities go through an {@code ai.onnx.ml} {@code ZipMap} node. Input {@code x}
   * FLOAT {@code [N, features]}; outputs {@code label} INT64 {@code [N]} (the class index, as
   * {@link #linearClassifierLabels}) and {@code output_probability}, a sequence of maps from
   * the class keys to the probabilities of {@link #linearClassifierProbabilities}, key
   * {@code keys[c]} for class {@code c}. {@code keys} are all {@code Long} (ZipMap's
   * {@code classlabels_int64s}) or all {@code String} ({@code classlabels_strings}).
   */
  public static byte[] zipMapClassifier(int features, long seed, Object... keys) {
    int classes = keys.length;
    boolean strings = keys.length > 0 && keys[0] instanceof String;
    for (Object k : keys) {
      if (!(strings ? k instanceof String : k instanceof Long)) {
        throw new IllegalArgumentException("zipMapClassifier keys must be all Long or all String: "
            + Arrays.toString(keys));
      }
    }
    LinearClassifier m = LinearClassifier.of(features, classes, seed);
    Attr labels = strings
        ? Attr.strings("classlabels_strings", Arrays.stream(keys).map(String.class::cast).toArray(String[]::new))
        : Attr.ints("classlabels_int64s", Arrays.stream(keys).mapToLong(Long.class::cast).toArray());
    return graph("zipmap_classifier")
        .input("x", FLOAT, -1, features)
        .output("label", INT64, -1)
        .outputSequenceOfMaps("output_probability", strings ? STRING : INT64)
        .initializer("coefficients", m.weights(), classes, features)
        .initializer("intercepts", m.bias(), classes)
        .node("Gemm", List.of("x", "coefficients", "intercepts"), List.of("logits"),
            Attr.i("transB", 1))
        .node("Softmax", List.of("logits"), List.of("probabilities"), Attr.i("axis", 1))
        .node("ArgMax", List.of("probabilities"), List.of("label"),
            Attr.i("axis", 1), Attr.i("keepdims", 0))
        .node(ML_DOMAIN, "ZipMap", List.of("probabilities"), List.of("output_probability"), labels)
        .build();
  }

  /**
   * A model with an output that no column can hold: input {@code x} FLOAT {@code [N]}, outputs
   * {@code y = x} FLOAT {@code [N]} and {@code parts}, a sequence of tensors
   * ({@code SequenceConstruct(x)}).
   */
  public static byte[] sequenceOutput() {
    return graph("sequence_output")
        .input("x", FLOAT, -1)
        .output("y", FLOAT, -1)
        .outputSequenceOfTensors("parts", FLOAT)
        .node("Identity", List.of("x"), List.of("y"))
        .node("SequenceConstruct", List.of("x"), List.of("parts"))
        .build();
  }

  /**
   * {@code y = x * 2 + 1} for any numeric element type: input {@code x} and output {@code y}
   * of {@code elemType} and {@code shape} (default {@code [N]}). FLOAT, DOUBLE, INT32 and
   * INT64 compute natively; INT8, UINT8 and INT16 compute in INT32 and cast back (so the
   * result wraps like Java's {@code (byte) (2 * x + 1)}); FLOAT16 computes in FLOAT and
   * rounds back to half precision.
   *
   * @throws IllegalArgumentException for BOOL, STRING or an unknown type
   */
  public static byte[] affine(int elemType, long... shape) {
    long[] dims = shape.length == 0 ? new long[] {-1} : shape;
    GraphBuilder g = graph("affine").input("x", elemType, dims).output("y", elemType, dims);
    int compute;
    if (elemType == FLOAT || elemType == DOUBLE || elemType == INT32 || elemType == INT64) {
      compute = elemType;
    } else if (elemType == INT8 || elemType == UINT8 || elemType == INT16) {
      compute = INT32;
    } else if (elemType == FLOAT16) {
      compute = FLOAT;
    } else {
      throw new IllegalArgumentException("affine needs a numeric element type, got "
          + GraphBuilder.typeName(elemType));
    }
    switch (compute) {
      case 1 -> g.initializer("two", new float[] {2f}).initializer("one", new float[] {1f});
      case 11 -> g.initializer("two", new double[] {2d}).initializer("one", new double[] {1d});
      case 6 -> g.initializer("two", new int[] {2}).initializer("one", new int[] {1});
      default -> g.initializer("two", new long[] {2L}).initializer("one", new long[] {1L});
    }
    String in = "x";
    if (compute != elemType) {
      g.node("Cast", List.of("x"), List.of("x_wide"), Attr.i("to", compute));
      in = "x_wide";
    }
    String out = compute != elemType ? "y_wide" : "y";
    g.node("Mul", List.of(in, "two"), List.of("twice"));
    g.node("Add", List.of("twice", "one"), List.of(out));
    if (compute != elemType) {
      g.node("Cast", List.of(out), List.of("y"), Attr.i("to", elemType));
    }
    return g.build();
  }

  /**
   * One FLOAT input {@code [N, 1]} per name (a dataframe's scalar columns fed as separate
   * model inputs) and output {@code sum} FLOAT {@code [N, 1]}: their element-wise sum.
   */
  public static byte[] columnsSum(String... inputNames) {
    return columnsSum(new long[] {-1, 1}, inputNames);
  }

  /** Like {@link #columnsSum} with rank-1 inputs and output: each input FLOAT {@code [N]}, {@code sum} FLOAT {@code [N]}. */
  public static byte[] columnsSum1d(String... inputNames) {
    return columnsSum(new long[] {-1}, inputNames);
  }

  private static byte[] columnsSum(long[] dims, String... inputNames) {
    if (inputNames.length == 0) {
      throw new IllegalArgumentException("columnsSum needs at least one input name");
    }
    GraphBuilder g = graph("columns_sum");
    for (String name : inputNames) {
      g.input(name, FLOAT, dims);
    }
    return g.output("sum", FLOAT, dims)
        .node("Sum", List.of(inputNames), List.of("sum"))
        .build();
  }

  /**
   * {@code ai.onnx.ml} LabelEncoder: input {@code x} STRING {@code [N]} to output {@code y}
   * INT64 {@code [N]}, mapping {@code keys[i]} to {@code values[i]} and any other string to
   * -1.
   */
  public static byte[] stringLabelEncoder(String[] keys, long[] values) {
    if (keys.length != values.length || keys.length == 0) {
      throw new IllegalArgumentException("stringLabelEncoder needs as many keys as values (at least one), got "
          + keys.length + " keys and " + values.length + " values");
    }
    if (new HashSet<>(Arrays.asList(keys)).size() != keys.length) {
      throw new IllegalArgumentException("stringLabelEncoder keys must be unique: " + Arrays.toString(keys));
    }
    return graph("string_label_encoder")
        .input("x", STRING, -1)
        .output("y", INT64, -1)
        .node(ML_DOMAIN, "LabelEncoder", List.of("x"), List.of("y"),
            Attr.strings("keys_strings", keys),
            Attr.ints("values_int64s", values),
            Attr.i("default_int64", -1))
        .build();
  }

  // ---------------------------------------------------------------- compute-heavy models

  /**
   * A multi-layer perceptron: input {@code x} FLOAT {@code [N, in]}, then per layer
   * {@code MatMul -> Add} with {@code Relu} after every hidden layer (none after the last),
   * output {@code y} FLOAT {@code [N, out]}. For example {@code mlp(256, new int[] {512,
   * 512}, 16, seed)}. Weights are He-uniform, biases in [-0.1, 0.1), all from {@code seed};
   * {@link #mlpPredict} is the plain-Java reference.
   */
  public static byte[] mlp(int in, int[] hidden, int out, long seed) {
    Mlp m = Mlp.of(in, hidden, out, seed);
    GraphBuilder g = graph("mlp").input("x", FLOAT, -1, in).output("y", FLOAT, -1, out);
    String current = "x";
    for (int l = 0; l < m.layers(); l++) {
      boolean last = l == m.layers() - 1;
      g.initializer("w" + l, m.weights().get(l), m.sizes()[l], m.sizes()[l + 1]);
      g.initializer("b" + l, m.biases().get(l), m.sizes()[l + 1]);
      g.node("MatMul", List.of(current, "w" + l), List.of("matmul" + l));
      String added = last ? "y" : "add" + l;
      g.node("Add", List.of("matmul" + l, "b" + l), List.of(added));
      if (!last) {
        g.node("Relu", List.of(added), List.of("relu" + l));
        current = "relu" + l;
      }
    }
    return g.build();
  }

  /**
   * The reference for {@link #mlp}: row-major {@code x} ({@code N * in} floats) to
   * row-major {@code y} ({@code N * out}), accumulated in double (ONNX Runtime agrees within
   * 1e-4 relative).
   */
  public static float[] mlpPredict(int in, int[] hidden, int out, long seed, float[] x) {
    return Mlp.of(in, hidden, out, seed).predict(x);
  }

  /**
   * An {@code ai.onnx.ml} TreeEnsembleRegressor of {@code trees} complete binary trees of
   * {@code depth} levels ({@code 1..20}) of {@code BRANCH_LEQ} splits: input {@code x}
   * FLOAT {@code [N, features]}, output {@code y} FLOAT {@code [N, 1]}, the sum of one leaf
   * weight per tree. Split features, thresholds (in [-1, 1), so use inputs of that range)
   * and leaf weights (in [-1, 1) / sqrt(trees)) come from {@code seed};
   * {@link #treeEnsemblePredict} is the plain-Java reference. 300 trees of depth 8 over 32
   * features (153,300 nodes) build in well under a second.
   */
  public static byte[] treeEnsemble(int trees, int depth, int features, long seed) {
    TreeEnsemble t = TreeEnsemble.of(trees, depth, features, seed);
    return graph("tree_ensemble")
        .input("x", FLOAT, -1, features)
        .output("y", FLOAT, -1, 1)
        .node(ML_DOMAIN, "TreeEnsembleRegressor", List.of("x"), List.of("y"), t.attributes())
        .build();
  }

  /**
   * The reference for {@link #treeEnsemble}: row-major {@code x} ({@code N * features}
   * floats) to {@code y} ({@code N} floats), summed in double (ONNX Runtime, summing in float, agrees
   * within 1e-4).
   */
  public static float[] treeEnsemblePredict(int trees, int depth, int features, long seed, float[] x) {
    return TreeEnsemble.of(trees, depth, features, seed).predict(x);
  }

  /**
   * A model whose serialized size is {@code approxBytes} (within a few bytes, 1 byte to
   * 2 GiB - 1, protobuf's limit), for archive and loading benchmarks: one big FLOAT
   * initializer {@code weights} of about {@code approxBytes / 4} elements and
   * {@code y = Gather(weights, index)}: input {@code index} INT64 {@code [N]}, output
   * {@code y} FLOAT {@code [N]}. {@code weights[i]} is {@link #largeModelWeight(long, long)
   * largeModelWeight(seed, i)}; the element count is in the model metadata under
   * {@code weight_count}. Holds the model in memory once; {@link #writeLargeModel} streams
   * it instead.
   */
  public static byte[] largeModel(long approxBytes, long seed) {
    return LargeModel.ofApproxBytes(approxBytes, seed).toByteArray();
  }

  /**
   * Writes {@link #largeModel(long, long) largeModel(approxBytes, seed)} to {@code file}
   * (parent directories created) by streaming, in constant memory, and returns the file.
   */
  public static Path writeLargeModel(Path file, long approxBytes, long seed) {
    LargeModel model = LargeModel.ofApproxBytes(approxBytes, seed);
    return writeModel(file, model::writeTo);
  }

  private interface ModelWriter {
    void writeTo(OutputStream out) throws IOException;
  }

  /** Streams a model into {@code file}, creating parent directories, and returns the file. */
  private static Path writeModel(Path file, ModelWriter model) {
    try {
      Path parent = file.toAbsolutePath().getParent();
      if (parent != null) {
        Files.createDirectories(parent);
      }
      try (OutputStream out = Files.newOutputStream(file)) {
        model.writeTo(out);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write ONNX model to " + file, e);
    }
    return file;
  }

  /** The value of {@code weights[index]} in {@link #largeModel}: a hash of (seed, index) in [-1, 1). */
  public static float largeModelWeight(long seed, long index) {
    return LargeModel.weight(seed, index);
  }

  /**
   * {@code count} deterministic floats uniform in [-1, 1) from {@code seed}: handy inputs
   * for the models above.
   */
  public static float[] randomFloats(int count, long seed) {
    return SeededValues.uniform(new java.util.SplittableRandom(seed), count, 1f);
  }

  // ---------------------------------------------------------------- builder types

  /** One node attribute; make them with the static factories. */
  public static final class Attr {
    final AttributeProto proto;

    Attr(AttributeProto proto) {
      this.proto = proto;
    }

    private static AttributeProto.Builder named(String name, AttributeProto.AttributeType type) {
      if (name == null || name.isEmpty()) {
        throw new IllegalArgumentException("attribute name must not be empty");
      }
      return AttributeProto.newBuilder().setName(name).setType(type);
    }

    /** An INT attribute. */
    public static Attr i(String name, long value) {
      return new Attr(named(name, AttributeProto.AttributeType.INT).setI(value).build());
    }

    /** A FLOAT attribute. */
    public static Attr f(String name, float value) {
      return new Attr(named(name, AttributeProto.AttributeType.FLOAT).setF(value).build());
    }

    /** A STRING attribute (UTF-8). */
    public static Attr s(String name, String value) {
      return new Attr(named(name, AttributeProto.AttributeType.STRING)
          .setS(ByteString.copyFromUtf8(value)).build());
    }

    /** An INTS attribute. */
    public static Attr ints(String name, long... values) {
      AttributeProto.Builder b = named(name, AttributeProto.AttributeType.INTS);
      for (long v : values) {
        b.addInts(v);
      }
      return new Attr(b.build());
    }

    /** A FLOATS attribute. */
    public static Attr floats(String name, float... values) {
      AttributeProto.Builder b = named(name, AttributeProto.AttributeType.FLOATS);
      for (float v : values) {
        b.addFloats(v);
      }
      return new Attr(b.build());
    }

    /** A STRINGS attribute (UTF-8). */
    public static Attr strings(String name, String... values) {
      AttributeProto.Builder b = named(name, AttributeProto.AttributeType.STRINGS);
      for (String v : values) {
        b.addStrings(ByteString.copyFromUtf8(v));
      }
      return new Attr(b.build());
    }

    @Override
    public String toString() {
      return "Attr[" + proto.getName() + ", " + proto.getType() + "]";
    }
  }

  /**
   * Builds one graph and its model. Nodes must be added in execution order: every node
   * input has to be a graph input, an initializer or an earlier node's output (checked by
   * {@link #build()}, as is that every graph output is produced).
   */
  public static final class GraphBuilder {
    private final GraphProto.Builder graph = GraphProto.newBuilder();
    private final Map<String, Long> opsets = new LinkedHashMap<>();
    private final List<StringStringEntryProto> metadata = new ArrayList<>();
    private final Set<String> valueNames = new HashSet<>();
    private final Set<String> outputNames = new HashSet<>();
    private int nodeCount;

    private GraphBuilder(String name) {
      requireName("graph", name);
      graph.setName(name);
      opsets.put("", OPSET);
    }

    /** Adds a graph input; {@code -1} dimensions are symbolic. */
    public GraphBuilder input(String name, int elemType, long... dims) {
      requireName("input", name);
      if (!valueNames.add(name)) {
        throw new IllegalArgumentException("graph '" + graph.getName() + "' already defines a value named '" + name + "'");
      }
      graph.addInput(valueInfo(name, elemType, dims));
      return this;
    }

    /** Adds a graph output; {@code -1} dimensions are symbolic. */
    public GraphBuilder output(String name, int elemType, long... dims) {
      requireName("output", name);
      if (!outputNames.add(name)) {
        throw new IllegalArgumentException("graph '" + graph.getName() + "' already has an output named '" + name + "'");
      }
      graph.addOutput(valueInfo(name, elemType, dims));
      return this;
    }

    /** Adds a graph output that is a sequence of maps from {@code keyType} to FLOAT (a ZipMap's). */
    public GraphBuilder outputSequenceOfMaps(String name, int keyType) {
      typeName(keyType);
      return output(name, TypeProto.newBuilder().setSequenceType(TypeProto.Sequence.newBuilder()
          .setElemType(TypeProto.newBuilder().setMapType(TypeProto.Map.newBuilder()
              .setKeyType(keyType).setValueType(TypeProto.newBuilder().setTensorType(
                  TypeProto.Tensor.newBuilder().setElemType(FLOAT)))))).build());
    }

    /** Adds a graph output that is a sequence of {@code elemType} tensors of any shape. */
    public GraphBuilder outputSequenceOfTensors(String name, int elemType) {
      typeName(elemType);
      return output(name, TypeProto.newBuilder().setSequenceType(TypeProto.Sequence.newBuilder()
          .setElemType(TypeProto.newBuilder().setTensorType(
              TypeProto.Tensor.newBuilder().setElemType(elemType)))).build());
    }

    private GraphBuilder output(String name, TypeProto type) {
      requireName("output", name);
      if (!outputNames.add(name)) {
        throw new IllegalArgumentException("graph '" + graph.getName() + "' already has an output named '" + name + "'");
      }
      graph.addOutput(ValueInfoProto.newBuilder().setName(name).setType(type));
      return this;
    }

    /** Adds a FLOAT initializer (stored as little-endian raw_data); no dims means {@code [data.length]}. */
    public GraphBuilder initializer(String name, float[] data, long... dims) {
      return initializer(name, FLOAT, data.length, RawData.of(data), dims);
    }

    /** Adds a DOUBLE initializer; no dims means {@code [data.length]}. */
    public GraphBuilder initializer(String name, double[] data, long... dims) {
      return initializer(name, DOUBLE, data.length, RawData.of(data), dims);
    }

    /** Adds an INT32 initializer; no dims means {@code [data.length]}. */
    public GraphBuilder initializer(String name, int[] data, long... dims) {
      return initializer(name, INT32, data.length, RawData.of(data), dims);
    }

    /** Adds an INT64 initializer; no dims means {@code [data.length]}. */
    public GraphBuilder initializer(String name, long[] data, long... dims) {
      return initializer(name, INT64, data.length, RawData.of(data), dims);
    }

    /**
     * Adds an initializer of any fixed-width {@code elemType} from its little-endian bytes
     * ({@code rawLittleEndian} is used as is, not copied; don't change it afterwards).
     */
    public GraphBuilder initializer(String name, int elemType, byte[] rawLittleEndian, long... dims) {
      int width = RawData.width(elemType);
      if (width <= 0) {
        throw new IllegalArgumentException("initializer '" + name + "': raw bytes need a fixed-width element type, got "
            + typeName(elemType));
      }
      if (rawLittleEndian.length % width != 0) {
        throw new IllegalArgumentException("initializer '" + name + "': " + rawLittleEndian.length
            + " bytes is not a whole number of " + typeName(elemType) + " elements (" + width + " bytes each)");
      }
      return initializer(name, elemType, rawLittleEndian.length / width, RawData.wrap(rawLittleEndian), dims);
    }

    private GraphBuilder initializer(String name, int elemType, long count, ByteString raw, long... dims) {
      graph.addInitializer(tensorHeader(name, elemType, count, dims).setRawData(raw));
      return this;
    }

    /** The initializer's TensorProto without its data; registers the name. */
    TensorProto.Builder tensorHeader(String name, int elemType, long count, long... dims) {
      requireName("initializer", name);
      long[] shape = dims.length == 0 ? new long[] {count} : dims;
      long product = 1;
      for (long d : shape) {
        if (d < 0) {
          throw new IllegalArgumentException("initializer '" + name + "' needs a fixed shape, got " + Arrays.toString(shape));
        }
        product *= d;
      }
      if (product != count) {
        throw new IllegalArgumentException("initializer '" + name + "' has " + count
            + " elements but shape " + Arrays.toString(shape) + " needs " + product);
      }
      if (!valueNames.add(name)) {
        throw new IllegalArgumentException("graph '" + graph.getName() + "' already defines a value named '" + name + "'");
      }
      TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(elemType);
      for (long d : shape) {
        t.addDims(d);
      }
      return t;
    }

    /** Adds a node of the default ONNX domain. */
    public GraphBuilder node(String opType, List<String> inputs, List<String> outputs, Attr... attrs) {
      return node("", opType, inputs, outputs, attrs);
    }

    /**
     * Adds a node of {@code domain} (e.g. {@value #ML_DOMAIN}); the domain's opset is
     * imported automatically for {@value #ML_DOMAIN}, otherwise declare it with
     * {@link #opset}. An empty input name stands for an omitted optional input.
     */
    public GraphBuilder node(String domain, String opType, List<String> inputs, List<String> outputs, Attr... attrs) {
      requireName("op type", opType);
      if (outputs.isEmpty()) {
        throw new IllegalArgumentException(opType + " node needs at least one output");
      }
      for (String in : inputs) {
        if (!in.isEmpty() && !valueNames.contains(in)) {
          throw new IllegalArgumentException(opType + " node input '" + in
              + "' is not a graph input, an initializer or an earlier node's output; known: " + valueNames);
        }
      }
      for (String out : outputs) {
        requireName(opType + " node output", out);
        if (!valueNames.add(out)) {
          throw new IllegalArgumentException(opType + " node output '" + out + "' is already defined in graph '"
              + graph.getName() + "'");
        }
      }
      String d = domain == null ? "" : domain;
      if (d.equals(ML_DOMAIN)) {
        opsets.putIfAbsent(ML_DOMAIN, ML_OPSET);
      } else if (!opsets.containsKey(d)) {
        throw new IllegalArgumentException(opType + " node uses domain '" + d
            + "' but no opset is declared for it; call opset(\"" + d + "\", version) first");
      }
      NodeProto.Builder n = NodeProto.newBuilder()
          .setName(opType.toLowerCase(java.util.Locale.ROOT) + "_" + nodeCount++)
          .setOpType(opType)
          .setDomain(d)
          .addAllInput(inputs)
          .addAllOutput(outputs);
      for (Attr a : attrs) {
        n.addAttribute(a.proto);
      }
      graph.addNode(n);
      return this;
    }

    /** Imports {@code domain} at {@code version} (overrides the defaults). */
    public GraphBuilder opset(String domain, long version) {
      opsets.put(domain == null ? "" : domain, version);
      return this;
    }

    /** Adds a model metadata property (ONNX {@code metadata_props}). */
    public GraphBuilder metadata(String key, String value) {
      metadata.add(StringStringEntryProto.newBuilder().setKey(key).setValue(value).build());
      return this;
    }

    /** The serialized model. */
    public byte[] build() {
      return model().toByteArray();
    }

    /** Writes the serialized model to {@code file} (parent directories created) and returns it. */
    public Path write(Path file) {
      return writeModel(file, model()::writeTo);
    }

    ModelProto model() {
      if (graph.getOutputCount() == 0) {
        throw new IllegalStateException("graph '" + graph.getName() + "' has no outputs");
      }
      for (ValueInfoProto out : graph.getOutputList()) {
        if (!valueNames.contains(out.getName())) {
          throw new IllegalStateException("graph '" + graph.getName() + "' output '" + out.getName()
              + "' is produced by no node, input or initializer");
        }
      }
      ModelProto.Builder m = ModelProto.newBuilder()
          .setIrVersion(IR_VERSION)
          .setProducerName("sidecar-testkit")
          .setProducerVersion("1")
          .setModelVersion(1)
          .setGraph(graph.build())
          .addAllMetadataProps(metadata);
      opsets.forEach((domain, version) ->
          m.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(domain).setVersion(version)));
      return m.build();
    }

    GraphProto.Builder graphProto() {
      return graph;
    }

    private ValueInfoProto valueInfo(String name, int elemType, long[] dims) {
      typeName(elemType);
      TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
      for (int i = 0; i < dims.length; i++) {
        long d = dims[i];
        if (d == -1) {
          shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimParam(i == 0 ? "N" : "d" + i));
        } else if (d >= 0) {
          shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        } else {
          throw new IllegalArgumentException("'" + name + "' has dimension " + d + " in " + Arrays.toString(dims)
              + "; use a size >= 0 or -1 for a symbolic dimension");
        }
      }
      return ValueInfoProto.newBuilder()
          .setName(name)
          .setType(TypeProto.newBuilder().setTensorType(
              TypeProto.Tensor.newBuilder().setElemType(elemType).setShape(shape)))
          .build();
    }

    /** The ONNX name of an element type; throws for numbers that are no ONNX type. */
    static String typeName(int elemType) {
      TensorProto.DataType t = TensorProto.DataType.forNumber(elemType);
      if (t == null || t == TensorProto.DataType.UNDEFINED) {
        throw new IllegalArgumentException("unknown ONNX element type " + elemType
            + "; expected a TensorProto.DataType number such as 1 (FLOAT) or 7 (INT64)");
      }
      return elemType + " (" + t.name() + ")";
    }

    private static void requireName(String what, String name) {
      if (name == null || name.isEmpty()) {
        throw new IllegalArgumentException(what + " name must not be empty");
      }
    }

    @Override
    public String toString() {
      return "GraphBuilder[" + graph.getName() + ", " + graph.getNodeCount() + " nodes]";
    }
  }
}
