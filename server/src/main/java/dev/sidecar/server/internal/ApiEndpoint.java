package dev.sidecar.server.internal;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.sidecar.bundle.ApiSpec;
import dev.sidecar.bundle.Bundle;
import dev.sidecar.bundle.ColumnSpec;
import dev.sidecar.bundle.DType;
import dev.sidecar.bundle.InputDescriptor;
import dev.sidecar.bundle.OutputSpec;
import dev.sidecar.bundle.internal.ClassMaps;
import dev.sidecar.bundle.internal.OrtTypes;
import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.proto.inference.ModelInferResponse;
import dev.sidecar.proto.inference.ModelMetadataResponse;
import dev.sidecar.proto.inference.ModelMetadataResponse.TensorMetadata;
import dev.sidecar.tensor.RawCodec;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import java.lang.reflect.Array;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * One API of the served bundle as an Open Inference Protocol model: its metadata, the mapping
 * of request tensors to model inputs (the API's columns, or the ONNX model's own inputs passed
 * through), the mapping of model outputs to response tensors, and the batch runner the
 * {@link AdaptiveBatcher} calls.
 */
final class ApiEndpoint implements AutoCloseable {

  /** A request tensor an API accepts: name, dtype and the dimensions after the batch one. */
  record InputCol(String name, DType dtype, long[] rowDims) {
    long elemsPerRow() {
      return product(rowDims);
    }

    String describe() {
      return dtype.oipName() + " " + shapeString(rowDims);
    }
  }

  /**
   * How one model input is filled: from one or more request inputs (several when a dataframe's
   * columns are packed), each giving {@code srcElems[k]} elements per row, in order.
   */
  record Feed(String modelInput, DType dtype, long[] rowDims, int[] sources, long[] srcElems) {
    long elemsPerRow() {
      long n = 0;
      for (long e : srcElems) {
        n += e;
      }
      return n;
    }
  }

  /** How requests of one kind (API columns, or model inputs passed through) reach the model. */
  record Plan(String kind, List<InputCol> inputs, List<Feed> feeds, boolean mergeable) {
    int indexOf(String name) {
      for (int i = 0; i < inputs.size(); i++) {
        if (inputs.get(i).name().equals(name)) {
          return i;
        }
      }
      return -1;
    }

    String describe() {
      return inputs.stream().map(c -> c.name() + " " + c.describe())
          .collect(Collectors.joining(", ", "[", "]"));
    }
  }

  /** One response tensor: from a model output, maybe mapped to class labels, maybe squeezed. */
  record OutCol(String name, String modelOutput, DType modelType, long[] rowDims,
      List<String> labels) {
    DType wireType() {
      return labels.isEmpty() ? modelType : DType.STRING;
    }
  }

  /** A model output of one batch, read out of ONNX Runtime. */
  private record BatchOutput(long[] dims, ByteBuffer numbers, String[] strings) {
    long elemsPerRow() {
      long n = 1;
      for (int i = 1; i < dims.length; i++) {
        n *= dims[i];
      }
      return n;
    }
  }

  private final String name;
  private final String bundleName;
  private final String version;
  private final ApiSpec api;
  private final ModelRuntime model;
  private final Plan columns;
  private final Plan passThrough;
  private final List<OutCol> outputs;
  private final ModelMetadataResponse metadata;
  private final ApiMetrics metrics;
  private final ThreadLocal<Map<String, ByteBuffer>> buffers = ThreadLocal.withInitial(HashMap::new);
  private final ModelCallHook hook;
  private AdaptiveBatcher batcher;

  ApiEndpoint(Bundle bundle, ApiSpec api, ModelRuntime model) {
    this(bundle, api, model, null);
  }

  /** @param hook runs before every model call (tests only; null = none) */
  ApiEndpoint(Bundle bundle, ApiSpec api, ModelRuntime model, ModelCallHook hook) {
    this.hook = hook;
    this.name = api.name();
    this.bundleName = bundle.manifest().name();
    this.version = bundle.manifest().version();
    this.api = api;
    this.model = model;
    this.columns = columnPlan(api, model);
    this.passThrough = passThroughPlan(model);
    this.outputs = outputPlan(api, model);
    this.metadata = buildMetadata(bundle);
    this.metrics = new ApiMetrics(name);
  }

  void attach(AdaptiveBatcher b) {
    this.batcher = b;
  }

  String name() {
    return name;
  }

  String version() {
    return version;
  }

  ApiSpec api() {
    return api;
  }

  ApiMetrics metrics() {
    return metrics;
  }

