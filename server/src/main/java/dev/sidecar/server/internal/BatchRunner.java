package dev.sidecar.server.internal;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import com.google.protobuf.ByteString;
import dev.sidecar.bundle.DType;
import dev.sidecar.bundle.onnx.ApiBinding;
import dev.sidecar.bundle.onnx.ApiBinding.Feed;
import dev.sidecar.bundle.onnx.ApiBinding.Output;
import dev.sidecar.bundle.onnx.OrtTypes;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
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

/**
 * Runs the batches of one API's {@link AdaptiveBatcher}: joins the slices' rows into one tensor
 * per model input (in a direct buffer each worker thread reuses), calls ONNX Runtime once, and
 * completes every slice with its rows of the outputs, encoded by the {@link AnswerEncoder}.
 *
 * <p>Shared memory without copies. A batch of one slice whose input lies in a registered
 * region is handed to ONNX Runtime as a tensor over the region's mapping itself (floating-point
 * inputs only: see {@link #inPlace}); its fixed-width outputs of static shape are pre-allocated
 * as tensors over their target ranges, so ONNX Runtime writes them there. Other outputs of
 * fixed shape are written by ONNX Runtime into a direct buffer the worker reuses, and copied
 * from there once: into their region, or into the response. A batch of several slices is
 * copied into one tensor as for bytes. Every call of a batch is {@link InferCall#begin begun}
 * for the run, so no region it names is unmapped while ONNX Runtime may touch it.
 */
final class BatchRunner implements AdaptiveBatcher.Runner {
  private final String name;
  private final ModelRuntime model;
  private final ApiMetrics metrics;
  private final AnswerEncoder answers;
  private final ModelCallHook hook;
  private final ThreadLocal<Map<String, ByteBuffer>> buffers = ThreadLocal.withInitial(HashMap::new);

  /** @param hook runs before every model call (tests only; null = none) */
  BatchRunner(String name, ModelRuntime model, ApiMetrics metrics, AnswerEncoder answers,
      ModelCallHook hook) {
    this.name = name;
    this.model = model;
    this.metrics = metrics;
    this.answers = answers;
    this.hook = hook;
  }

  /**
   * Runs one batch of slices through the model and completes them; returns the model run time
   * in milliseconds, or -1 if the batch failed (its calls are then failed) or none of its calls
   * was still to be answered. {@code answering} runs once the model call is over, before the
   * first slice is completed or failed.
   */
  @Override
  public double run(List<InferCall.Slice> batch, Runnable answering) {
    List<InferCall.Slice> live = new ArrayList<>(batch.size());
    for (InferCall.Slice s : batch) {
      if (s.call().begin()) {
        live.add(s);
      }
    }
    try {
      return live.isEmpty() ? -1 : runLive(live, answering);
    } finally {
      for (InferCall.Slice s : live) {
        s.call().end();
      }
    }
  }

