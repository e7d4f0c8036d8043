package dev.sidecar.server.internal;

import static dev.sidecar.bundle.onnx.ApiBinding.rowShapeText;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtException;
import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.sidecar.bundle.DType;
import dev.sidecar.bundle.OutputSpec;
import dev.sidecar.bundle.onnx.ApiBinding;
import dev.sidecar.bundle.onnx.ApiBinding.Output;
import dev.sidecar.bundle.onnx.ClassMaps;
import dev.sidecar.bundle.onnx.OrtTypes;
import dev.sidecar.proto.inference.ModelInferResponse;
import dev.sidecar.tensor.RawCodec;
import io.grpc.Status;
import java.lang.reflect.Array;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The answers of one API: model outputs read out of ONNX Runtime once per batch, each
 * request's rows of them encoded as its response tensors (class indexes mapped to labels), and
 * the response assembled from the slices a request was split into.
 */
final class AnswerEncoder {
  /** A model output of one batch, read out of ONNX Runtime. */
  record BatchOutput(long[] dims, ByteBuffer numbers, String[] strings) {
    long elemsPerRow() {
      long n = 1;
      for (int i = 1; i < dims.length; i++) {
        n *= dims[i];
      }
      return n;
    }
  }

  private final String name;
  private final String version;
  /** The API's outputs that read a sequence of maps (ZipMap), by model output. */
  private final Map<String, OutputSpec.ClassMap> classMaps = new HashMap<>();
  /** Of those, the ones the model computes as their ZipMap's input tensor, by model output. */
  private final Map<String, ZipMapTensors.Tap> taps = new HashMap<>();
  /** For each tapped output, the tensor column of each declared key (null: the keys differ). */
  private final Map<String, int[]> columns = new HashMap<>();
  /** For each tapped output whose declared keys are not its ZipMap's, the error to answer. */
  private final Map<String, String> keysDiffer = new HashMap<>();

  AnswerEncoder(String name, String version, List<Output> outputs) {
    this(name, version, outputs, Map.of());
  }

  /** @param taps the ZipMap outputs the model computes as tensors ({@link ModelRuntime#zipMapTaps}) */
  AnswerEncoder(String name, String version, List<Output> outputs,
      Map<String, ZipMapTensors.Tap> taps) {
    this.name = name;
    this.version = version;
    for (Output o : outputs) {
      if (o.classMap() != null) {
        classMaps.put(o.modelOutput(), o.classMap());
        ZipMapTensors.Tap t = taps.get(o.modelOutput());
        if (t != null) {
          this.taps.put(o.modelOutput(), t);
          try {
            columns.put(o.modelOutput(), ZipMapTensors.columns(t, o.classMap()));
          } catch (IllegalStateException | IllegalArgumentException e) {
            // Each call fails with it, as when the maps were read (the server still loads).
            keysDiffer.put(o.modelOutput(), e.getMessage());
          }
        }
      }
    }
  }

