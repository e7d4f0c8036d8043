package dev.sidecar.server.internal;

import static dev.sidecar.bundle.onnx.ApiBinding.rowShapeText;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.sidecar.bundle.DType;
import dev.sidecar.bundle.onnx.ApiBinding;
import dev.sidecar.bundle.onnx.ApiBinding.Column;
import dev.sidecar.bundle.onnx.ApiBinding.Feed;
import dev.sidecar.bundle.onnx.ApiBinding.Output;
import dev.sidecar.bundle.onnx.ApiBinding.Port;
import dev.sidecar.proto.inference.InferParameter;
import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.tensor.RawCodec;
import dev.sidecar.tensor.TypedContents;
import io.grpc.Status;
import io.grpc.StatusException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;

/**
 * Checks and decodes the Open Inference Protocol requests of one API into
 * {@link DecodedRequest}s: by the API's columns as {@link ApiBinding} bound them, or by the ONNX
 * model's own inputs passed through; raw or typed contents; every problem an INVALID_ARGUMENT
 * naming the input, what was expected and what came.
 */
final class RequestDecoder {
  /** How requests of one kind (API columns, or model inputs passed through) reach the model. */
  record Plan(String kind, List<Column> inputs, List<Feed> feeds, boolean mergeable) {
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

  private final String name;
  private final ModelRuntime model;
  private final List<Output> outputs;
  private final Plan columns;
  private final Plan passThrough;

  RequestDecoder(String name, ApiBinding binding, ModelRuntime model) {
    this.name = name;
    this.model = model;
    this.outputs = binding.outputs();
    this.columns = new Plan("API inputs", binding.columns(), binding.feeds(),
        model.ports().batchDynamic());
    this.passThrough = passThroughPlan(model);
  }

  private static Plan passThroughPlan(ModelRuntime model) {
    List<Column> cols = new ArrayList<>();
    List<Feed> feeds = new ArrayList<>();
    boolean mergeable = model.ports().batchDynamic();
    for (Port p : model.inputs().values()) {
      long[] dims = p.shape().length == 0 ? new long[0] : Arrays.copyOfRange(p.shape(), 1,
          p.shape().length);
      cols.add(new Column(p.name(), p.dtype(), dims));
      int i = cols.size() - 1;
      feeds.add(new Feed(p.name(), p.dtype(), dims, new int[] {i},
          new long[] {ApiBinding.product(dims)}));
      for (long x : dims) {
        mergeable &= x >= 0;
      }
    }
    return new Plan("ONNX model inputs", cols, feeds, mergeable);
  }

  /** Validates and decodes a request; every problem is an INVALID_ARGUMENT. */
  DecodedRequest decode(ModelInferRequest req) throws StatusException {
    return decode(req, null);
  }

  /**
   * Validates and decodes a request whose inputs and outputs may name regions of {@code shm}
   * (null: none registered); the regions stay in use until the result's {@code release} runs.
   * Every problem is an INVALID_ARGUMENT, or Triton's status for a shared-memory problem.
   */
  DecodedRequest decode(ModelInferRequest req, SharedMemoryRegistry shm) throws StatusException {
    List<SharedMemoryRegistry.Region> held = new ArrayList<>();
    try {
      return decode(req, shm, held);
    } catch (StatusException | RuntimeException e) {
      for (SharedMemoryRegistry.Region r : held) {
        shm.release(r);
      }
      throw e;
    }
  }

  /** The shared-memory parameters of an input or output, or null when it names no region. */
  record ShmRef(String region, long offset, long byteSize) {
  }

