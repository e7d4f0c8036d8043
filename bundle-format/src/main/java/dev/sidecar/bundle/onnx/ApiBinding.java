package dev.sidecar.bundle.onnx;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.sidecar.bundle.ApiSpec;
import dev.sidecar.bundle.ColumnSpec;
import dev.sidecar.bundle.DType;
import dev.sidecar.bundle.InputDescriptor;
import dev.sidecar.bundle.OutputSpec;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One API bound to its ONNX model, as ONNX Runtime describes the model: which request column
 * feeds which model input (and how many elements per row), and which model output each API
 * output reads. The one place of the rules an API must meet against its model: a column's dtype
 * is its model input's, every model input is fed by exactly one column (or by the packed
 * columns), packed columns fill the packed input's width, a column's elements fill its input,
 * an output's dtype is its model output's, class labels sit only on integer outputs, and a
 * class-map output reads a model output that is a sequence of maps.
 *
 * <p>The bundle builder binds every API when it builds a bundle (a {@link Mismatch} becomes its
 * {@code BundleException}); the server binds again when it loads one, against the session it
 * serves with. Every message starts with {@code api '<name>'} and names the column or output,
 * the model input or output, and what each side has.
 */
public final class ApiBinding {

  /** A binding rule the API breaks; the message names the API, the column and the model port. */
  public static final class Mismatch extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    Mismatch(String message) {
      super(message);
    }
  }

  /**
   * A model input or output as ONNX Runtime reports it: a tensor's dtype and shape ({@code -1}
   * for a dynamic dimension); {@code dtype} is null for a value sidecar cannot serve (a
   * sequence, a map, an unsupported element type), which {@code type} then describes.
   */
  public record Port(String name, DType dtype, long[] shape, String type) {
    public boolean tensor() {
      return dtype != null;
    }

    public String describe() {
      return tensor() ? dtype.oipName() + " " + Arrays.toString(shape) : type;
    }
  }

  /** A model's ports, from ONNX Runtime's metadata of a session. */
  public record Model(String name, Map<String, Port> inputs, Map<String, Port> outputs) {
    public Model {
      inputs = Collections.unmodifiableMap(new LinkedHashMap<>(inputs));
      outputs = Collections.unmodifiableMap(new LinkedHashMap<>(outputs));
    }

    /** The ports of the model a session runs. */
    public static Model of(String name, OrtSession session) {
      try {
        return new Model(name, ports(session.getInputInfo()), ports(session.getOutputInfo()));
      } catch (ai.onnxruntime.OrtException e) {
        throw new IllegalStateException("ONNX Runtime cannot describe model '" + name + "': "
            + e.getMessage(), e);
      }
    }

    private static Map<String, Port> ports(Map<String, NodeInfo> infos) {
      Map<String, Port> out = new LinkedHashMap<>();
      for (NodeInfo ni : infos.values()) {
        DType dt = null;
        long[] shape = new long[0];
        if (ni.getInfo() instanceof TensorInfo) {
          TensorInfo ti = (TensorInfo) ni.getInfo();
          try {
            dt = OrtTypes.dtype(ti);
          } catch (IllegalArgumentException e) {
            dt = null;
          }
          shape = ti.getShape().clone();
          for (int i = 0; i < shape.length; i++) {
            if (shape[i] < 0) {
              shape[i] = -1;
            }
          }
        }
        out.put(ni.getName(), new Port(ni.getName(), dt, shape, String.valueOf(ni.getInfo())));
      }
      return out;
    }

    /** The tensor inputs sidecar can feed, in the model's order. */
    public Map<String, Port> tensorInputs() {
      return tensors(inputs);
    }

    /** The tensor outputs sidecar can answer with, in the model's order. */
    public Map<String, Port> tensorOutputs() {
      return tensors(outputs);
    }

    private static Map<String, Port> tensors(Map<String, Port> ports) {
      Map<String, Port> out = new LinkedHashMap<>();
      ports.values().stream().filter(Port::tensor).forEach(p -> out.put(p.name(), p));
      return out;
    }

    /** True if every tensor input has a dynamic first (batch) dimension. */
    public boolean batchDynamic() {
      for (Port p : tensorInputs().values()) {
        if (p.shape().length == 0 || p.shape()[0] != -1) {
          return false;
        }
      }
      return true;
    }

    /** The model input {@code column} feeds; a {@link Mismatch} if there is no such tensor. */
    public Port input(String api, String column, String modelInput) {
      Port p = inputs.get(modelInput);
      if (p == null) {
        throw new Mismatch(api + ": column '" + column + "' feeds model input '" + modelInput
            + "', which model '" + name + "' does not have; its inputs are " + inputs.keySet());
      }
      if (!p.tensor()) {
        throw new Mismatch(api + ": model input '" + modelInput + "' is " + p.type()
            + ", not a tensor");
      }
      return p;
    }

    /** The tensor model output API output {@code output} reads; else a {@link Mismatch}. */
    public Port output(String api, String output, String modelOutput) {
      Port p = outputs.get(modelOutput);
      if (p == null) {
        throw new Mismatch(api + ": output '" + output + "' comes from model output '"
            + modelOutput + "', which model '" + name + "' does not have; its outputs are "
            + outputs.keySet());
      }
      if (!p.tensor()) {
        throw new Mismatch(api + ": model output '" + modelOutput + "' is " + p.type()
            + ", which cannot be a column: sidecar serves tensors and sequences of maps from"
            + " int64 or string keys to float (ZipMap)");
      }
      return p;
    }
  }

  /** A request tensor the API accepts: name, dtype and the dimensions after the batch one. */
  public record Column(String name, DType dtype, long[] rowDims) {
    public long elemsPerRow() {
      return product(rowDims);
    }

    public String describe() {
      return dtype.oipName() + " " + rowShapeText(rowDims);
    }
  }

  /**
   * How one model input is filled: from one or more columns (several when a dataframe's columns
   * are packed), indexes {@code sources} into the column list, each giving {@code srcElems[k]}
   * elements per row, in order; {@code rowDims} are the model input's dimensions after the batch.
   */
  public record Feed(String modelInput, DType dtype, long[] rowDims, int[] sources,
      long[] srcElems) {
    public long elemsPerRow() {
      long n = 0;
      for (long e : srcElems) {
        n += e;
      }
      return n;
    }
  }

  /**
   * One response tensor: from a model output, maybe mapped to class labels, maybe squeezed; with
   * a {@code classMap}, the model output is a sequence of maps (ZipMap) read as FLOAT32
   * {@code [N, k]} in the class keys' order.
   */
  public record Output(String name, String modelOutput, DType modelType, long[] rowDims,
      List<String> labels, OutputSpec.ClassMap classMap) {
    public DType wireType() {
      return labels.isEmpty() ? modelType : DType.STRING;
    }
  }

  private final List<Column> columns;
  private final List<Feed> feeds;
  private final List<Output> outputs;

  private ApiBinding(List<Column> columns, List<Feed> feeds, List<Output> outputs) {
    this.columns = List.copyOf(columns);
    this.feeds = List.copyOf(feeds);
    this.outputs = List.copyOf(outputs);
  }

  /** The API's columns, in declared order. */
  public List<Column> columns() {
    return columns;
  }

  /** One feed per model input. */
  public List<Feed> feeds() {
    return feeds;
  }

  /** The API's outputs, in declared order. */
  public List<Output> outputs() {
    return outputs;
  }

  /** Binds {@code api} to {@code model}; a {@link Mismatch} names the first rule it breaks. */
  public static ApiBinding bind(ApiSpec api, Model model) {
    String a = "api '" + api.name() + "'";
    InputDescriptor d = api.input();
    List<Column> cols = new ArrayList<>();
    for (ColumnSpec c : d.columns()) {
      cols.add(new Column(c.name(), c.dtype(), tail(c.shape())));
    }
    List<Feed> feeds = new ArrayList<>();
    Map<String, String> fedBy = new LinkedHashMap<>();
    if (d.packed()) {
      Port port = model.input(a, "(packed columns)", d.packedInput());
      long[] ms = port.shape();
      if (ms.length != 2) {
        throw new Mismatch(a + ": the dataframe is packed into model input '" + port.name()
            + "', which must be 2-D [N, columns] but has shape " + shapeText(ms));
      }
      int[] src = new int[cols.size()];
      long[] elems = new long[cols.size()];
      for (int i = 0; i < cols.size(); i++) {
        checkDType(a, cols.get(i), port);
        src[i] = i;
        elems[i] = cols.get(i).elemsPerRow();
      }
      long width = Arrays.stream(elems).sum();
      if (ms[1] > 0 && ms[1] != width) {
        throw new Mismatch(a + ": the dataframe packs " + cols.size() + " columns into model"
            + " input '" + port.name() + "' of shape " + shapeText(ms) + ", which takes " + ms[1]
            + " columns");
      }
      feeds.add(new Feed(port.name(), port.dtype(), new long[] {width}, src, elems));
      fedBy.put(port.name(), "the packed columns");
    } else {
      for (int i = 0; i < cols.size(); i++) {
        Column c = cols.get(i);
        String target = d.columns().get(i).modelInput();
        if (target == null || target.isEmpty()) {
          if (model.inputs().size() != 1) {
            throw new Mismatch(a + ": column '" + c.name() + "' names no model input and model '"
                + model.name() + "' has " + model.inputs().size() + " inputs "
                + model.inputs().keySet());
          }
          target = model.inputs().keySet().iterator().next();
        }
        Port port = model.input(a, c.name(), target);
        checkDType(a, c, port);
        String prev = fedBy.put(port.name(), c.name());
        if (prev != null) {
          throw new Mismatch(a + ": columns '" + prev + "' and '" + c.name() + "' both feed"
              + " model input '" + port.name() + "'; use pack_into to pack columns");
        }
        feeds.add(new Feed(port.name(), port.dtype(), resolveDims(a, port, c.elemsPerRow()),
            new int[] {i}, new long[] {c.elemsPerRow()}));
      }
    }
    for (String mi : model.inputs().keySet()) {
      if (!fedBy.containsKey(mi)) {
        throw new Mismatch(a + ": model '" + model.name() + "' input '" + mi + "' is fed by no"
            + " column; the model needs inputs " + model.inputs().keySet());
      }
    }
    List<Output> outs = new ArrayList<>();
    for (OutputSpec o : api.outputs()) {
      if (o.classMap() != null) {
        Port port = model.outputs().get(o.modelOutput());
        if (port == null || port.tensor()) {
          throw new Mismatch(a + ": output '" + o.name() + "' reads model output '"
              + o.modelOutput() + "' as a sequence of maps, which model '" + model.name()
              + "' does not have; its outputs are " + model.outputs().keySet());
        }
        outs.add(new Output(o.name(), o.modelOutput(), DType.FLOAT32, tail(o.shape()), List.of(),
            o.classMap()));
        continue;
      }
      Port port = model.output(a, o.name(), o.modelOutput());
      if (o.dtype() != port.dtype()) {
        throw new Mismatch(a + ": output '" + o.name() + "' comes from model output '"
            + port.name() + "' of dtype " + port.dtype().id() + " but is declared "
            + o.dtype().id());
      }
      if (!o.classLabels().isEmpty() && !isInteger(port.dtype())) {
        throw new Mismatch(a + ": output '" + o.name() + "' has class labels but model output '"
            + port.name() + "' is " + port.dtype().id() + "; labels need an integer output");
      }
      outs.add(new Output(o.name(), port.name(), port.dtype(), tail(o.shape()),
          o.classLabels(), null));
    }
    return new ApiBinding(cols, feeds, outs);
  }

  private static void checkDType(String api, Column c, Port port) {
    if (c.dtype() != port.dtype()) {
      throw new Mismatch(api + ": column '" + c.name() + "' feeds model input '" + port.name()
          + "' of dtype " + port.dtype().id() + " but is declared " + c.dtype().id());
    }
  }

  /** The model input's dimensions after the batch one, checked to hold {@code elems} per row. */
  private static long[] resolveDims(String api, Port port, long elems) {
    long[] shape = port.shape();
    if (shape.length == 0) {
      throw new Mismatch(api + ": model input '" + port.name() + "' is a scalar; sidecar needs"
          + " a batch dimension first");
    }
    long[] dims = Arrays.copyOfRange(shape, 1, shape.length);
    int unknown = -1;
    long known = 1;
    for (int i = 0; i < dims.length; i++) {
      if (dims[i] < 0) {
        if (unknown >= 0) {
          throw new Mismatch(api + ": model input '" + port.name() + "' has more than one"
              + " dynamic dimension after the batch one: " + shapeText(shape));
        }
        unknown = i;
      } else {
        known *= dims[i];
      }
    }
    if (unknown >= 0) {
      if (known == 0 || elems % known != 0) {
        throw new Mismatch(api + ": " + elems + " elements per row do not fit model input '"
            + port.name() + "' " + shapeText(shape));
      }
      dims[unknown] = elems / known;
    } else if (known != elems) {
      throw new Mismatch(api + ": the columns give " + elems + " elements per row but model"
          + " input '" + port.name() + "' " + shapeText(shape) + " takes " + known);
    }
    return dims;
  }

  /** True for the dtypes that can carry class indexes (and so class labels). */
  public static boolean isInteger(DType t) {
    return t == DType.INT8 || t == DType.INT16 || t == DType.INT32 || t == DType.INT64
        || t == DType.UINT8;
  }

  /** Class index {@code i} of an integer tensor in {@code b} (native order, from position 0). */
  public static long classIndex(ByteBuffer b, DType t, int i) {
    switch (t) {
      case INT8: return b.get(i);
      case UINT8: return b.get(i) & 0xff;
      case INT16: return b.getShort(i * 2);
      case INT32: return b.getInt(i * 4);
      case INT64: return b.getLong(i * 8);
      default: throw new IllegalArgumentException(t.id() + " holds no class indexes");
    }
  }

  /** The dimensions after the first; empty for a scalar. */
  public static long[] tail(List<Long> shape) {
    long[] d = new long[Math.max(0, shape.size() - 1)];
    for (int i = 1; i < shape.size(); i++) {
      d[i - 1] = shape.get(i);
    }
    return d;
  }

  /** The product of the dimensions, or -1 if one is dynamic. */
  public static long product(long[] dims) {
    long n = 1;
    for (long d : dims) {
      if (d < 0) {
        return -1;
      }
      n *= d;
    }
    return n;
  }

  /** A model shape as {@code [N, 4]}: N for a dynamic batch, ? for another dynamic dimension. */
  public static String shapeText(long[] s) {
    StringBuilder b = new StringBuilder("[");
    for (int i = 0; i < s.length; i++) {
      b.append(i == 0 ? "" : ", ").append(s[i] < 0 ? (i == 0 ? "N" : "?") : String.valueOf(s[i]));
    }
    return b.append(']').toString();
  }

  /** The dimensions after the batch as a declared shape, {@code [-1, 4]}. */
  public static String rowShapeText(long[] rowDims) {
    StringBuilder sb = new StringBuilder("[-1");
    for (long d : rowDims) {
      sb.append(", ").append(d);
    }
    return sb.append(']').toString();
  }
}