  BatchOutput read(String output, OnnxValue v, int total) throws OrtException {
    OutputSpec.ClassMap classMap = classMaps.get(output);
    ZipMapTensors.Tap tap = taps.get(output);
    if (tap != null && v instanceof OnnxTensor) {
      // A ZipMap output computed as the ZipMap's input tensor: its columns in declared order.
      String differ = keysDiffer.get(output);
      if (differ != null) {
        throw new IllegalStateException(differ);
      }
      ByteBuffer b = ZipMapTensors.read(tap, (OnnxTensor) v, columns.get(output), total);
      return new BatchOutput(new long[] {total, classMap.keys().size()}, b, null);
    }
    if (classMap != null) {
      // A sequence of maps (ZipMap): read by ClassMaps as FLOAT32 [N, k] in key order.
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
   * Whether output {@code o} goes into a shared-memory target as it is computed, straight from
   * the model's result ({@link #writeInto}) or by ONNX Runtime itself, instead of through the
   * response's bytes: fixed-width values without labels, of a fixed number per row.
   */
  static boolean writtenInPlace(Output o) {
    return o.labels().isEmpty() && o.modelType().isFixedWidth()
        && ApiBinding.product(o.rowDims()) >= 0;
  }

  /** Bytes per row of an output {@link #writtenInPlace} goes to. */
  static long rowBytes(Output o) {
    return ApiBinding.product(o.rowDims()) * o.modelType().byteSize();
  }

  /**
   * Checks that {@code target} holds all {@code callRows} rows of output {@code o} (Triton's
   * INVALID_ARGUMENT otherwise, as a StatusRuntimeException).
   */
  static void checkFits(Output o, DecodedRequest.ShmRange target, int callRows) {
    long need = callRows * rowBytes(o);
    if (need > target.byteSize()) {
      throw Status.INVALID_ARGUMENT.withDescription("shared memory size specified with the "
          + "request for output '" + o.name() + "' (" + target.byteSize() + " bytes) should "
          + "be at least " + need + " bytes to hold the results").asRuntimeException();
    }
  }

  /**
   * Copies rows {@code [from, from + n)} of one output ({@link #writtenInPlace}) into its
   * shared-memory target, where rows {@code [rowStart, rowStart + n)} of a call of
   * {@code callRows} rows go: the one copy of an output that ONNX Runtime did not write there
   * itself.
   */
  void writeInto(Output o, BatchOutput r, int from, int n, DecodedRequest.ShmRange target,
      int rowStart, int callRows) {
    checkShape(o, r);
    checkFits(o, target, callRows);
    long rowBytes = rowBytes(o);
    ByteBuffer src = r.numbers().duplicate();
    src.limit((int) ((from + n) * rowBytes)).position((int) (from * rowBytes));
    target.region().view(target.offset() + rowStart * rowBytes, n * rowBytes).put(src);
  }

  private static void checkShape(Output o, BatchOutput r) {
    long declared = ApiBinding.product(o.rowDims());
    if (declared >= 0 && declared != r.elemsPerRow()) {
      throw new IllegalStateException("output '" + o.name() + "' declares shape "
          + rowShapeText(o.rowDims()) + " but model output '" + o.modelOutput() + "' has shape "
          + Arrays.toString(r.dims()));
    }
  }

  /**
   * The raw bytes of rows {@code [from, from + n)} of one output, mapped as the column says; a
   * class index without a label is FAILED_PRECONDITION (the bundle lists too few labels).
   */
  ByteString encode(Output o, BatchOutput r, int from, int n) {
    long epr = r.elemsPerRow();
    checkShape(o, r);
    if (!o.labels().isEmpty()) {
      if (epr != 1) {
        throw new IllegalStateException("output '" + o.name() + "' maps class labels but model "
            + "output '" + o.modelOutput() + "' has " + epr + " values per row");
      }
      String[] labels = new String[n];
      ByteBuffer b = r.numbers();
      for (int i = 0; i < n; i++) {
        long idx = ApiBinding.classIndex(b, o.modelType(), from + i);
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

  /**
   * Builds the response of a call from the outputs of its slices; a null part is an output
   * already in its shared-memory target ({@link #writtenInPlace}).
   */
  ModelInferResponse assemble(DecodedRequest call, ByteString[][] parts) {
    ModelInferResponse.Builder b = ModelInferResponse.newBuilder()
        .setModelName(name)
        .setModelVersion(version)
        .setId(call.id());
    for (int i = 0; i < call.outputs().size(); i++) {
      Output o = call.outputs().get(i);
      DecodedRequest.ShmRange target = call.targets() == null ? null : call.targets()[i];
      int inPlace = 0;
      ByteString all = ByteString.EMPTY;
      for (ByteString[] p : parts) {
        if (p[i] == null) {
          inPlace++;
        } else {
          all = all.concat(p[i]);
        }
      }
      if (inPlace > 0) {
        if (inPlace != parts.length || target == null || !writtenInPlace(o)) {
          throw new IllegalStateException("output '" + o.name() + "': " + inPlace + " of "
              + parts.length + " parts were written to shared memory, the others not");
        }
        b.addOutputs(ModelInferResponse.InferOutputTensor.newBuilder()
            .setName(o.name())
            .setDatatype(o.wireType().oipName())
            .addShape(call.rows())
            .addAllShape(Arrays.stream(o.rowDims()).boxed().toList()));
        b.addRawOutputContents(ByteString.EMPTY);
        continue;
      }
      b.addOutputs(ModelInferResponse.InferOutputTensor.newBuilder()
          .setName(o.name())
          .setDatatype(o.wireType().oipName())
          .addShape(call.rows())
          .addAllShape(Arrays.stream(actualDims(o, all, call.rows())).boxed().toList()));
      if (target == null) {
        b.addRawOutputContents(all);
        continue;
      }
      if (all.size() > target.byteSize()) {
        throw Status.INVALID_ARGUMENT.withDescription("shared memory size specified with the "
            + "request for output '" + o.name() + "' (" + target.byteSize() + " bytes) should "
            + "be at least " + all.size() + " bytes to hold the results").asRuntimeException();
      }
      all.copyTo(target.region().view(target.offset(), all.size()));
      // One (empty) raw entry per output keeps the entries in step with the outputs, as Triton.
      b.addRawOutputContents(ByteString.EMPTY);
    }
    return b.build();
  }

  /** The declared dimensions after the batch, with one dynamic dimension resolved from the data. */
  private static long[] actualDims(Output o, ByteString data, int rows) {
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
}
