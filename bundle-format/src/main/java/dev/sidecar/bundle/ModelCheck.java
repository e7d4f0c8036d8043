package dev.sidecar.bundle;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.SequenceInfo;
import ai.onnxruntime.TensorInfo;
import dev.sidecar.bundle.BundleSpec.ApiDecl;
import dev.sidecar.bundle.BundleSpec.ColumnDecl;
import dev.sidecar.bundle.BundleSpec.OutputDecl;
import dev.sidecar.bundle.onnx.ApiBinding;
import dev.sidecar.bundle.onnx.ClassMaps;
import dev.sidecar.bundle.onnx.OnnxGraph;
import dev.sidecar.bundle.onnx.OrtTypes;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Resolves an API as declared in bundle.yaml against its ONNX model, loaded in ONNX Runtime:
 * fills omitted dtypes, shapes and model inputs and checks declared shapes and ranks, then
 * binds the resolved API to the model with {@link ApiBinding} (the rules the server checks again
 * when it loads the bundle), then runs a smoke inference on generated rows. Every failure names
 * the API, the column or output and the model input or output with expected and declared
 * types.
 */
final class ModelCheck implements AutoCloseable {
  static final int SMOKE_ROWS = 2;
  private static final Set<DType> FLOATS = EnumSet.of(DType.FLOAT16, DType.FLOAT32,
      DType.FLOAT64);

  private final String modelName;
  private final String modelPath;
  private OnnxGraph graph;
  private final OrtEnvironment env;
  private final OrtSession session;
  private final Map<String, NodeInfo> inputs;
  private final Map<String, NodeInfo> outputs;
  private final ApiBinding.Model ports;