  AdaptiveBatcher batcher() {
    return batcher;
  }

  ModelMetadataResponse metadata() {
    return metadata;
  }

  // ------------------------------------------------------------------ plans (built once)

  private static Plan columnPlan(ApiSpec api, ModelRuntime model) {
    InputDescriptor d = api.input();
    String where = "API '" + api.name() + "'";
    List<InputCol> cols = new ArrayList<>();
    for (ColumnSpec c : d.columns()) {
      cols.add(new InputCol(c.name(), c.dtype(), tail(c.shape())));
    }
    Map<String, ModelRuntime.Port> ports = model.inputs();
    List<Feed> feeds = new ArrayList<>();
    Set<String> fed = new LinkedHashSet<>();
    if (d.packed()) {
      ModelRuntime.Port port = requirePort(ports, d.packedInput(), where, model);
      int[] src = new int[cols.size()];
      long[] elems = new long[cols.size()];
      for (int i = 0; i < cols.size(); i++) {
        InputCol c = cols.get(i);
        if (c.dtype() != port.dtype()) {
          throw new IllegalArgumentException(where + ": column '" + c.name() + "' is "
              + c.dtype().oipName() + " but packed model input '" + port.name() + "' is "
              + port.dtype().oipName());
        }
        src[i] = i;
        elems[i] = c.elemsPerRow();
      }
      Feed f = new Feed(port.name(), port.dtype(), resolveDims(port, Arrays.stream(elems).sum(),
          where), src, elems);
      feeds.add(f);
      fed.add(port.name());
    } else {
      for (int i = 0; i < cols.size(); i++) {
        InputCol c = cols.get(i);
        String target = d.columns().get(i).modelInput();
        if (target == null || target.isEmpty()) {
          if (ports.size() != 1) {
            throw new IllegalArgumentException(where + ": column '" + c.name()
                + "' names no model input and the model has " + ports.size() + " inputs "
                + ports.keySet());
          }
          target = ports.keySet().iterator().next();
        }
        ModelRuntime.Port port = requirePort(ports, target, where, model);
        if (!fed.add(port.name())) {
          throw new IllegalArgumentException(where + ": model input '" + port.name()
              + "' is fed by more than one column; pack them with a dataframe descriptor");
        }
        if (c.dtype() != port.dtype()) {
          throw new IllegalArgumentException(where + ": column '" + c.name() + "' is "
              + c.dtype().oipName() + " but model input '" + port.name() + "' is "
              + port.dtype().oipName());
        }
        feeds.add(new Feed(port.name(), port.dtype(), resolveDims(port, c.elemsPerRow(), where),
            new int[] {i}, new long[] {c.elemsPerRow()}));
      }
    }
    for (String p : ports.keySet()) {
      if (!fed.contains(p)) {
        throw new IllegalArgumentException(where + ": model input '" + p
            + "' is not fed by any input column");
      }
    }
    return new Plan("API inputs", cols, feeds, batchDimDynamic(ports));
  }

  private static Plan passThroughPlan(ModelRuntime model) {
    List<InputCol> cols = new ArrayList<>();
    List<Feed> feeds = new ArrayList<>();
    boolean mergeable = batchDimDynamic(model.inputs());
    for (ModelRuntime.Port p : model.inputs().values()) {
      long[] dims = p.shape().length == 0 ? new long[0] : Arrays.copyOfRange(p.shape(), 1,
          p.shape().length);
      cols.add(new InputCol(p.name(), p.dtype(), dims));
      int i = cols.size() - 1;
      feeds.add(new Feed(p.name(), p.dtype(), dims, new int[] {i}, new long[] {product(dims)}));
      for (long x : dims) {
        mergeable &= x >= 0;
      }
    }
    return new Plan("ONNX model inputs", cols, feeds, mergeable);
  }

  private static boolean batchDimDynamic(Map<String, ModelRuntime.Port> ports) {
    for (ModelRuntime.Port p : ports.values()) {
      if (p.shape().length == 0 || p.shape()[0] != -1) {
        return false;
      }
    }
    return true;
  }

  private static ModelRuntime.Port requirePort(Map<String, ModelRuntime.Port> ports, String name,
      String where, ModelRuntime model) {
    ModelRuntime.Port p = ports.get(name);
    if (p == null) {
      throw new IllegalArgumentException(where + ": model '" + model.name()
          + "' has no tensor input '" + name + "', expected one of " + model.allInputNames());
    }
    return p;
  }

