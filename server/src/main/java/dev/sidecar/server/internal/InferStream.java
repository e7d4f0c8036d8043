package dev.sidecar.server.internal;

import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.proto.inference.ModelInferResponse;
import dev.sidecar.proto.inference.ModelStreamInferResponse;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One {@code ModelStreamInfer} call: answers in request order (a per-request error becomes that
 * response's {@code error_message}; the stream stays open). When the server drains, the stream
 * ends with UNAVAILABLE after answering every request it read.
 *
 * <p>Flow control: the stream reads its next request only while it has fewer than
 * {@code window} requests unanswered, while the bytes it holds (requests read and not answered,
 * answers its client has not taken) are under the per-stream bound of {@link StreamBuffers},
 * and while all streams together are under the total bound. An answer is handed to the
 * transport only while the transport is ready ({@code isReady()}); the others wait here, counted.
 * A stream whose answers wait for its client longer than the stall timeout is cancelled with
 * RESOURCE_EXHAUSTED saying so, and what it held no longer counts.
 */
final class InferStream implements StreamObserver<ModelInferRequest> {
  private static final Logger LOG = LoggerFactory.getLogger(InferStream.class);

  private static final class Slot {
    long bytes;
    ModelStreamInferResponse response;

    Slot(long bytes) {
      this.bytes = bytes;
    }
  }

  private final InferenceService service;
  private final ServerCallStreamObserver<ModelStreamInferResponse> out;
  private final StreamBuffers buffers;
  private final int window;
  private final long number;
  private final ArrayDeque<Slot> pending = new ArrayDeque<>();
  /** Bytes this stream holds (charged to {@link #buffers} too). */
  private long held;
  /** Of {@link #held}: answers handed to the transport since it was last seen ready. */
  private long sentUnacked;
  private boolean requested;
  /** Since when answers wait for the client (System.nanoTime), or 0. */
  private long stalledSince;
  private boolean halfClosed;
  private boolean draining;
  private boolean done;
  private boolean closed;

  InferStream(InferenceService service, ServerCallStreamObserver<ModelStreamInferResponse> out,
      StreamBuffers buffers, int window, long number) {
    this.service = service;
    this.out = out;
    this.buffers = buffers;
    this.window = window;
    this.number = number;
    out.disableAutoRequest();
    out.setOnReadyHandler(this::onReady);
    out.setOnCancelHandler(this::onCancel);
    out.setOnCloseHandler(this::onClose);
    pump();
  }

  /** Requests the next message if every bound leaves room (one request outstanding at most). */
  synchronized void pump() {
    if (done || draining || halfClosed || requested || pending.size() >= window
        || held >= buffers.perStream() || !buffers.roomFor(this)) {
      return;
    }
    requested = true;
    out.request(1);
  }

  @Override
  public void onNext(ModelInferRequest request) {
    Slot slot;
    synchronized (this) {
      requested = false;
      if (done) {
        return;
      }
      slot = new Slot(request.getSerializedSize());
      charge(slot.bytes);
      pending.addLast(slot);
      pump();
    }
    service.infer(request, new InferCall.Listener() {
      @Override
      public void onResponse(ModelInferResponse response) {
        fill(slot, ModelStreamInferResponse.newBuilder().setInferResponse(response).build());
      }

      @Override
      public void onError(Status status) {
        fill(slot, ModelStreamInferResponse.newBuilder()
            .setErrorMessage(status.getCode() + ": " + status.getDescription())
            .setInferResponse(ModelInferResponse.newBuilder()
                .setModelName(request.getModelName()).setId(request.getId()))
            .build());
      }
    });
  }

  private void charge(long bytes) {
    held += bytes;
    buffers.charge(bytes);
  }

  private void fill(Slot slot, ModelStreamInferResponse response) {
    synchronized (this) {
      if (done) {
        return;
      }
      long bytes = response.getSerializedSize();
      charge(bytes - slot.bytes);
      slot.bytes = bytes;
      slot.response = response;
      flush();
    }
    buffers.wake();
  }

  /**
   * Hands every answer at the head that is ready to the transport while it takes them; called
   * with the lock held. A write that fails ends the stream with INTERNAL naming the cause.
   */
  private void flush() {
    if (done) {
      return;
    }
    while (!pending.isEmpty() && pending.peekFirst().response != null) {
      if (!out.isReady()) {
        if (stalledSince == 0) {
          stalledSince = System.nanoTime();
        }
        return;
      }
      Slot s = pending.pollFirst();
      try {
        out.onNext(s.response);
      } catch (Throwable t) {
        fail(Status.INTERNAL.withDescription("stream " + number + ": writing an answer failed: "
            + t));
        return;
      }
      sentUnacked += s.bytes;
    }
    if (out.isReady()) {
      acknowledge();
    } else if (stalledSince == 0 && sentUnacked > 0) {
      stalledSince = System.nanoTime();
    }
    if (pending.isEmpty()) {
      if (halfClosed) {
        done = true;
        out.onCompleted();
        return;
      } else if (draining) {
        fail(Status.UNAVAILABLE.withDescription("server is shutting down; every request read "
            + "from this stream was answered, resend the rest elsewhere"));
        return;
      }
    }
    pump();
  }

  /** The transport took what it was handed: those bytes are no longer held here. */
  private void acknowledge() {
    charge(-sentUnacked);
    sentUnacked = 0;
    stalledSince = 0;
  }

  /** Ends the stream with {@code status}, dropping the answers not handed to the transport. */
  private void fail(Status status) {
    done = true;
    dropPending();
    try {
      out.onError(status.asRuntimeException());
    } catch (Throwable t) {
      LOG.debug("stream {}: cannot end the call: {}", number, t.toString());
    }
  }

  private void dropPending() {
    long unsent = held - sentUnacked;
    charge(-unsent);
    pending.clear();
  }

  private void onReady() {
    synchronized (this) {
      if (closed) {
        return;
      }
      acknowledge();
      flush();
    }
    buffers.wake();
  }

  /** The client cancelled the call or went away. */
  private void onCancel() {
    synchronized (this) {
      if (!done) {
        LOG.info("stream {} cancelled by its client with {} requests unanswered", number,
            pending.size());
      }
      done = true;
    }
    onClose();
  }

  /** The call is over (answered or cancelled): nothing is held for it any more. */
  private void onClose() {
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
      done = true;
      pending.clear();
      charge(-held);
      sentUnacked = 0;
    }
    buffers.forget(this);
    service.closed(this);
    buffers.wake();
  }

  /**
   * Cancels the stream when its answers have waited for its client longer than
   * {@code timeoutNanos}. What the stream held is released then: the answers not handed to the
   * transport are dropped, and the transport keeps at most the one it was writing until the
   * client reads or goes away.
   */
  void checkStall(long now, long timeoutNanos) {
    synchronized (this) {
      if (done || stalledSince == 0 || now - stalledSince < timeoutNanos) {
        return;
      }
      long waitedS = TimeUnit.NANOSECONDS.toSeconds(now - stalledSince);
      int answers = pending.size();
      long bytes = held;
      LOG.info("stream {} cancelled: its client took no answer for {} s while {} answers "
          + "({} bytes) waited", number, waitedS, answers, bytes);
      fail(Status.RESOURCE_EXHAUSTED.withDescription("stream cancelled by the server: its "
          + "client took no answer for " + waitedS + " s while " + answers + " answers ("
          + bytes + " bytes) waited for it; read a stream's answers as they come (the server "
          + "holds at most " + buffers.perStream() + " bytes per stream and "
          + buffers.total() + " over all streams, and cancels a stream after "
          + TimeUnit.NANOSECONDS.toSeconds(timeoutNanos) + " s without progress)"));
      charge(-held);
      sentUnacked = 0;
      stalledSince = 0;
    }
    buffers.wake();
  }

  synchronized boolean closed() {
    return closed;
  }

  synchronized void drain() {
    draining = true;
    flush();
  }

  @Override
  public void onError(Throwable t) {
    onCancel();
  }

  @Override
  public synchronized void onCompleted() {
    halfClosed = true;
    flush();
  }
}
