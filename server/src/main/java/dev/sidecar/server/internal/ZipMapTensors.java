package dev.sidecar.server.internal;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxJavaType;
import dev.sidecar.bundle.DType;
import dev.sidecar.bundle.OutputSpec;
import dev.sidecar.bundle.onnx.ApiBinding;
import dev.sidecar.bundle.onnx.ClassMaps;
import dev.sidecar.bundle.onnx.OnnxGraph;
import dev.sidecar.proto.onnx.GraphProto;
import dev.sidecar.proto.onnx.ModelProto;
import dev.sidecar.proto.onnx.ValueInfoProto;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Serves a ZipMap output from the tensor the ZipMap node reads, so the sequence of maps is
 * never fetched nor read through ONNX Runtime's Java API (one {@code OnnxMap} per row, the
 * cost of the old path). ONNX Runtime's inference builds still run the ZipMap node (they run the
 * whole graph whatever outputs are requested; microsoft/onnxruntime#16483), which is cheap
 * next to the Java reading. An
 * {@code ai.onnx.ml ZipMap} gives {@code map[classlabels[j]] = input[row, j]}: the float
 * {@code [N, k]} input, its columns in the node's key order, holds every probability.
 *
 * <p>{@link #plan} reads the graph and, where a ZipMap's input is not already a graph output,
 * gives the model's bytes with that input added as a graph output (an appended
 * {@code ModelProto} fragment, which protobuf merges into the graph: the weights are copied,
 * never parsed). The file is not touched; a loader creates its session from these bytes, checks
 * each tensor with {@link #misfit} against what ONNX Runtime reports, requests the tensor
 * instead of the ZipMap output, and reads it with {@link #read} in the declared key order
 * ({@link #columns}). Whatever does not fit is served as before, by {@link ClassMaps}.
 */
final class ZipMapTensors {
  /**
   * A ZipMap output read from the node's input {@code tensor}; {@code added} if the tensor is
   * a graph output only in the bytes of {@link #model()}.
   */
  public record Tap(String output, String tensor, OnnxGraph.ZipMapKeys node, boolean added) {
  }

  private final byte[] model;
  private final Map<String, Tap> taps;
  private final List<String> skipped;

  private ZipMapTensors(byte[] model, Map<String, Tap> taps, List<String> skipped) {
    this.model = model;
    this.taps = Collections.unmodifiableMap(taps);
    this.skipped = List.copyOf(skipped);
  }

  /** The ZipMap outputs of the model at {@code file} and the model that exposes their inputs. */
  public static ZipMapTensors plan(Path file) throws IOException {
    OnnxGraph g = OnnxGraph.read(file);
    Map<String, Tap> taps = new LinkedHashMap<>();
    List<String> skipped = new ArrayList<>();
    Set<String> add = new LinkedHashSet<>();
    for (String out : g.graphOutputs()) {
      OnnxGraph.ZipMapKeys z = g.zipMapOf(out).orElse(null);
      if (z == null) {
        continue;
      }
      if (z.input().isEmpty() || g.isGraphInput(z.input())) {
        skipped.add("output '" + out + "': its ZipMap node reads "
            + (z.input().isEmpty() ? "no value" : "graph input '" + z.input() + "'"));
        continue;
      }
      boolean added = !g.isGraphOutput(z.input());
      if (added) {
        add.add(z.input());
      }
      taps.put(out, new Tap(out, z.input(), z, added));
    }
    byte[] bytes = null;
    if (!add.isEmpty()) {
      GraphProto.Builder extra = GraphProto.newBuilder();
      for (String a : add) {
        extra.addOutput(ValueInfoProto.newBuilder().setName(a));
      }
      byte[] tail = ModelProto.newBuilder().setGraph(extra).build().toByteArray();
      long size = Files.size(file);
      if (size + tail.length > Integer.MAX_VALUE - 16) {
        throw new IOException("model " + file + " is too large (" + size + " bytes) to copy in"
            + " memory");
      }
      byte[] orig = Files.readAllBytes(file);
      bytes = Arrays.copyOf(orig, orig.length + tail.length);
      System.arraycopy(tail, 0, bytes, orig.length, tail.length);
    }
    return new ZipMapTensors(bytes, taps, skipped);
  }

  /** The model to load: the file's bytes with the added outputs; null to load the file as is. */
  public byte[] model() {
    return model;
  }

  /** The ZipMap outputs that can be read from a tensor, by output name. */
  public Map<String, Tap> taps() {
    return taps;
  }

  /** Why a ZipMap output cannot be read from its input, one line each. */
  public List<String> skipped() {
    return skipped;
  }

  /**
   * Why {@code port} (the tap's tensor, as ONNX Runtime reports it; null if missing) cannot be
   * read as the tap's probabilities, or null if it can: it must be float, and its shape, as far
   * as ONNX Runtime knows it, {@code [N, k]} (or ZipMap's one-row {@code [k]}). ONNX Runtime
   * often knows no shape for it (none is declared, and the ai.onnx.ml classifiers infer none):
   * {@link #read} then checks each batch's tensor, which is exactly what the ZipMap node would
   * have accepted.
   */
  public static String misfit(Tap tap, ApiBinding.Port port) {
    int k = tap.node().keys().size();
    if (port == null) {
      return "output '" + tap.output() + "': ONNX Runtime does not list its ZipMap's input '"
          + tap.tensor() + "' as an output";
    }
    long[] s = port.shape();
    long width = s.length == 0 ? -1 : s[s.length - 1];
    if (port.dtype() != DType.FLOAT32 || s.length > 2 || (width >= 0 && width != k)) {
      return "output '" + tap.output() + "': its ZipMap's input '" + tap.tensor() + "' is "
          + (port.tensor() ? port.dtype().oipName() + " " + ApiBinding.shapeText(s)
          : port.type()) + ", not FP32 [N, " + k + "]";
    }
    return null;
  }

  /**
   * For each declared key, the tensor column that holds it (ZipMap's columns are in the node's
   * key order); throws {@link IllegalStateException} with {@link ClassMaps}' message, naming the
   * output and both key sets, when the declared keys are not the node's.
   */
  public static int[] columns(Tap tap, OutputSpec.ClassMap declared) {
    List<String> nodeKeys = tap.node().keys();
    Map<Object, Integer> at = new HashMap<>();
    Map<Object, Float> asMap = new LinkedHashMap<>();
    for (int j = 0; j < nodeKeys.size(); j++) {
      Object key = tap.node().strings() ? nodeKeys.get(j) : (Object) Long.valueOf(nodeKeys.get(j));
      at.put(key, j);
      asMap.put(key, 0f);
    }
    List<String> keys = declared.keys();
    int[] cols = new int[keys.size()];
    Set<Object> declaredKeys = new LinkedHashSet<>();
    for (int j = 0; j < keys.size(); j++) {
      Object key = declared.keyType() == DType.INT64 ? (Object) Long.valueOf(keys.get(j))
          : keys.get(j);
      declaredKeys.add(key);
    }
    for (Object key : new java.util.TreeSet<>(asMap.keySet())) {
      if (!declaredKeys.contains(key)) {
        throw new IllegalStateException(ClassMaps.differs(tap.output(), 0, asMap, keys)
            + " (key " + key + " is not declared)");
      }
    }
    int j = 0;
    for (Object key : declaredKeys) {
      Integer c = at.get(key);
      if (c == null) {
        throw new IllegalStateException(ClassMaps.differs(tap.output(), 0, asMap, keys)
            + " (no probability for key " + key + ")");
      }
      cols[j++] = c;
    }
    if (j != keys.size() || nodeKeys.size() != keys.size()) {
      throw new IllegalStateException(ClassMaps.differs(tap.output(), 0, asMap, keys)
          + " (a key is declared twice)");
    }
    return cols;
  }

  /**
   * The probabilities of {@code rows} rows from the ZipMap input {@code t} of {@code tap}, as a
   * native-order FLOAT32 {@code [rows, columns.length]} buffer with column {@code j} read from
   * tensor column {@code columns[j]}; throws {@link IllegalStateException} naming the output if
   * the tensor is not float {@code [rows, k]} (or {@code [k]} for one row, which ZipMap reads
   * as one row too).
   */
  public static ByteBuffer read(Tap tap, OnnxTensor t, int[] columns, int rows) {
    int k = tap.node().keys().size();
    long[] dims = t.getInfo().getShape();
    boolean fits = dims.length == 2 ? dims[0] == rows && dims[1] == k
        : dims.length == 1 && rows == 1 && dims[0] == k;
    if (t.getInfo().type != OnnxJavaType.FLOAT || !fits) {
      throw new IllegalStateException("model output '" + tap.output() + "': its ZipMap's input '"
          + tap.tensor() + "' is " + t.getInfo().type + " " + Arrays.toString(dims)
          + ", expected FLOAT [" + rows + ", " + k + "]");
    }
    boolean identity = columns.length == k;
    for (int j = 0; identity && j < k; j++) {
      identity = columns[j] == j;
    }
    if (identity) {
      return t.getByteBuffer().order(ByteOrder.nativeOrder());
    }
    FloatBuffer in = t.getFloatBuffer();
    ByteBuffer b = ByteBuffer.allocate(Math.multiplyExact(rows, columns.length) * 4)
        .order(ByteOrder.nativeOrder());
    FloatBuffer out = b.asFloatBuffer();
    for (int r = 0; r < rows; r++) {
      int base = r * k;
      for (int c : columns) {
        out.put(in.get(base + c));
      }
    }
    return b;
  }
}