  /** The model input's dimensions after the batch one, checked to hold {@code elems} per row. */
  private static long[] resolveDims(ModelRuntime.Port port, long elems, String where) {
    long[] shape = port.shape();
    if (shape.length == 0) {
      throw new IllegalArgumentException(where + ": model input '" + port.name()
          + "' is a scalar; sidecar needs a batch dimension");
    }
    long[] dims = Arrays.copyOfRange(shape, 1, shape.length);
    int unknown = -1;
    long known = 1;
    for (int i = 0; i < dims.length; i++) {
      if (dims[i] < 0) {
        if (unknown >= 0) {
          throw new IllegalArgumentException(where + ": model input '" + port.name()
              + "' has more than one dynamic dimension after the batch one: "
              + Arrays.toString(shape));
        }
        unknown = i;
      } else {
        known *= dims[i];
      }
    }
    if (unknown >= 0) {
      if (known == 0 || elems % known != 0) {
        throw new IllegalArgumentException(where + ": " + elems + " elements per row do not fit"
            + " model input '" + port.name() + "' " + Arrays.toString(shape));
      }
      dims[unknown] = elems / known;
    } else if (known != elems) {
      throw new IllegalArgumentException(where + ": the columns give " + elems
          + " elements per row but model input '" + port.name() + "' " + Arrays.toString(shape)
          + " takes " + known);
    }
    return dims;
  }

  private static List<OutCol> outputPlan(ApiSpec api, ModelRuntime model) {
    String where = "API '" + api.name() + "'";
    List<OutCol> out = new ArrayList<>();
    for (OutputSpec o : api.outputs()) {
      if (o.classMap() != null) {
        // A sequence of maps (ZipMap): read by ClassMaps as FLOAT32 [N, k] in key order.
        if (!model.allOutputNames().contains(o.modelOutput())
            || model.outputs().containsKey(o.modelOutput())) {
          throw new IllegalArgumentException(where + ": output '" + o.name() + "' reads model"
              + " output '" + o.modelOutput() + "' as a sequence of maps, which model '"
              + model.name() + "' does not have; its outputs are " + model.allOutputNames());
        }
        out.add(new OutCol(o.name(), o.modelOutput(), DType.FLOAT32, tail(o.shape()), List.of()));
        continue;
      }
      ModelRuntime.Port port = model.outputs().get(o.modelOutput());
      if (port == null) {
        throw new IllegalArgumentException(where + ": output '" + o.name()
            + "' reads model output '" + o.modelOutput() + "', which is not a tensor output of "
            + "model '" + model.name() + "'; tensor outputs are " + model.outputs().keySet());
      }
      if (port.dtype() != o.dtype()) {
        throw new IllegalArgumentException(where + ": output '" + o.name() + "' declares "
            + o.dtype().oipName() + " but model output '" + port.name() + "' is "
            + port.describe());
      }
      if (!o.classLabels().isEmpty() && port.dtype() != DType.INT64
          && port.dtype() != DType.INT32) {
        throw new IllegalArgumentException(where + ": output '" + o.name()
            + "' has class labels but model output '" + port.name() + "' is "
            + port.dtype().oipName() + ", not an integer class index");
      }
      out.add(new OutCol(o.name(), port.name(), port.dtype(), tail(o.shape()), o.classLabels()));
    }
    return List.copyOf(out);
  }

  private ModelMetadataResponse buildMetadata(Bundle bundle) {
    ModelMetadataResponse.Builder m = ModelMetadataResponse.newBuilder()
        .setName(name)
        .addVersions(version)
        .setPlatform("onnxruntime_onnx");
    for (InputCol c : columns.inputs()) {
      m.addInputs(TensorMetadata.newBuilder().setName(c.name()).setDatatype(c.dtype().oipName())
          .addAllShape(withBatch(c.rowDims())));
    }
    for (OutCol o : outputs) {
      m.addOutputs(TensorMetadata.newBuilder().setName(o.name())
          .setDatatype(o.wireType().oipName()).addAllShape(withBatch(o.rowDims())));
    }
    m.putProperties("bundle", bundleName);
    m.putProperties("bundle_version", version);
    m.putProperties("bundle_digest", bundle.digest());
    m.putProperties("model", api.model());
    m.putProperties("input_kind", api.input().kind().id());
    m.putProperties("apis", bundle.manifest().apis().stream().map(ApiSpec::name)
        .collect(Collectors.joining(",")));
    return m.build();
  }

  // ------------------------------------------------------------------ decoding a request

