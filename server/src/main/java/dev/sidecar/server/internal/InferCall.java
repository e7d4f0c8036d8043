package dev.sidecar.server.internal;

import com.google.protobuf.ByteString;
import dev.sidecar.proto.inference.ModelInferResponse;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One decoded inference request on its way through the batcher: its validated input data, the
 * outputs it wants, its deadline, and the assembly of its answer from the slices it was split
 * into. Completes exactly once, through its {@link Listener}.
 */
final class InferCall {
  /** Receives the outcome of a call, exactly once. */
  interface Listener {
    void onResponse(ModelInferResponse response);

    void onError(Status status);
  }

  /** Rows {@code [rowStart, rowStart + rowCount)} of a call: the unit the batcher queues. */
  record Slice(InferCall call, int index, int rowStart, int rowCount) {
  }

  final String id;
  final int rows;
  final boolean mergeable;
  final long arrivalNanos;
  /** When the batcher queued the call, on the batcher's clock (set under the batcher's lock). */
  long queuedNanos;
  private final String api;
  private final DecodedRequest request;
  private final ApiMetrics metrics;
  private final AnswerEncoder answers;
  private final Context context;
  private final Deadline deadline;
  private final Listener listener;

  private ByteString[][] parts;
  private int remaining;
  private boolean finished;
  /** Batches running a slice of this call now ({@link #begin}); while any, regions stay held. */
  private int running;
  private boolean released;

  /**
   * @param api the API's name, for messages
   * @param answers assembles the response once every slice is in
   */
  InferCall(String api, DecodedRequest request, ApiMetrics metrics, AnswerEncoder answers,
      long arrivalNanos, Context context, Listener listener) {
    this.api = api;
    this.request = request;
    this.id = request.id();
    this.rows = request.rows();
    this.mergeable = request.mergeable();
    this.metrics = metrics;
    this.answers = answers;
    this.arrivalNanos = arrivalNanos;
    this.context = context;
    this.deadline = context == null ? null : context.getDeadline();
    this.listener = listener;
  }

  /** The decoded request: its data per model input and the outputs it wants. */
  DecodedRequest request() {
    return request;
  }

  /** Splits the call into slices of at most {@code maxRows} rows (one slice if maxRows <= 0). */
  synchronized List<Slice> slice(int maxRows) {
    List<Slice> out = new ArrayList<>();
    if (maxRows <= 0 || rows <= maxRows) {
      out.add(new Slice(this, 0, 0, rows));
    } else {
      int i = 0;
      for (int start = 0; start < rows; start += maxRows) {
        out.add(new Slice(this, i++, start, Math.min(maxRows, rows - start)));
      }
    }
    parts = new ByteString[out.size()][];
    remaining = out.size();
    return out;
  }

  /** True once answered or failed. */
  synchronized boolean finished() {
    return finished;
  }

  /**
   * A batch starts running a slice of this call: until its {@link #end}, the shared-memory
   * regions the call names stay mapped even if the call is answered or failed meanwhile (by
   * another slice's batch), since ONNX Runtime may read and write them in place. False when
   * the call is already finished: the slice must not run.
   */
  synchronized boolean begin() {
    if (finished) {
      return false;
    }
    running++;
    return true;
  }

  /** The batch that {@link #begin began} a slice is over with it. */
  void end() {
    synchronized (this) {
      if (--running > 0 || !finished || released) {
        return;
      }
      released = true;
    }
    request.release().run();
  }

  /** Ends the call's hold on its regions once it is finished and no batch runs it. */
  private void releaseWhenIdle() {
    synchronized (this) {
      if (running > 0 || released) {
        return;
      }
      released = true;
    }
    request.release().run();
  }

  /**
   * Why the call must not run any more (deadline passed, client gone), or null if it may run.
   */
  Status goneStatus() {
    boolean cancelled = context != null && context.isCancelled();
    if ((deadline != null && deadline.isExpired()) || (cancelled && deadlineReached(deadline))) {
      long waitedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - arrivalNanos);
      return Status.DEADLINE_EXCEEDED.withDescription("deadline passed after " + waitedMs
          + " ms in the queue of model '" + api + "'; dropped before inference");
    }
    if (cancelled) {
      return Status.CANCELLED.withDescription("client cancelled the request");
    }
    return null;
  }

  /**
   * How close to its deadline a cancelled call counts as one whose deadline passed. A client
   * whose deadline passes resets the stream at once, and its reset can reach the server a few
   * milliseconds before the server's own copy of the deadline (counted from the request's
   * arrival) expires: that call is reported as past its deadline, not as cancelled.
   */
  static final long DEADLINE_SLACK_MS = 250;

  /**
   * For a cancelled call: true when {@code deadline} has passed or is within
   * {@link #DEADLINE_SLACK_MS} of passing (a live call runs until its deadline has really passed).
   */
  static boolean deadlineReached(Deadline deadline) {
    return deadline != null
        && deadline.timeRemaining(TimeUnit.MILLISECONDS) < DEADLINE_SLACK_MS;
  }

  /** Records the encoded outputs of one slice; answers when every slice is in. */
  void complete(int sliceIndex, ByteString[] outs) {
    synchronized (this) {
      if (finished) {
        return;
      }
      parts[sliceIndex] = outs;
      if (--remaining > 0) {
        return;
      }
      finished = true;
    }
    ModelInferResponse response;
    try {
      response = answers.assemble(request, parts);
    } catch (io.grpc.StatusRuntimeException e) {
      deliverError(e.getStatus());
      return;
    } catch (RuntimeException e) {
      deliverError(Status.INTERNAL.withDescription("assembling the response failed: "
          + e.getMessage()));
      return;
    } finally {
      releaseWhenIdle();
    }
    metrics.answered(rows, (System.nanoTime() - arrivalNanos) / 1e6);
    listener.onResponse(response);
  }

  /** Fails the call (once; later calls are ignored). */
  void fail(Status status) {
    synchronized (this) {
      if (finished) {
        return;
      }
      finished = true;
    }
    deliverError(status);
  }

  private void deliverError(Status status) {
    releaseWhenIdle();
    metrics.error(status.getCode());
    listener.onError(status);
  }
}