  static ShmRef shmRef(String what, Map<String, InferParameter> params) throws StatusException {
    InferParameter region = params.get("shared_memory_region");
    if (region == null) {
      return null;
    }
    if (region.getParameterChoiceCase() != InferParameter.ParameterChoiceCase.STRING_PARAM) {
      throw invalid(what + ": parameter 'shared_memory_region' must be a string");
    }
    InferParameter size = params.get("shared_memory_byte_size");
    if (size == null) {
      throw invalid(what + ": 'shared_memory_region' is given without "
          + "'shared_memory_byte_size'");
    }
    InferParameter offset = params.get("shared_memory_offset");
    return new ShmRef(region.getStringParam(),
        offset == null ? 0 : integer(what, "shared_memory_offset", offset),
        integer(what, "shared_memory_byte_size", size));
  }

  private static long integer(String what, String param, InferParameter p)
      throws StatusException {
    long v;
    switch (p.getParameterChoiceCase()) {
      case INT64_PARAM: v = p.getInt64Param(); break;
      case UINT64_PARAM: v = p.getUint64Param(); break;
      default:
        throw invalid(what + ": parameter '" + param + "' must be an integer");
    }
    if (v < 0) {
      throw invalid(what + ": parameter '" + param + "' is " + Long.toUnsignedString(v)
          + ", out of range");
    }
    return v;
  }