  /** Validates and decodes a request into a call; every problem is an INVALID_ARGUMENT. */
  InferCall decode(ModelInferRequest req, Context context, InferCall.Listener listener)
      throws StatusException {
    long arrival = System.nanoTime();
    String model = "model '" + name + "'";
    int n = req.getInputsCount();
    if (n == 0) {
      throw invalid("request for " + model + " has no inputs; expected " + columns.describe());
    }
    Plan plan = choosePlan(req, model);
    boolean raw = req.getRawInputContentsCount() > 0;
    if (raw && req.getRawInputContentsCount() != n) {
      throw invalid("request for " + model + " has " + req.getRawInputContentsCount()
          + " raw_input_contents entries for " + n + " inputs; send one per input, in order");
    }
    Object[] sources = new Object[plan.inputs().size()];
    long[][] srcDims = new long[plan.inputs().size()][];
    int rows = -1;
    String rowsFrom = null;
    for (int i = 0; i < n; i++) {
      ModelInferRequest.InferInputTensor in = req.getInputs(i);
      int p = plan.indexOf(in.getName());
      InputCol col = plan.inputs().get(p);
      String what = "input '" + in.getName() + "' of " + model;
      if (sources[p] != null) {
        throw invalid(what + " is given more than once");
      }
      DType dt;
      try {
        dt = DType.fromOip(in.getDatatype());
      } catch (IllegalArgumentException e) {
        throw invalid(what + ": expected datatype " + col.dtype().oipName() + ", received '"
            + in.getDatatype() + "'");
      }
      if (dt != col.dtype()) {
        throw invalid(what + ": expected datatype " + col.dtype().oipName() + ", received "
            + dt.oipName());
      }
      long[] shape = in.getShapeList().stream().mapToLong(Long::longValue).toArray();
      long[] dims = checkShape(what, col, shape);
      if (shape[0] > Integer.MAX_VALUE) {
        throw invalid(what + ": " + shape[0] + " rows is more than one request can carry");
      }
      int r = (int) shape[0];
      if (rows >= 0 && r != rows) {
        throw invalid(what + " has " + r + " rows but input '" + rowsFrom + "' has " + rows);
      }
      rows = r;
      rowsFrom = in.getName();
      long elems;
      try {
        elems = Math.multiplyExact(r, Math.multiplyExact(productExact(dims),
            Math.max(1, dt.byteSize()))) / Math.max(1, dt.byteSize());
      } catch (ArithmeticException e) {
        throw invalid(what + ": shape " + Arrays.toString(shape) + " declares more data than a "
            + "request can carry");
      }
      if (raw) {
        if (in.hasContents() && RawCodec.hasValues(in.getContents())) {
          throw invalid(what + " carries typed contents while the request also uses "
              + "raw_input_contents; use one form for all inputs");
        }
        sources[p] = decodeRaw(what, dt, shape, elems, req.getRawInputContents(i));
      } else {
        if (!in.hasContents() || !RawCodec.hasValues(in.getContents())) {
          if (elems != 0) {
            throw invalid(what + " has no contents and the request has no raw_input_contents");
          }
        }
        ByteString bytes;
        try {
          bytes = RawCodec.fromContents(in.getContents(), dt, elems);
        } catch (IllegalArgumentException e) {
          throw invalid(what + " " + dt.oipName() + " " + Arrays.toString(shape) + ": "
              + e.getMessage());
        }
        sources[p] = dt == DType.STRING ? decodeRaw(what, dt, shape, elems, bytes) : bytes;
      }
      srcDims[p] = dims;
    }
    for (int p = 0; p < sources.length; p++) {
      if (sources[p] == null) {
        InputCol c = plan.inputs().get(p);
        throw invalid("request for " + model + " is missing input '" + c.name() + "' ("
            + c.dtype().oipName() + " " + shapeString(c.rowDims()) + "); expected "
            + plan.describe());
      }
    }
    long[][] feedDims = new long[plan.feeds().size()][];
    for (int f = 0; f < feedDims.length; f++) {
      Feed feed = plan.feeds().get(f);
      feedDims[f] = feed.sources().length == 1 && plan == passThrough
          ? srcDims[feed.sources()[0]] : feed.rowDims();
    }
    List<OutCol> wanted = requestedOutputs(req, model);
    return new InferCall(this, req.getId(), rows, plan, sources, feedDims, plan.mergeable(),
        wanted, arrival, context, listener);
  }