  ModelCheck(String modelName, String modelPath) {
    this.modelName = modelName;
    this.modelPath = modelPath;
    this.env = OrtEnvironment.getEnvironment();
    try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
      opts.setIntraOpNumThreads(1);
      opts.setInterOpNumThreads(1);
      this.session = env.createSession(modelPath, opts);
      this.inputs = session.getInputInfo();
      this.outputs = session.getOutputInfo();
      this.ports = ApiBinding.Model.of(modelName, session);
    } catch (OrtException e) {
      throw new BundleException("model '" + modelName + "' (" + modelPath
          + "): ONNX Runtime cannot load it: " + e.getMessage(), e);
    }
  }

  @Override
  public void close() {
    try {
      session.close();
    } catch (OrtException e) {
      throw new BundleException("cannot close model '" + modelName + "'", e);
    }
  }

  /** The API with every descriptor field filled and checked against this model. */
  ApiSpec resolve(ApiDecl decl) {
    try {
      return resolveAndBind(decl);
    } catch (ApiBinding.Mismatch e) {
      throw new BundleException(e.getMessage(), e);
    }
  }

  private ApiSpec resolveAndBind(ApiDecl decl) {
    String api = "api '" + decl.name() + "'";
    List<ColumnSpec> cols = new ArrayList<>();
    BundleSpec.InputDecl in = decl.input();
    switch (in.kind()) {
      case TENSOR: {
        ColumnDecl c = in.columns().get(0);
        String mi = modelInputFor(api, c);
        TensorInfo t = tensorInput(api, c.name(), mi);
        DType dt = checkDType(api, c, mi, t);
        List<Long> shape = c.shape();
        long[] ms = t.getShape();
        if (shape == null) {
          shape = new ArrayList<>();
          shape.add(-1L);
          for (int i = 1; i < ms.length; i++) {
            if (ms[i] < 1) {
              throw new BundleException(api + ": model input '" + mi + "' has shape "
                  + shapeText(ms) + " with a dynamic dimension " + i + "; declare the column's"
                  + " shape, e.g. shape: [-1, 4]");
            }
            shape.add(ms[i]);
          }
        } else {
          checkShape(api, "column '" + c.name() + "'", shape, "model input '" + mi + "'", ms);
        }
        cols.add(new ColumnSpec(c.name(), dt, shape, mi));
        break;
      }
      case SERIES: {
        ColumnDecl c = in.columns().get(0);
        String mi = modelInputFor(api, c);
        TensorInfo t = tensorInput(api, c.name(), mi);
        DType dt = checkDType(api, c, mi, t);
        checkShape(api, "column '" + c.name() + "'", List.of(-1L), "model input '" + mi + "'",
            t.getShape());
        cols.add(new ColumnSpec(c.name(), dt, List.of(-1L), mi));
        break;
      }
      case DATAFRAME: {
        if (in.packInto() != null) {
          String mi = in.packInto();
          TensorInfo t = tensorInput(api, "(packed columns)", mi);
          for (ColumnDecl c : in.columns()) {
            DType dt = checkDType(api, c, mi, t);
            cols.add(new ColumnSpec(c.name(), dt, List.of(-1L), mi));
          }
        } else {
          for (ColumnDecl c : in.columns()) {
            String mi = c.modelInput() != null ? c.modelInput() : c.name();
            TensorInfo t = tensorInput(api, c.name(), mi);
            DType dt = checkDType(api, c, mi, t);
            checkShape(api, "column '" + c.name() + "'", List.of(-1L), "model input '" + mi
                + "'", t.getShape());
            cols.add(new ColumnSpec(c.name(), dt, List.of(-1L), mi));
          }
        }
        break;
      }
      default:
        throw new IllegalStateException("unknown kind " + in.kind());
    }
    List<OutputSpec> outs = new ArrayList<>();
    if (decl.outputs() == null) {
      // Every model output becomes a column, or the build fails naming it: none is dropped.
      for (Map.Entry<String, NodeInfo> e : outputs.entrySet()) {
        outs.add(resolveOutput(api, new OutputDecl(e.getKey(), e.getKey(), null, null,
            List.of()), false));
      }
    } else {
      for (OutputDecl o : decl.outputs()) {
        outs.add(resolveOutput(api, o, true));
      }
    }
    ApiSpec spec = new ApiSpec(decl.name(), modelName, new InputDescriptor(in.kind(), cols,
        in.packInto()), outs, decl.batching());
    ApiBinding.bind(spec, ports);
    for (OutputSpec o : outs) {
      if (!o.classLabels().isEmpty()) {
        checkLabelCount(api, o, outs);
      }
    }
    return spec;
  }

  /**
   * Where the model states its classes, the labels must name each of them: a classifier node
   * ({@code classlabels_*} of TreeEnsembleClassifier, LinearClassifier, SVMClassifier, ...)
   * producing the output, else a probabilities output of the same API with a static
   * {@code [N, k]} shape. (The smoke inference sees only a couple of class indexes.)
   */
  private void checkLabelCount(String api, OutputSpec o, List<OutputSpec> outs) {
    String declared = "output '" + o.name() + "' declares " + o.classLabels().size()
        + " labels " + o.classLabels();
    Optional<OnnxGraph.Classes> node = classifierClasses(o.modelOutput());
    if (node.isPresent()) {
      OnnxGraph.Classes c = node.get();
      String where = "the " + c.attribute() + " of its " + c.opType() + " node"
          + (c.nodeName().isEmpty() ? "" : " '" + c.nodeName() + "'") + ", which produces model"
          + " output '" + o.modelOutput() + "'";
      if (c.count() != o.classLabels().size()) {
        throw new BundleException(api + ": " + declared + " but model '" + modelName + "' has "
            + c.count() + " classes (" + where + "); declare one label per class, in class"
            + " order");
      }
      for (int i = 0; i < c.values().size(); i++) {
        if (c.values().get(i) != i) {
          throw new BundleException(api + ": output '" + o.name() + "' maps class indexes 0.."
              + (o.classLabels().size() - 1) + " to labels, but model '" + modelName
              + "' produces the class values " + c.values() + " (" + where + "); remove the"
              + " labels or relabel the classes 0.." + (c.count() - 1) + " in the model");
        }
      }
      return;
    }
    for (OutputSpec p : outs) {
      boolean probabilities = p.classLabels().isEmpty() && FLOATS.contains(p.dtype())
          && p.shape().size() == 2 && p.shape().get(1) > 1
          && (p.modelOutput() + " " + p.name()).toLowerCase(Locale.ROOT).contains("prob");
      if (probabilities && p.shape().get(1) != o.classLabels().size()) {
        throw new BundleException(api + ": " + declared + " but model '" + modelName + "' has "
            + p.shape().get(1) + " classes (output '" + p.name() + "' from model output '"
            + p.modelOutput() + "' has shape " + shapeText(p.shape()) + "); declare one label"
            + " per class, in class order");
      }
    }
  }

  private Optional<OnnxGraph.Classes> classifierClasses(String modelOutput) {
    try {
      if (graph == null) {
        graph = OnnxGraph.read(java.nio.file.Path.of(modelPath));
      }
      return graph.classesOf(modelOutput);
    } catch (java.io.IOException | RuntimeException e) {
      // ONNX Runtime loaded the model; if its graph cannot be read here, rely on the shapes.
      return Optional.empty();
    }
  }

  /**
   * @param declared whether {@code o} is listed under {@code outputs:} (else every model output
   *     is being exposed, and a message says how to leave one out)
   */
  private OutputSpec resolveOutput(String api, OutputDecl o, boolean declared) {
    NodeInfo ni = outputs.get(o.from());
    String what = "output '" + o.name() + "'";
    if (ni != null && isClassMap(ni)) {
      return resolveClassMap(api, o, (SequenceInfo) ni.getInfo());
    }
    if (ni == null || !(ni.getInfo() instanceof TensorInfo)) {
      try {
        ports.output(api, o.name(), o.from());
      } catch (ApiBinding.Mismatch e) {
        throw new BundleException(e.getMessage() + (ni == null ? "" : "; " + (declared
            ? "remove it from outputs:" : "list the outputs to expose under outputs: in"
            + " bundle.yaml, leaving '" + o.from() + "' out (the model's outputs are "
            + outputs.keySet() + ")")), e);
      }
    }
    if (o.as() != null) {
      throw new BundleException(api + ": " + what + " declares as: " + o.as() + ", but model"
          + " output '" + o.from() + "' is a tensor; 'as' applies to outputs that are sequences"
          + " of maps (ZipMap)");
    }
    TensorInfo t = (TensorInfo) ni.getInfo();
    DType model = dtypeOf("model output '" + o.from() + "'", t);
    DType dt = o.dtype() != null ? o.dtype() : model;
    long[] ms = t.getShape();
    List<Long> shape = o.shape();
    if (shape == null) {
      if (ms.length == 0) {
        throw new BundleException(api + ": model output '" + o.from()
            + "' is a scalar; API outputs need a batch dimension");
      }
      shape = new ArrayList<>();
      shape.add(-1L);
      for (int i = 1; i < ms.length; i++) {
        if (ms[i] < 1) {
          throw new BundleException(api + ": model output '" + o.from() + "' has shape "
              + shapeText(ms) + " with a dynamic dimension " + i + "; declare the output's"
              + " shape, e.g. shape: [-1, 3]");
        }
        shape.add(ms[i]);
      }
    } else {
      checkShape(api, what, shape, "model output '" + o.from() + "'", ms);
    }
    return new OutputSpec(o.name(), o.from(), dt, shape, o.labels());
  }

  private static boolean isClassMap(NodeInfo ni) {
    if (!(ni.getInfo() instanceof SequenceInfo)) {
      return false;
    }
    SequenceInfo s = (SequenceInfo) ni.getInfo();
    return s.isSequenceOfMaps() && s.mapInfo != null
        && s.mapInfo.valueType == OnnxJavaType.FLOAT
        && (s.mapInfo.keyType == OnnxJavaType.INT64 || s.mapInfo.keyType == OnnxJavaType.STRING);
  }

  /**
   * A model output that is a sequence of maps (a ZipMap): served as FLOAT32 {@code [-1, k]}
   * in the order of the ZipMap node's class keys, a map or an array column as {@code as} says.
   */
  private OutputSpec resolveClassMap(String api, OutputDecl o, SequenceInfo info) {
    String what = "output '" + o.name() + "'";
    String mo = "model output '" + o.from() + "'";
    Optional<OnnxGraph.ZipMapKeys> keys;
    try {
      if (graph == null) {
        graph = OnnxGraph.read(java.nio.file.Path.of(modelPath));
      }
      keys = graph.zipMapOf(o.from());
    } catch (java.io.IOException | RuntimeException e) {
      throw new BundleException(api + ": " + mo + " is a sequence of maps, but the graph of"
          + " model '" + modelName + "' cannot be read for its class keys: " + e.getMessage(), e);
    }
    if (keys.isEmpty()) {
      throw new BundleException(api + ": " + mo + " is a sequence of maps (" + info + ") not"
          + " produced by a ZipMap node with class labels, so its key order is unknown and it"
          + " cannot be a column; list the other outputs under outputs: in bundle.yaml (the"
          + " model's outputs are " + outputs.keySet() + ")");
    }
    OnnxGraph.ZipMapKeys z = keys.get();
    if (z.strings() != (info.mapInfo.keyType == OnnxJavaType.STRING)) {
      throw new BundleException(api + ": " + mo + " maps " + info.mapInfo.keyType + " keys but"
          + " its ZipMap node declares " + (z.strings() ? "string" : "int64") + " class labels");
    }
    int k = z.keys().size();
    List<Long> shape = List.of(-1L, (long) k);
    if (o.dtype() != null && o.dtype() != DType.FLOAT32) {
      throw new BundleException(api + ": " + what + " comes from " + mo + ", a sequence of maps"
          + " served as float32 probabilities, but is declared " + o.dtype().id());
    }
    if (o.shape() != null && !o.shape().equals(shape)) {
      throw new BundleException(api + ": " + what + " comes from " + mo + ", a sequence of maps"
          + " over " + k + " classes served as shape " + shape + ", but is declared shape "
          + o.shape());
    }
    if (!o.labels().isEmpty()) {
      throw new BundleException(api + ": " + what + " has class labels but " + mo + " is a"
          + " sequence of maps (probabilities by class); labels apply to integer class outputs");
    }
    return new OutputSpec(o.name(), o.from(), DType.FLOAT32, shape, List.of(),
        new OutputSpec.ClassMap(z.strings() ? DType.STRING : DType.INT64, z.keys(),
            "map".equals(o.as())));
  }

  /** Runs the model on {@link #SMOKE_ROWS} generated rows and checks every declared output. */
  void smoke(ApiSpec api) {
    String a = "api '" + api.name() + "'";
    Map<String, OnnxTensor> feeds = new LinkedHashMap<>();
    try {
      for (Map.Entry<String, NodeInfo> e : inputs.entrySet()) {
        TensorInfo t = (TensorInfo) e.getValue().getInfo();
        long[] shape = t.getShape().clone();
        shape[0] = SMOKE_ROWS;
        Optional<ColumnSpec> col = api.input().columns().stream()
            .filter(c -> c.modelInput().equals(e.getKey())).findFirst();
        for (int i = 1; i < shape.length; i++) {
          if (shape[i] < 1) {
            long fromCol = col.isPresent() && api.input().packed() ? api.input().columns().size()
                : col.isPresent() && i < col.get().shape().size() ? col.get().shape().get(i) : 1;
            shape[i] = Math.max(1, fromCol);
          }
        }
        feeds.put(e.getKey(), generate(dtypeOf("model input '" + e.getKey() + "'", t), shape));
      }
      try (OrtSession.Result result = session.run(feeds)) {
        for (OutputSpec o : api.outputs()) {
          Optional<OnnxValue> v = result.get(o.modelOutput());
          if (o.classMap() != null && v.isPresent()) {
            try {
              ClassMaps.toFloats(o.modelOutput(), v.get(), o.classMap(), SMOKE_ROWS);
            } catch (IllegalStateException e) {
              throw new BundleException(a + ": output '" + o.name() + "': the smoke inference on "
                  + SMOKE_ROWS + " rows gave " + e.getMessage());
            }
            continue;
          }
          if (v.isEmpty() || !(v.get() instanceof OnnxTensor)) {
            throw new BundleException(a + ": the smoke inference gave no tensor for model output '"
                + o.modelOutput() + "'");
          }
          OnnxTensor out = (OnnxTensor) v.get();
          long[] got = out.getInfo().getShape();
          if (got.length == 0 || got[0] != SMOKE_ROWS) {
            throw new BundleException(a + ": the smoke inference on " + SMOKE_ROWS
                + " rows gave model output '" + o.modelOutput() + "' of shape "
                + Arrays.toString(got) + "; its first dimension must be the row count");
          }
          long perRow = 1;
          for (int i = 1; i < got.length; i++) {
            perRow *= got[i];
          }
          if (perRow != o.elementsPerRow()) {
            throw new BundleException(a + ": the smoke inference gave model output '"
                + o.modelOutput() + "' of shape " + Arrays.toString(got) + " but output '"
                + o.name() + "' is declared " + shapeText(o.shape()));
          }
          if (!o.classLabels().isEmpty()) {
            checkLabelIndexes(a, o, out);
          }
        }
      }
    } catch (OrtException e) {
      throw new BundleException(a + ": the smoke inference on " + SMOKE_ROWS
          + " generated rows failed in ONNX Runtime: " + e.getMessage(), e);
    } finally {
      for (OnnxTensor t : feeds.values()) {
        t.close();
      }
    }
  }

  private static void checkLabelIndexes(String api, OutputSpec o, OnnxTensor out) {
    ByteBuffer b = out.getByteBuffer().order(ByteOrder.nativeOrder());
    int count = b.limit() / o.dtype().byteSize();
    for (int i = 0; i < count; i++) {
      long idx = ApiBinding.classIndex(b, o.dtype(), i);
      if (idx < 0 || idx >= o.classLabels().size()) {
        throw new BundleException(api + ": output '" + o.name() + "' produced class index " + idx
            + " in the smoke inference, but only " + o.classLabels().size()
            + " labels are declared " + o.classLabels());
      }
    }
  }

  private OnnxTensor generate(DType t, long[] shape) throws OrtException {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    if (t == DType.STRING) {
      String[] s = new String[(int) n];
      Arrays.fill(s, "a");
      return OnnxTensor.createTensor(env, s, shape);
    }
    ByteBuffer b = ByteBuffer.allocateDirect((int) (n * t.byteSize())).order(ByteOrder.nativeOrder());
    for (int i = 0; i < n; i++) {
      switch (t) {
        case BOOL: case INT8: case UINT8: b.put((byte) (i % 2)); break;
        case INT16: b.putShort((short) (i % 2)); break;
        case FLOAT16: b.putShort((short) (i % 2 == 0 ? 0x3800 : 0x3c00)); break; // 0.5, 1.0
        case INT32: b.putInt(i % 2); break;
        case INT64: b.putLong(i % 2); break;
        case FLOAT32: b.putFloat(0.25f * (i % 7) + 0.5f); break;
        case FLOAT64: b.putDouble(0.25 * (i % 7) + 0.5); break;
        default: throw new IllegalStateException(t.id());
      }
    }
    b.flip();
    return OnnxTensor.createTensor(env, b, shape, OrtTypes.javaType(t));
  }

  private String modelInputFor(String api, ColumnDecl c) {
    if (c.modelInput() != null) {
      return c.modelInput();
    }
    return inputs.size() == 1 ? inputs.keySet().iterator().next() : c.name();
  }

  private TensorInfo tensorInput(String api, String column, String mi) {
    NodeInfo ni = inputs.get(mi);
    if (ni == null || !(ni.getInfo() instanceof TensorInfo)) {
      ports.input(api, column, mi); // no such input, or not a tensor: the binding's message
    }
    TensorInfo t = (TensorInfo) ni.getInfo();
    checkBatchDim(api, mi, t.getShape());
    return t;
  }

  private static void checkBatchDim(String api, String mi, long[] ms) {
    if (ms.length == 0) {
      throw new BundleException(api + ": model input '" + mi + "' is a scalar; sidecar needs"
          + " a batch dimension first");
    }
    if (ms[0] > 0) {
      throw new BundleException(api + ": model input '" + mi + "' has shape " + shapeText(ms)
          + " with a fixed batch dimension " + ms[0] + "; sidecar batches rows and needs a"
          + " dynamic first dimension");
    }
  }

  private DType dtypeOf(String what, TensorInfo t) {
    try {
      return OrtTypes.dtype(t);
    } catch (IllegalArgumentException e) {
      throw new BundleException("model '" + modelName + "' " + what + ": " + e.getMessage());
    }
  }

  /** The declared dtype, else the model input's ({@link ApiBinding} checks that they agree). */
  private DType checkDType(String api, ColumnDecl c, String mi, TensorInfo t) {
    DType model = dtypeOf("input '" + mi + "'", t);
    return c.dtype() != null ? c.dtype() : model;
  }

  /** Declared {@code [-1, ...]} against a model shape; {@code [-1]} may meet {@code [N, 1]}. */
  private static void checkShape(String api, String what, List<Long> declared, String modelWhat,
      long[] ms) {
    if (declared.size() == 1 && ms.length == 2 && (ms[1] == 1 || ms[1] < 1)) {
      if (ms[1] < 1) {
        throw new BundleException(api + ": " + what + " is declared " + shapeText(declared)
            + " but " + modelWhat + " has shape " + shapeText(ms) + "; declare shape [-1, k]");
      }
      return;
    }
    if (declared.size() != ms.length) {
      throw new BundleException(api + ": " + what + " has shape " + shapeText(declared)
          + " (rank " + declared.size() + ") but " + modelWhat + " has shape " + shapeText(ms)
          + " (rank " + ms.length + ")");
    }
    for (int i = 1; i < ms.length; i++) {
      if (ms[i] > 0 && ms[i] != declared.get(i)) {
        throw new BundleException(api + ": " + what + " has shape " + shapeText(declared)
            + " but " + modelWhat + " has shape " + shapeText(ms) + " (dimension " + i
            + " differs)");
      }
    }
  }

  private static String shapeText(long[] s) {
    return ApiBinding.shapeText(s);
  }

  static String shapeText(List<Long> s) {
    return s.toString();
  }
}
