package dev.sidecar.server.internal;

import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.proto.inference.ModelInferResponse;
import dev.sidecar.proto.inference.ModelStreamInferResponse;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.ArrayDeque;

/**
 * One {@code ModelStreamInfer} call: answers in request order (a per-request error becomes that
 * response's {@code error_message}; the stream stays open), and reads at most {@code window}
 * requests ahead of the answers the client has taken, so neither side buffers without bound.
 * When the server drains, the stream ends with UNAVAILABLE after answering every request it read.
 */
final class InferStream implements StreamObserver<ModelInferRequest> {
  private static final class Slot {
    ModelStreamInferResponse response;
  }

  private final InferenceService service;
  private final ServerCallStreamObserver<ModelStreamInferResponse> out;
  private final ArrayDeque<Slot> pending = new ArrayDeque<>();
  private int deficit;
  private boolean halfClosed;
  private boolean draining;
  private boolean done;

  InferStream(InferenceService service, ServerCallStreamObserver<ModelStreamInferResponse> out,
      int window) {
    this.service = service;
    this.out = out;
    out.disableAutoRequest();
    out.setOnReadyHandler(this::onReady);
    out.setOnCancelHandler(this::onCancel);
    out.request(window);
  }

  @Override
  public void onNext(ModelInferRequest request) {
    Slot slot = new Slot();
    synchronized (this) {
      if (done) {
        return;
      }
      pending.addLast(slot);
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

  private void fill(Slot slot, ModelStreamInferResponse response) {
    synchronized (this) {
      slot.response = response;
      flush();
    }
  }

  /** Sends every answer at the head that is ready; called with the lock held. */
  private void flush() {
    if (done) {
      return;
    }
    while (!pending.isEmpty() && pending.peekFirst().response != null) {
      ModelStreamInferResponse r = pending.pollFirst().response;
      try {
        out.onNext(r);
      } catch (RuntimeException e) {
        finish();
        return;
      }
      if (!draining) {
        if (out.isReady()) {
          out.request(1);
        } else {
          deficit++;
        }
      }
    }
    if (pending.isEmpty()) {
      if (halfClosed) {
        finish();
        out.onCompleted();
      } else if (draining) {
        finish();
        out.onError(Status.UNAVAILABLE.withDescription("server is shutting down; every request "
            + "read from this stream was answered, resend the rest elsewhere").asRuntimeException());
      }
    }
  }

  private synchronized void onReady() {
    if (deficit > 0 && !done && !draining) {
      out.request(deficit);
      deficit = 0;
    }
  }

  private synchronized void onCancel() {
    finish();
    pending.clear();
  }

  private void finish() {
    if (!done) {
      done = true;
      service.closed(this);
    }
  }

  synchronized void drain() {
    draining = true;
    flush();
  }

  @Override
  public synchronized void onError(Throwable t) {
    onCancel();
  }

  @Override
  public synchronized void onCompleted() {
    halfClosed = true;
    flush();
  }
}