  private Plan choosePlan(ModelInferRequest req, String model) throws StatusException {
    boolean allColumns = true;
    boolean allModel = true;
    for (ModelInferRequest.InferInputTensor in : req.getInputsList()) {
      allColumns &= columns.indexOf(in.getName()) >= 0;
      allModel &= passThrough.indexOf(in.getName()) >= 0;
    }
    if (allColumns) {
      return columns;
    }
    if (allModel) {
      return passThrough;
    }
    for (ModelInferRequest.InferInputTensor in : req.getInputsList()) {
      if (columns.indexOf(in.getName()) < 0 && passThrough.indexOf(in.getName()) < 0) {
        throw invalid("unknown input '" + in.getName() + "' for " + model
            + ": expected the API inputs " + columns.describe() + " or the ONNX model inputs "
            + passThrough.describe());
      }
    }
    throw invalid("request for " + model + " mixes API inputs " + columns.describe()
        + " with ONNX model inputs " + passThrough.describe() + "; use one set");
  }

  /** Checks a received shape against an input and returns its dimensions after the batch. */
  private static long[] checkShape(String what, InputCol col, long[] shape) throws StatusException {
    String expected = shapeString(col.rowDims());
    if (shape.length == 0) {
      throw invalid(what + ": expected shape " + expected + ", received [] (no batch dimension)");
    }
    for (long d : shape) {
      if (d < 0) {
        throw invalid(what + ": expected shape " + expected + ", received "
            + Arrays.toString(shape) + " (negative dimension)");
      }
    }
    long[] got = Arrays.copyOfRange(shape, 1, shape.length);
    boolean dynamic = false;
    for (long d : col.rowDims()) {
      dynamic |= d < 0;
    }
    if (dynamic) {
      if (got.length != col.rowDims().length) {
        throw invalid(what + ": expected shape " + expected + ", received "
            + Arrays.toString(shape));
      }
      for (int i = 0; i < got.length; i++) {
        if (col.rowDims()[i] >= 0 && col.rowDims()[i] != got[i]) {
          throw invalid(what + ": expected shape " + expected + ", received "
              + Arrays.toString(shape));
        }
      }
      return got;
    }
    // [N] and [N, 1] are the same column; compare without unit dimensions.
    if (!Arrays.equals(dropOnes(got), dropOnes(col.rowDims()))) {
      throw invalid(what + ": expected shape " + expected + ", received "
          + Arrays.toString(shape));
    }
    return col.rowDims();
  }

  private static Object decodeRaw(String what, DType dt, long[] shape, long elems, ByteString raw)
      throws StatusException {
    if (dt == DType.STRING) {
      if (elems > Integer.MAX_VALUE) {
        throw invalid(what + ": too many elements " + Arrays.toString(shape));
      }
      try {
        return RawCodec.decodeStrings(raw, (int) elems);
      } catch (IllegalArgumentException e) {
        throw invalid(what + " BYTES " + Arrays.toString(shape) + ": " + e.getMessage());
      }
    }
    long expected = elems * dt.byteSize();
    if (raw.size() != expected) {
      throw invalid(what + ": raw contents hold " + raw.size() + " bytes, expected " + expected
          + " for " + dt.oipName() + " " + Arrays.toString(shape)
          + (raw.size() < expected ? " (truncated)" : ""));
    }
    return raw;
  }

  private List<OutCol> requestedOutputs(ModelInferRequest req, String model)
      throws StatusException {
    if (req.getOutputsCount() == 0) {
      return outputs;
    }
    List<OutCol> wanted = new ArrayList<>();
    for (ModelInferRequest.InferRequestedOutputTensor o : req.getOutputsList()) {
      OutCol c = outputs.stream().filter(x -> x.name().equals(o.getName())).findFirst()
          .orElse(null);
      if (c == null) {
        ModelRuntime.Port p = this.model.outputs().get(o.getName());
        if (p == null) {
          throw invalid("unknown output '" + o.getName() + "' requested from " + model
              + ", expected one of " + outputs.stream().map(OutCol::name).toList()
              + " or the ONNX model outputs " + this.model.outputs().keySet());
        }
        long[] dims = p.shape().length == 0 ? new long[0]
            : Arrays.copyOfRange(p.shape(), 1, p.shape().length);
        c = new OutCol(p.name(), p.name(), p.dtype(), dims, List.of());
      }
      wanted.add(c);
    }
    return wanted;
  }

  // ------------------------------------------------------------------ running a batch