  private DecodedRequest decode(ModelInferRequest req, SharedMemoryRegistry shm,
      List<SharedMemoryRegistry.Region> held) throws StatusException {
    String model = "model '" + name + "'";
    int n = req.getInputsCount();
    if (n == 0) {
      throw invalid("request for " + model + " has no inputs; expected " + columns.describe());
    }
    Plan plan = choosePlan(req, model);
    ShmRef[] refs = new ShmRef[n];
    int inMemory = 0;
    for (int i = 0; i < n; i++) {
      refs[i] = shmRef("input '" + req.getInputs(i).getName() + "' of " + model,
          req.getInputs(i).getParametersMap());
      inMemory += refs[i] == null ? 0 : 1;
    }
    boolean raw = req.getRawInputContentsCount() > 0;
    if (raw && req.getRawInputContentsCount() != n - inMemory) {
      throw invalid("request for " + model + " has " + req.getRawInputContentsCount()
          + " raw_input_contents entries for " + (n - inMemory) + " inputs"
          + (inMemory > 0 ? " not in shared memory" : "") + "; send one per input, in order");
    }
    int rawIndex = 0;
    Object[] sources = new Object[plan.inputs().size()];
    DecodedRequest.ShmRange[] sourceRegions = inMemory == 0 ? null
        : new DecodedRequest.ShmRange[plan.inputs().size()];
    long[][] srcDims = new long[plan.inputs().size()][];
    int rows = -1;
    String rowsFrom = null;
    for (int i = 0; i < n; i++) {
      ModelInferRequest.InferInputTensor in = req.getInputs(i);
      int p = plan.indexOf(in.getName());
      Column col = plan.inputs().get(p);
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
      if (refs[i] != null) {
        if (in.hasContents() && TypedContents.hasValues(in.getContents())) {
          throw invalid(what + " carries contents while naming shared memory region '"
              + refs[i].region() + "'; use one");
        }
        if (shm == null) {
          throw Status.NOT_FOUND.withDescription("Unable to find shared memory region: '"
              + refs[i].region() + "'").asException();
        }
        SharedMemoryRegistry.Region region = shm.acquire(refs[i].region(), refs[i].offset(),
            refs[i].byteSize());
        held.add(region);
        if (dt.isFixedWidth() && refs[i].byteSize() != elems * dt.byteSize()) {
          throw invalid("input byte size mismatch for input '" + in.getName() + "' for model '"
              + name + "'. Expected " + elems * dt.byteSize() + ", got " + refs[i].byteSize());
        }
        sources[p] = decodeRaw(what, dt, shape, elems, UnsafeByteOperations.unsafeWrap(
            region.view(refs[i].offset(), refs[i].byteSize())));
        sourceRegions[p] = new DecodedRequest.ShmRange(region, refs[i].offset(),
            refs[i].byteSize());
      } else if (raw) {
        if (in.hasContents() && TypedContents.hasValues(in.getContents())) {
          throw invalid(what + " carries typed contents while the request also uses "
              + "raw_input_contents; use one form for all inputs");
        }
        sources[p] = decodeRaw(what, dt, shape, elems, req.getRawInputContents(rawIndex++));
      } else {
        if (!in.hasContents() || !TypedContents.hasValues(in.getContents())) {
          if (elems != 0) {
            throw invalid(what + " has no contents and the request has no raw_input_contents");
          }
        }
        ByteString bytes;
        try {
          bytes = TypedContents.fromContents(in.getContents(), dt, elems);
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
        Column c = plan.inputs().get(p);
        throw invalid("request for " + model + " is missing input '" + c.name() + "' ("
            + c.dtype().oipName() + " " + rowShapeText(c.rowDims()) + "); expected "
            + plan.describe());
      }
    }
    long[][] feedDims = new long[plan.feeds().size()][];
    for (int f = 0; f < feedDims.length; f++) {
      Feed feed = plan.feeds().get(f);
      feedDims[f] = feed.sources().length == 1 && plan == passThrough
          ? srcDims[feed.sources()[0]] : feed.rowDims();
    }
    List<Output> wanted = requestedOutputs(req, model);
    DecodedRequest.ShmRange[] targets = null;
    for (int i = 0; i < req.getOutputsCount(); i++) {
      ModelInferRequest.InferRequestedOutputTensor o = req.getOutputs(i);
      ShmRef ref = shmRef("output '" + o.getName() + "' of " + model, o.getParametersMap());
      if (ref == null) {
        continue;
      }
      if (shm == null) {
        throw Status.NOT_FOUND.withDescription("Unable to find shared memory region: '"
            + ref.region() + "'").asException();
      }
      SharedMemoryRegistry.Region region = shm.acquire(ref.region(), ref.offset(),
          ref.byteSize());
      held.add(region);
      if (targets == null) {
        targets = new DecodedRequest.ShmRange[wanted.size()];
      }
      targets[i] = new DecodedRequest.ShmRange(region, ref.offset(), ref.byteSize());
    }
    Runnable release = () -> { };
    if (!held.isEmpty()) {
      List<SharedMemoryRegistry.Region> mine = List.copyOf(held);
      AtomicBoolean done = new AtomicBoolean();
      release = () -> {
        if (done.compareAndSet(false, true)) {
          for (SharedMemoryRegistry.Region r : mine) {
            shm.release(r);
          }
        }
      };
    }
    return new DecodedRequest(req.getId(), rows, plan.feeds(), sources, feedDims, plan.mergeable(),
        wanted, sourceRegions, targets, release);
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
  private static long[] checkShape(String what, Column col, long[] shape) throws StatusException {
    String expected = rowShapeText(col.rowDims());
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

  private List<Output> requestedOutputs(ModelInferRequest req, String model)
      throws StatusException {
    if (req.getOutputsCount() == 0) {
      return outputs;
    }
    List<Output> wanted = new ArrayList<>();
    for (ModelInferRequest.InferRequestedOutputTensor o : req.getOutputsList()) {
      Output c = outputs.stream().filter(x -> x.name().equals(o.getName())).findFirst()
          .orElse(null);
      if (c == null) {
        Port p = this.model.outputs().get(o.getName());
        if (p == null) {
          throw invalid("unknown output '" + o.getName() + "' requested from " + model
              + ", expected one of " + outputs.stream().map(Output::name).toList()
              + " or the ONNX model outputs " + this.model.outputs().keySet());
        }
        long[] dims = p.shape().length == 0 ? new long[0]
            : Arrays.copyOfRange(p.shape(), 1, p.shape().length);
        c = new Output(p.name(), p.name(), p.dtype(), dims, List.of(), null);
      }
      wanted.add(c);
    }
    return wanted;
  }

  static StatusException invalid(String message) {
    return Status.INVALID_ARGUMENT.withDescription(message).asException();
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
}
