package dev.sidecar.server.internal;

import dev.sidecar.proto.inference.GRPCInferenceServiceGrpc;
import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.proto.inference.ModelInferResponse;
import dev.sidecar.proto.inference.ModelMetadataRequest;
import dev.sidecar.proto.inference.ModelMetadataResponse;
import dev.sidecar.proto.inference.ModelReadyRequest;
import dev.sidecar.proto.inference.ModelReadyResponse;
import dev.sidecar.proto.inference.ModelStreamInferResponse;
import dev.sidecar.proto.inference.ServerLiveRequest;
import dev.sidecar.proto.inference.ServerLiveResponse;
import dev.sidecar.proto.inference.ServerMetadataRequest;
import dev.sidecar.proto.inference.ServerMetadataResponse;
import dev.sidecar.proto.inference.ServerReadyRequest;
import dev.sidecar.proto.inference.ServerReadyResponse;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/** The Open Inference Protocol v2 service over the APIs of one bundle. */
final class InferenceService extends GRPCInferenceServiceGrpc.GRPCInferenceServiceImplBase {
  static final String SERVER_NAME = "sidecar";

  private final ServerCore core;
  private final int streamWindow;
  private final Set<InferStream> streams = ConcurrentHashMap.newKeySet();
  final LongAdder streamsOpened = new LongAdder();
  private volatile boolean draining;

  InferenceService(ServerCore core, int streamWindow) {
    this.core = core;
    this.streamWindow = streamWindow;
  }

  @Override
  public void serverLive(ServerLiveRequest request, StreamObserver<ServerLiveResponse> out) {
    out.onNext(ServerLiveResponse.newBuilder().setLive(true).build());
    out.onCompleted();
  }

  @Override
  public void serverReady(ServerReadyRequest request, StreamObserver<ServerReadyResponse> out) {
    out.onNext(ServerReadyResponse.newBuilder().setReady(core.ready()).build());
    out.onCompleted();
  }

  @Override
  public void modelReady(ModelReadyRequest request, StreamObserver<ModelReadyResponse> out) {
    try {
      core.resolve(request.getName(), request.getVersion());
      out.onNext(ModelReadyResponse.newBuilder().setReady(core.ready()).build());
      out.onCompleted();
    } catch (StatusException e) {
      out.onError(e);
    }
  }

  @Override
  public void serverMetadata(ServerMetadataRequest request,
      StreamObserver<ServerMetadataResponse> out) {
    out.onNext(ServerMetadataResponse.newBuilder()
        .setName(SERVER_NAME)
        .setVersion(ServerCore.version())
        .addExtensions("model_stream_infer")
        .addExtensions("sidecar_stats")
        .build());
    out.onCompleted();
  }

  @Override
  public void modelMetadata(ModelMetadataRequest request,
      StreamObserver<ModelMetadataResponse> out) {
    try {
      out.onNext(core.resolve(request.getName(), request.getVersion()).metadata());
      out.onCompleted();
    } catch (StatusException e) {
      out.onError(e);
    }
  }

  @Override
  public void modelInfer(ModelInferRequest request, StreamObserver<ModelInferResponse> out) {
    ServerCallStreamObserver<ModelInferResponse> call =
        (ServerCallStreamObserver<ModelInferResponse>) out;
    call.setOnCancelHandler(() -> { });
    infer(request, new InferCall.Listener() {
      @Override
      public void onResponse(ModelInferResponse response) {
        try {
          call.onNext(response);
          call.onCompleted();
        } catch (RuntimeException e) {
          // The client went away; nothing to answer.
        }
      }

      @Override
      public void onError(Status status) {
        try {
          call.onError(status.asRuntimeException());
        } catch (RuntimeException e) {
          // The client went away; nothing to answer.
        }
      }
    });
  }

  /** Decodes and queues one request; the listener hears the outcome exactly once. */
  void infer(ModelInferRequest request, InferCall.Listener listener) {
    ApiEndpoint endpoint;
    try {
      endpoint = core.resolve(request.getModelName(), request.getModelVersion());
    } catch (StatusException e) {
      listener.onError(e.getStatus());
      return;
    }
    endpoint.metrics().request();
    InferCall call;
    try {
      call = endpoint.decode(request, Context.current(), listener);
    } catch (StatusException e) {
      endpoint.metrics().error(e.getStatus().getCode());
      listener.onError(e.getStatus());
      return;
    } catch (RuntimeException e) {
      Status st = Status.INVALID_ARGUMENT.withDescription("request for model '"
          + endpoint.name() + "' could not be decoded: " + e.getMessage());
      endpoint.metrics().error(st.getCode());
      listener.onError(st);
      return;
    }
    if (call.rows == 0) {
      call.slice(0);
      call.complete(0, emptyParts(call));
      return;
    }
    try {
      endpoint.batcher().submit(call);
    } catch (StatusException e) {
      call.fail(e.getStatus());
    }
  }

  private static com.google.protobuf.ByteString[] emptyParts(InferCall call) {
    com.google.protobuf.ByteString[] p = new com.google.protobuf.ByteString[call.outputs.size()];
    java.util.Arrays.fill(p, com.google.protobuf.ByteString.EMPTY);
    return p;
  }

  @Override
  public StreamObserver<ModelInferRequest> modelStreamInfer(
      StreamObserver<ModelStreamInferResponse> out) {
    streamsOpened.increment();
    InferStream s = new InferStream(this,
        (ServerCallStreamObserver<ModelStreamInferResponse>) out, streamWindow);
    streams.add(s);
    if (draining) {
      s.drain();
    }
    return s;
  }

  void closed(InferStream s) {
    streams.remove(s);
  }

  /** Ends every open stream once the requests it already read are answered. */
  void drain() {
    draining = true;
    for (InferStream s : streams) {
      s.drain();
    }
  }
}