  /**
   * Runs one batch of slices through the model and completes them; returns the model run time
   * in milliseconds, or -1 if the batch failed (its calls are then failed). {@code answering}
   * runs once the model call is over, before the first slice is completed or failed.
   */
  double runBatch(List<InferCall.Slice> batch, Runnable answering) {
    int total = 0;
    for (InferCall.Slice s : batch) {
      total += s.rowCount();
    }
    Map<String, OnnxTensor> feeds = new LinkedHashMap<>();
    double ms;
    try {
      OrtEnvironment env = OrtEnvironment.getEnvironment();
      InferCall first = batch.get(0).call();
      for (int f = 0; f < first.plan.feeds().size(); f++) {
        Feed feed = first.plan.feeds().get(f);
        long[] shape = withBatchArray(total, first.feedDims[f]);
        feeds.put(feed.modelInput(), tensor(env, feed, shape, batch, total));
      }
      Set<String> wanted = new LinkedHashSet<>();
      for (InferCall.Slice s : batch) {
        for (OutCol o : s.call().outputs) {
          wanted.add(o.modelOutput());
        }
      }
      long t0 = System.nanoTime();
      for (InferCall.Slice s : batch) {
        metrics.waited((t0 - s.call().arrivalNanos) / 1e6);
      }
      if (hook != null) {
        hook.beforeModelCall(name, total);
      }
      Map<String, BatchOutput> results = new HashMap<>();
      try (OrtSession.Result r = model.run(feeds, wanted)) {
        ms = (System.nanoTime() - t0) / 1e6;
        for (String w : wanted) {
          results.put(w, read(w, r.get(w).orElseThrow(), total));
        }
      }
      metrics.batch(total, ms);
      answering.run();
      int offset = 0;
      for (InferCall.Slice s : batch) {
        try {
          ByteString[] outs = new ByteString[s.call().outputs.size()];
          for (int i = 0; i < outs.length; i++) {
            OutCol o = s.call().outputs.get(i);
            outs[i] = encode(o, results.get(o.modelOutput()), offset, s.rowCount());
          }
          s.call().complete(s.index(), outs);
        } catch (StatusRuntimeException e) {
          s.call().fail(e.getStatus());
        } catch (Throwable e) {
          s.call().fail(Status.INTERNAL.withDescription("model '" + name + "': answering failed: "
              + e));
        }
        offset += s.rowCount();
      }
      return ms;
    } catch (OrtException | RuntimeException e) {
      Status st = Status.INTERNAL.withDescription("inference of model '" + name + "' (ONNX model '"
          + model.name() + "') failed on a batch of " + total + " rows: " + e.getMessage());
      answering.run();
      for (InferCall.Slice s : batch) {
        s.call().fail(st);
      }
      return -1;
    } finally {
      for (OnnxTensor t : feeds.values()) {
        t.close();
      }
    }
  }

  private OnnxTensor tensor(OrtEnvironment env, Feed feed, long[] shape, List<InferCall.Slice> batch,
      int total) throws OrtException {
    long epr = feed.elemsPerRow();
    if (feed.dtype() == DType.STRING) {
      String[] all = new String[Math.toIntExact(total * epr)];
      int pos = 0;
      for (InferCall.Slice s : batch) {
        Feed own = s.call().plan.feeds().stream()
            .filter(x -> x.modelInput().equals(feed.modelInput())).findFirst().orElseThrow();
        for (int r = s.rowStart(); r < s.rowStart() + s.rowCount(); r++) {
          for (int k = 0; k < own.sources().length; k++) {
            String[] src = (String[]) s.call().sources[own.sources()[k]];
            int e = (int) own.srcElems()[k];
            System.arraycopy(src, r * e, all, pos, e);
            pos += e;
          }
        }
      }
      return OnnxTensor.createTensor(env, all, shape);
    }
    int bs = feed.dtype().byteSize();
    int bytes = Math.toIntExact(total * epr * bs);
    ByteBuffer buf = buffer(feed.modelInput(), bytes);
    for (InferCall.Slice s : batch) {
      Feed own = s.call().plan.feeds().stream()
          .filter(x -> x.modelInput().equals(feed.modelInput())).findFirst().orElseThrow();
      copyRows(own, s.call().sources, s.rowStart(), s.rowCount(), bs, buf);
    }
    buf.flip();
    return OnnxTensor.createTensor(env, buf, shape, OrtTypes.javaType(feed.dtype()));
  }

  /** A reusable direct buffer of this worker thread for one model input, cleared. */
  private ByteBuffer buffer(String input, int bytes) {
    Map<String, ByteBuffer> mine = buffers.get();
    ByteBuffer b = mine.get(input);
    if (b == null || b.capacity() < bytes) {
      int cap = Math.max(bytes, b == null ? 4096 : Math.min(Integer.MAX_VALUE / 2, b.capacity()) * 2);
      b = ByteBuffer.allocateDirect(Math.max(cap, bytes)).order(ByteOrder.nativeOrder());
      mine.put(input, b);
    }
    b.clear();
    b.limit(bytes);
    return b;
  }

