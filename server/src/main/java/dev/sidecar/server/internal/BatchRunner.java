package dev.sidecar.server.internal;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import com.google.protobuf.ByteString;
import dev.sidecar.bundle.DType;
import dev.sidecar.bundle.onnx.ApiBinding.Feed;
import dev.sidecar.bundle.onnx.ApiBinding.Output;
import dev.sidecar.bundle.onnx.OrtTypes;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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
   * in milliseconds, or -1 if the batch failed (its calls are then failed). {@code answering}
   * runs once the model call is over, before the first slice is completed or failed.
   */
  @Override
  public double run(List<InferCall.Slice> batch, Runnable answering) {
    int total = 0;
    for (InferCall.Slice s : batch) {
      total += s.rowCount();
    }
    Map<String, OnnxTensor> feeds = new LinkedHashMap<>();
    double ms;
    try {
      OrtEnvironment env = OrtEnvironment.getEnvironment();
      InferCall first = batch.get(0).call();
      for (int f = 0; f < first.request().feeds().size(); f++) {
        Feed feed = first.request().feeds().get(f);
        long[] shape = withBatchArray(total, first.request().feedDims()[f]);
        feeds.put(feed.modelInput(), tensor(env, feed, shape, batch, total));
      }
      Set<String> wanted = new LinkedHashSet<>();
      for (InferCall.Slice s : batch) {
        for (Output o : s.call().request().outputs()) {
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
      Map<String, AnswerEncoder.BatchOutput> results = new HashMap<>();
      try (OrtSession.Result r = model.run(feeds, wanted)) {
        ms = (System.nanoTime() - t0) / 1e6;
        for (String w : wanted) {
          results.put(w, answers.read(w, model.output(r, w), total));
        }
      }
      metrics.batch(total, ms);
      answering.run();
      int offset = 0;
      for (InferCall.Slice s : batch) {
        try {
          ByteString[] outs = new ByteString[s.call().request().outputs().size()];
          for (int i = 0; i < outs.length; i++) {
            Output o = s.call().request().outputs().get(i);
            outs[i] = answers.encode(o, results.get(o.modelOutput()), offset, s.rowCount());
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

  private static long[] withBatchArray(long rows, long[] rowDims) {
    long[] s = new long[rowDims.length + 1];
    s[0] = rows;
    System.arraycopy(rowDims, 0, s, 1, rowDims.length);
    return s;
  }
}