  private double runLive(List<InferCall.Slice> batch, Runnable answering) {
    int total = 0;
    for (InferCall.Slice s : batch) {
      total += s.rowCount();
    }
    Map<String, OnnxTensor> feeds = new LinkedHashMap<>();
    Map<String, OnnxTensor> pinned = new LinkedHashMap<>();
    Map<String, OnnxTensor> scratch = new LinkedHashMap<>();
    double ms;
    try {
      OrtEnvironment env = OrtEnvironment.getEnvironment();
      InferCall.Slice only = batch.size() == 1 ? batch.get(0) : null;
      List<DecodedRequest.ShmRange> touched = new ArrayList<>();
      InferCall first = batch.get(0).call();
      for (int f = 0; f < first.request().feeds().size(); f++) {
        Feed feed = first.request().feeds().get(f);
        long[] shape = withBatchArray(total, first.request().feedDims()[f]);
        OnnxTensor t = only == null ? null : inPlace(env, feed, shape, only, touched);
        if (t != null) {
          metrics.shmInput(true);
        } else {
          t = tensor(env, feed, shape, batch, total);
          if (fromSharedMemory(feed, batch)) {
            metrics.shmInput(false);
          }
        }
        feeds.put(feed.modelInput(), t);
      }
      Set<String> wanted = new LinkedHashSet<>();
      for (InferCall.Slice s : batch) {
        for (Output o : s.call().request().outputs()) {
          wanted.add(o.modelOutput());
        }
      }
      boolean[] pinnedOutputs = only == null ? null : pin(env, only, total, touched, pinned);
      Map<String, AnswerEncoder.BatchOutput> results = new HashMap<>();
      for (String w : wanted) {
        long[] dims = pinned.containsKey(w) ? null : staticShape(w, total);
        if (dims != null) {
          scratch.put(w, scratchOutput(env, w, dims, results));
        }
      }
      Map<String, OnnxTensor> allPinned = pinned;
      if (!scratch.isEmpty()) {
        allPinned = new LinkedHashMap<>(pinned);
        allPinned.putAll(scratch);
      }
      long t0 = System.nanoTime();
      for (InferCall.Slice s : batch) {
        metrics.waited((t0 - s.call().arrivalNanos) / 1e6);
      }
      if (hook != null) {
        hook.beforeModelCall(name, total);
      }
      try (OrtSession.Result r = model.run(feeds, wanted, allPinned)) {
        ms = (System.nanoTime() - t0) / 1e6;
        for (String w : wanted) {
          if (!allPinned.containsKey(w)) {
            results.put(w, answers.read(w, model.output(r, w), total));
          }
        }
      }
      metrics.batch(total, ms);
      answering.run();
      int offset = 0;
      for (InferCall.Slice s : batch) {
        try {
          DecodedRequest req = s.call().request();
          ByteString[] outs = new ByteString[req.outputs().size()];
          for (int i = 0; i < outs.length; i++) {
            Output o = req.outputs().get(i);
            DecodedRequest.ShmRange target = req.targets() == null ? null : req.targets()[i];
            if (pinnedOutputs != null && pinnedOutputs[i]) {
              metrics.shmOutput(true);
            } else if (target != null && AnswerEncoder.writtenInPlace(o)) {
              answers.writeInto(o, results.get(o.modelOutput()), offset, s.rowCount(), target,
                  s.rowStart(), req.rows());
              metrics.shmOutput(false);
            } else {
              outs[i] = answers.encode(o, results.get(o.modelOutput()), offset, s.rowCount());
            }
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
      for (OnnxTensor t : pinned.values()) {
        t.close();
      }
      for (OnnxTensor t : scratch.values()) {
        t.close();
      }
    }
  }

  /**
   * The shape {@code [total, ...]} of model output {@code w} when every dimension after the
   * batch is fixed and its values are of fixed width (so ONNX Runtime can write it into a
   * buffer given in advance), else null; never for a tapped ZipMap output.
   */
  private long[] staticShape(String w, int total) {
    ApiBinding.Port port = model.outputs().get(w);
    if (port == null || !port.dtype().isFixedWidth() || port.shape().length == 0
        || (port.shape()[0] >= 0 && port.shape()[0] != total)
        || !model.requested(w).equals(w)) {
      return null;
    }
    long[] dims = port.shape().clone();
    dims[0] = total;
    for (long d : dims) {
      if (d < 0) {
        return null;
      }
    }
    return dims;
  }

  /**
   * A tensor over this worker's reusable direct buffer for model output {@code w}, which ONNX
   * Runtime writes into; its {@link AnswerEncoder.BatchOutput} (a view of that buffer, valid
   * until this worker's next batch) is put in {@code results}. The output is then read without
   * the copy ONNX Runtime's Java API makes of a tensor it allocated.
   */
  private OnnxTensor scratchOutput(OrtEnvironment env, String w, long[] dims,
      Map<String, AnswerEncoder.BatchOutput> results) throws OrtException {
    DType dt = model.outputs().get(w).dtype();
    long bytes = ApiBinding.product(dims) * dt.byteSize();
    ByteBuffer buf = buffer("\0output " + w, Math.toIntExact(bytes));
    results.put(w, new AnswerEncoder.BatchOutput(dims,
        buf.duplicate().order(ByteOrder.nativeOrder()), null));
    return OnnxTensor.createTensor(env, buf, dims, OrtTypes.javaType(dt));
  }

  /** Floating-point types: values no model reads as indexes or sizes (see {@link #inPlace}). */
  private static boolean floating(DType t) {
    return t == DType.FLOAT32 || t == DType.FLOAT64 || t == DType.FLOAT16;
  }

  /**
   * The model input of a one-slice batch as a tensor over the shared memory its rows lie in (no
   * copy), or null when they do not lie in one range there: not in shared memory, packed from
   * several columns, or not aligned to the element size. Only floating-point inputs: the client
   * can write its region while the model runs, and an integer input read in place could change
   * between a kernel's check of an index and its use of it; a float changing under a kernel
   * changes only the client's own results. Its range is added to {@code touched}.
   */
  private static OnnxTensor inPlace(OrtEnvironment env, Feed feed, long[] shape,
      InferCall.Slice s, List<DecodedRequest.ShmRange> touched) throws OrtException {
    DecodedRequest req = s.call().request();
    if (req.sourceRegions() == null || feed.sources().length != 1 || !floating(feed.dtype())) {
      return null;
    }
    DecodedRequest.ShmRange src = req.sourceRegions()[feed.sources()[0]];
    if (src == null) {
      return null;
    }
    int bs = feed.dtype().byteSize();
    long rowBytes = ApiBinding.product(Arrays.copyOfRange(shape, 1, shape.length)) * bs;
    if (rowBytes < 0 || src.byteSize() != req.rows() * rowBytes) {
      return null;
    }
    long at = src.offset() + s.rowStart() * rowBytes;
    long bytes = s.rowCount() * rowBytes;
    ByteBuffer view = src.region().view(at, bytes);
    if (view.alignmentOffset(0, bs) != 0) {
      return null;
    }
    touched.add(new DecodedRequest.ShmRange(src.region(), at, bytes));
    return OnnxTensor.createTensor(env, view, shape, OrtTypes.javaType(feed.dtype()));
  }

  /** Whether a copied model input takes any of its rows from shared memory. */
  private static boolean fromSharedMemory(Feed feed, List<InferCall.Slice> batch) {
    for (InferCall.Slice s : batch) {
      DecodedRequest.ShmRange[] regions = s.call().request().sourceRegions();
      if (regions != null) {
        for (Feed own : s.call().request().feeds()) {
          if (own.modelInput().equals(feed.modelInput())) {
            for (int src : own.sources()) {
              if (regions[src] != null) {
                return true;
              }
            }
          }
        }
      }
    }
    return false;
  }

  /**
   * Pre-allocates, over their shared-memory targets, the outputs of a one-slice batch that
   * ONNX Runtime can write there itself: {@link AnswerEncoder#writtenInPlace} floating-point
   * outputs (a graph output can feed other nodes too, so, as for inputs, no integer is read
   * back from the client's memory) read from one model tensor output of the same element type
   * whose dimensions after the batch are all fixed, the only output of the request read from
   * it, with room for the whole request, aligned and sharing no byte with an input read in place
   * or another such output. Returns which of the request's outputs were pinned (their tensors are
   * put in {@code pinned}, by model output).
   */
  private boolean[] pin(OrtEnvironment env, InferCall.Slice s, int total,
      List<DecodedRequest.ShmRange> touched, Map<String, OnnxTensor> pinned)
      throws OrtException {
    DecodedRequest req = s.call().request();
    if (req.targets() == null) {
      return null;
    }
    boolean[] done = new boolean[req.outputs().size()];
    for (int i = 0; i < done.length; i++) {
      Output o = req.outputs().get(i);
      DecodedRequest.ShmRange target = req.targets()[i];
      if (target == null || !AnswerEncoder.writtenInPlace(o) || o.classMap() != null
          || !floating(o.modelType())) {
        continue;
      }
      long[] dims = staticShape(o.modelOutput(), total);
      if (dims == null || model.outputs().get(o.modelOutput()).dtype() != o.modelType()) {
        continue;
      }
      long elems = ApiBinding.product(Arrays.copyOfRange(dims, 1, dims.length));
      if (elems != ApiBinding.product(o.rowDims())
          || readers(req, o.modelOutput()) != 1 || pinned.containsKey(o.modelOutput())) {
        continue;
      }
      long rowBytes = AnswerEncoder.rowBytes(o);
      if ((long) req.rows() * rowBytes > target.byteSize()) {
        continue; // writeInto answers Triton's error
      }
      long at = target.offset() + s.rowStart() * rowBytes;
      long bytes = s.rowCount() * rowBytes;
      boolean free = true;
      for (DecodedRequest.ShmRange t : touched) {
        free &= !t.overlaps(target.region(), at, bytes);
      }
      ByteBuffer view = target.region().view(at, bytes);
      if (!free || view.alignmentOffset(0, o.modelType().byteSize()) != 0) {
        continue;
      }
      touched.add(new DecodedRequest.ShmRange(target.region(), at, bytes));
      pinned.put(o.modelOutput(), OnnxTensor.createTensor(env, view, dims,
          OrtTypes.javaType(o.modelType())));
      done[i] = true;
    }
    return done;
  }

  private static int readers(DecodedRequest req, String modelOutput) {
    int n = 0;
    for (Output o : req.outputs()) {
      n += o.modelOutput().equals(modelOutput) ? 1 : 0;
    }
    return n;
  }

  private OnnxTensor tensor(OrtEnvironment env, Feed feed, long[] shape,
      List<InferCall.Slice> batch, int total) throws OrtException {
    long epr = feed.elemsPerRow();
    if (feed.dtype() == DType.STRING) {
      String[] all = new String[Math.toIntExact(total * epr)];
      int pos = 0;
      for (InferCall.Slice s : batch) {
        Feed own = s.call().request().feeds().stream()
            .filter(x -> x.modelInput().equals(feed.modelInput())).findFirst().orElseThrow();
        for (int r = s.rowStart(); r < s.rowStart() + s.rowCount(); r++) {
          for (int k = 0; k < own.sources().length; k++) {
            String[] src = (String[]) s.call().request().sources()[own.sources()[k]];
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
      Feed own = s.call().request().feeds().stream()
          .filter(x -> x.modelInput().equals(feed.modelInput())).findFirst().orElseThrow();
      copyRows(own, s.call().request().sources(), s.rowStart(), s.rowCount(), bs, buf);
    }
    buf.flip();
    return OnnxTensor.createTensor(env, buf, shape, OrtTypes.javaType(feed.dtype()));
  }

  /** A reusable direct buffer of this worker thread for one model input or output, cleared. */
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

  private static long[] withBatchArray(long rows, long[] rowDims) {
    long[] s = new long[rowDims.length + 1];
    s[0] = rows;
    System.arraycopy(rowDims, 0, s, 1, rowDims.length);
    return s;
  }
}