  private static void copyRows(Feed feed, Object[] sources, int rowStart, int rowCount, int bs,
      ByteBuffer dst) {
    if (feed.sources().length == 1) {
      ByteString src = (ByteString) sources[feed.sources()[0]];
      long rowBytes = feed.srcElems()[0] * bs;
      int from = (int) (rowStart * rowBytes);
      src.substring(from, (int) (from + rowCount * rowBytes)).copyTo(dst);
      return;
    }
    int k = feed.sources().length;
    ByteBuffer[] src = new ByteBuffer[k];
    int[] rowBytes = new int[k];
    for (int i = 0; i < k; i++) {
      src[i] = ((ByteString) sources[feed.sources()[i]]).asReadOnlyByteBuffer().order(dst.order());
      rowBytes[i] = (int) (feed.srcElems()[i] * bs);
    }
    for (int r = rowStart; r < rowStart + rowCount; r++) {
      for (int i = 0; i < k; i++) {
        int at = src[i].position() + r * rowBytes[i];
        switch (rowBytes[i]) {
          case 4:
            dst.putInt(src[i].getInt(at));
            break;
          case 8:
            dst.putLong(src[i].getLong(at));
            break;
          case 2:
            dst.putShort(src[i].getShort(at));
            break;
          case 1:
            dst.put(src[i].get(at));
            break;
          default:
            for (int b = 0; b < rowBytes[i]; b++) {
              dst.put(src[i].get(at + b));
            }
            break;
        }
      }
    }
  }

  private BatchOutput read(String output, OnnxValue v, int total) throws OrtException {
    OutputSpec.ClassMap classMap = api.outputs().stream()
        .filter(o -> o.modelOutput().equals(output) && o.classMap() != null)
        .map(OutputSpec::classMap).findFirst().orElse(null);
    if (classMap != null) {
      float[] p = ClassMaps.toFloats(output, v, classMap, total);
      ByteBuffer b = ByteBuffer.allocate(p.length * 4).order(ByteOrder.nativeOrder());
      b.asFloatBuffer().put(p);
      return new BatchOutput(new long[] {total, classMap.keys().size()}, b, null);
    }
    if (!(v instanceof OnnxTensor)) {
      throw new IllegalStateException("model output '" + output + "' is not a tensor");
    }
    OnnxTensor t = (OnnxTensor) v;
    long[] dims = t.getInfo().getShape();
    if (dims.length == 0 || dims[0] != total) {
      throw new IllegalStateException("model output '" + output + "' has shape "
          + Arrays.toString(dims) + ", expected " + total + " rows first");
    }
    if (OrtTypes.dtype(t.getInfo()) == DType.STRING) {
      String[] flat = new String[Math.toIntExact(t.getInfo().getNumElements())];
      flatten(t.getValue(), flat, 0);
      return new BatchOutput(dims, null, flat);
    }
    ByteBuffer b = t.getByteBuffer();
    b.order(ByteOrder.nativeOrder());
    return new BatchOutput(dims, b, null);
  }

  private static int flatten(Object arr, String[] out, int pos) {
    if (arr instanceof String[]) {
      String[] s = (String[]) arr;
      System.arraycopy(s, 0, out, pos, s.length);
      return pos + s.length;
    }
    if (arr instanceof String) {
      out[pos] = (String) arr;
      return pos + 1;
    }
    int n = Array.getLength(arr);
    for (int i = 0; i < n; i++) {
      pos = flatten(Array.get(arr, i), out, pos);
    }
    return pos;
  }

  /**
   * The raw bytes of rows {@code [from, from + n)} of one output, mapped as the column says; a
   * class index without a label is FAILED_PRECONDITION (the bundle lists too few labels).
   */
  private ByteString encode(OutCol o, BatchOutput r, int from, int n) {
    long epr = r.elemsPerRow();
    long declared = product(o.rowDims());
    if (declared >= 0 && declared != epr) {
      throw new IllegalStateException("output '" + o.name() + "' declares shape "
          + shapeString(o.rowDims()) + " but model output '" + o.modelOutput() + "' has shape "
          + Arrays.toString(r.dims()));
    }
    if (!o.labels().isEmpty()) {
      if (epr != 1) {
        throw new IllegalStateException("output '" + o.name() + "' maps class labels but model "
            + "output '" + o.modelOutput() + "' has " + epr + " values per row");
      }
      String[] labels = new String[n];
      ByteBuffer b = r.numbers();
      for (int i = 0; i < n; i++) {
        long idx = o.modelType() == DType.INT64 ? b.getLong((from + i) * 8)
            : b.getInt((from + i) * 4);
        if (idx < 0 || idx >= o.labels().size()) {
          throw Status.FAILED_PRECONDITION.withDescription("API '" + name + "' output '"
              + o.name() + "': model output '" + o.modelOutput() + "' gave class index " + idx
              + ", but the bundle lists " + o.labels().size()
              + " labels (indices 0.." + (o.labels().size() - 1) + "); give every class of the "
              + "model a label in the output's labels: list of bundle.yaml").asRuntimeException();
        }
        labels[i] = o.labels().get((int) idx);
      }
      return RawCodec.encodeStrings(labels, 0, n);
    }
    if (r.strings() != null) {
      return RawCodec.encodeStrings(r.strings(), (int) (from * epr), (int) (n * epr));
    }
    int bs = o.modelType().byteSize();
    int start = (int) (from * epr * bs);
    int len = (int) (n * epr * bs);
    ByteBuffer slice = r.numbers().duplicate();
    slice.limit(start + len).position(start);
    byte[] bytes = new byte[len];
    slice.get(bytes);
    return UnsafeByteOperations.unsafeWrap(bytes);
  }

  /** Builds the response of a call from the outputs of its slices. */
  ModelInferResponse assemble(InferCall call, ByteString[][] parts) {
    ModelInferResponse.Builder b = ModelInferResponse.newBuilder()
        .setModelName(name)
        .setModelVersion(version)
        .setId(call.id);
    for (int i = 0; i < call.outputs.size(); i++) {
      OutCol o = call.outputs.get(i);
      ByteString all = ByteString.EMPTY;
      for (ByteString[] p : parts) {
        all = all.concat(p[i]);
      }
      b.addOutputs(ModelInferResponse.InferOutputTensor.newBuilder()
          .setName(o.name())
          .setDatatype(o.wireType().oipName())
          .addShape(call.rows)
          .addAllShape(Arrays.stream(actualDims(o, all, call.rows)).boxed().toList()));
      b.addRawOutputContents(all);
    }
    return b.build();
  }

  /** The declared dimensions after the batch, with one dynamic dimension resolved from the data. */
  private static long[] actualDims(OutCol o, ByteString data, int rows) {
    long[] dims = o.rowDims().clone();
    int unknown = -1;
    long known = 1;
    for (int i = 0; i < dims.length; i++) {
      if (dims[i] < 0) {
        unknown = i;
      } else {
        known *= dims[i];
      }
    }
    if (unknown >= 0) {
      long elems = o.wireType().isFixedWidth() ? data.size() / o.wireType().byteSize()
          : RawCodec.countStrings(data);
      dims[unknown] = rows == 0 || known == 0 ? 0 : elems / rows / known;
    }
    return dims;
  }

  @Override
  public void close() {
    if (batcher != null) {
      batcher.close();
    }
  }

  // ------------------------------------------------------------------ helpers

  static StatusException invalid(String message) {
    return Status.INVALID_ARGUMENT.withDescription(message).asException();
  }

  private static long[] tail(List<Long> shape) {
    long[] d = new long[Math.max(0, shape.size() - 1)];
    for (int i = 1; i < shape.size(); i++) {
      d[i - 1] = shape.get(i);
    }
    return d;
  }

  private static long product(long[] dims) {
    long n = 1;
    for (long d : dims) {
      if (d < 0) {
        return -1;
      }
      n *= d;
    }
    return n;
  }

  /** The product of non-negative dimensions; ArithmeticException if it overflows. */
  private static long productExact(long[] dims) {
    long n = 1;
    for (long d : dims) {
      n = Math.multiplyExact(n, d);
    }
    return n;
  }

  private static long[] dropOnes(long[] dims) {
    return Arrays.stream(dims).filter(d -> d != 1).toArray();
  }

  private static List<Long> withBatch(long[] rowDims) {
    List<Long> s = new ArrayList<>();
    s.add(-1L);
    for (long d : rowDims) {
      s.add(d);
    }
    return s;
  }

  private static long[] withBatchArray(long rows, long[] rowDims) {
    long[] s = new long[rowDims.length + 1];
    s[0] = rows;
    System.arraycopy(rowDims, 0, s, 1, rowDims.length);
    return s;
  }

  static String shapeString(long[] rowDims) {
    StringBuilder sb = new StringBuilder("[-1");
    for (long d : rowDims) {
      sb.append(", ").append(d);
    }
    return sb.append(']').toString();
  }
}
