package dev.sidecar.server.internal;

import com.google.protobuf.ByteString;
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
import dev.sidecar.proto.inference.SystemSharedMemoryRegisterRequest;
import dev.sidecar.proto.inference.SystemSharedMemoryRegisterResponse;
import dev.sidecar.proto.inference.SystemSharedMemoryStatusRequest;
import dev.sidecar.proto.inference.SystemSharedMemoryStatusResponse;
import dev.sidecar.proto.inference.SystemSharedMemoryUnregisterRequest;
import dev.sidecar.proto.inference.SystemSharedMemoryUnregisterResponse;
import io.grpc.Attributes;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServerTransportFilter;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.Arrays;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Open Inference Protocol v2 service over the APIs of one bundle. Every request that is
 * refused or fails, and every call cancelled or past its deadline before it was answered, is
 * logged as one line at INFO, without a stack trace.
 */
final class InferenceService extends GRPCInferenceServiceGrpc.GRPCInferenceServiceImplBase {
  static final String SERVER_NAME = "sidecar";
  private static final Logger LOG = LoggerFactory.getLogger(InferenceService.class);
  /**
   * Outcomes logged where they arise: INTERNAL by the batcher, a call's cancellation or passed
   * deadline by the call (its queued requests are then dropped without another line).
   */
  private static final Set<Status.Code> LOGGED_ELSEWHERE = Set.of(Status.Code.INTERNAL,
      Status.Code.CANCELLED, Status.Code.DEADLINE_EXCEEDED);

  /** Bytes of shared memory one client (connection) may have registered at once. */
  static final long SHM_BUDGET_PER_CLIENT = 1L << 30;
  /** A connection's shared-memory client, set on its transport by {@link #connections()}. */
  static final Attributes.Key<SharedMemoryRegistry.Client> CONNECTION =
      Attributes.Key.create("sidecar-connection");
  /** The connection of the call being served, for shared-memory registrations. */
  private static final Context.Key<SharedMemoryRegistry.Client> CLIENT =
      Context.key("sidecar-client");

  private final ServerCore core;
  private final SharedMemoryRegistry shm;
  private final int streamWindow;
  private final StreamBuffers buffers;
  private final long stallNanos;
  private final ScheduledExecutorService stallWatch;
  private final Set<InferStream> streams = ConcurrentHashMap.newKeySet();
  final LongAdder streamsOpened = new LongAdder();
  private final AtomicLong connectionsOpened = new AtomicLong();
  /** The client of calls whose transport has no connection identity (not seen on our servers). */
  private final SharedMemoryRegistry.Client noConnection =
      new SharedMemoryRegistry.Client("a call without a connection");
  private volatile boolean draining;

  /**
   * @param stallTimeout how long a stream's answers may wait for its client; checked every
   *     quarter of it (at most every second)
   */
  InferenceService(ServerCore core, int streamWindow, StreamBuffers buffers,
      Duration stallTimeout) {
    this(core, streamWindow, buffers, stallTimeout, SHM_BUDGET_PER_CLIENT);
  }

  /** @param shmBudget bytes of shared memory one client may have registered at once */
  InferenceService(ServerCore core, int streamWindow, StreamBuffers buffers,
      Duration stallTimeout, long shmBudget) {
    this.core = core;
    this.shm = new SharedMemoryRegistry(shmBudget);
    this.streamWindow = streamWindow;
    this.buffers = buffers;
    this.stallNanos = stallTimeout.toNanos();
    this.stallWatch = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "sidecar-stream-stalls");
      t.setDaemon(true);
      return t;
    });
    long periodMs = Math.max(10, Math.min(1000, stallTimeout.toMillis() / 4));
    stallWatch.scheduleWithFixedDelay(this::checkStalls, periodMs, periodMs,
        TimeUnit.MILLISECONDS);
  }

  private void checkStalls() {
    long now = System.nanoTime();
    for (InferStream s : streams) {
      try {
        s.checkStall(now, stallNanos);
      } catch (RuntimeException e) {
        LOG.warn("checking a stream for stalls failed: {}", e.toString());
      }
    }
  }

  StreamBuffers buffers() {
    return buffers;
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
      ApiEndpoint ep = core.resolve(request.getName(), request.getVersion());
      out.onNext(ModelReadyResponse.newBuilder()
          .setReady(core.ready() && ep.batcher().serving()).build());
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
        .addExtensions("system_shared_memory")
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
    Context context = Context.current();
    call.setOnCancelHandler(() -> LOG.info("request '{}' for model '{}': {} before it was "
        + "answered", oneLine(request.getId()), oneLine(request.getModelName()),
        InferCall.deadlineReached(context.getDeadline())
            ? "deadline passed" : "cancelled by the client"));
    infer(request, new InferCall.Listener() {
      @Override
      public void onResponse(ModelInferResponse response) {
        try {
          call.onNext(response);
          call.onCompleted();
        } catch (RuntimeException e) {
          // The client went away; nothing to answer.
        } catch (Throwable e) {
          onError(Status.INTERNAL.withDescription("writing the answer of model '"
              + request.getModelName() + "' failed: " + e));
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

  /**
   * Decodes and queues one request; the listener hears the outcome exactly once, and a refusal
   * or failure is logged as one line.
   */
  void infer(ModelInferRequest request, InferCall.Listener answer) {
    InferCall.Listener listener = new InferCall.Listener() {
      @Override
      public void onResponse(ModelInferResponse response) {
        answer.onResponse(response);
      }

      @Override
      public void onError(Status status) {
        if (!LOGGED_ELSEWHERE.contains(status.getCode())) {
          LOG.info("request '{}' for model '{}': {}", oneLine(request.getId()),
              oneLine(request.getModelName()), oneLine(status));
        }
        answer.onError(status);
      }
    };
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
      call = endpoint.decode(request, shm, Context.current(), listener);
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

  /** {@code CODE: description} on one line. */
  static String oneLine(Status status) {
    String d = status.getDescription();
    return status.getCode() + (d == null ? "" : ": " + oneLine(d));
  }

  /** {@code text} with its line breaks replaced, for a log line. */
  static String oneLine(String text) {
    return text.replaceAll("[\\r\\n]+", " ");
  }

  private static ByteString[] emptyParts(InferCall call) {
    ByteString[] p = new ByteString[call.request().outputs().size()];
    Arrays.fill(p, ByteString.EMPTY);
    return p;
  }

  @Override
  public StreamObserver<ModelInferRequest> modelStreamInfer(
      StreamObserver<ModelStreamInferResponse> out) {
    streamsOpened.increment();
    InferStream s = new InferStream(this,
        (ServerCallStreamObserver<ModelStreamInferResponse>) out, buffers, streamWindow,
        streamsOpened.sum());
    streams.add(s);
    if (s.closed()) {
      streams.remove(s);
    }
    if (draining) {
      s.drain();
    }
    return s;
  }

  /** Shared-memory regions registered since start. */
  long shmRegistered() {
    return shm.registered();
  }

  /** Shared-memory regions registered now. */
  long shmRegions() {
    return shm.size();
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

  /**
   * Gives each connection its shared-memory {@link SharedMemoryRegistry.Client} when its
   * transport is ready, and unregisters that client's regions when the connection closes. A
   * connection is the identity: a TCP remote address and port is unique only while the
   * connection lasts, and every Unix-socket client has the same (empty) address.
   */
  ServerTransportFilter connections() {
    return new ServerTransportFilter() {
      @Override
      public Attributes transportReady(Attributes attrs) {
        Object peer = attrs.get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
        SharedMemoryRegistry.Client c = new SharedMemoryRegistry.Client("connection "
            + connectionsOpened.incrementAndGet() + (peer == null ? "" : " from " + peer));
        return attrs.toBuilder().set(CONNECTION, c).build();
      }

      @Override
      public void transportTerminated(Attributes attrs) {
        SharedMemoryRegistry.Client c = attrs == null ? null : attrs.get(CONNECTION);
        if (c != null) {
          shm.closed(c);
        }
      }
    };
  }

  /** The service with the caller's connection in each call's context (for shared memory). */
  ServerServiceDefinition withClientAddress() {
    return ServerInterceptors.intercept(this, new ServerInterceptor() {
      @Override
      public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
          ServerCallHandler<Q, A> next) {
        SharedMemoryRegistry.Client c = call.getAttributes().get(CONNECTION);
        Context ctx = Context.current().withValue(CLIENT, c == null ? noConnection : c);
        return Contexts.interceptCall(ctx, call, headers, next);
      }
    });
  }

  @Override
  public void systemSharedMemoryStatus(SystemSharedMemoryStatusRequest request,
      StreamObserver<SystemSharedMemoryStatusResponse> out) {
    try {
      SystemSharedMemoryStatusResponse.Builder b = SystemSharedMemoryStatusResponse.newBuilder();
      for (SystemSharedMemoryStatusResponse.RegionStatus r : shm.status(request.getName())) {
        b.putRegions(r.getName(), r);
      }
      out.onNext(b.build());
      out.onCompleted();
    } catch (StatusException e) {
      out.onError(e);
    }
  }

  @Override
  public void systemSharedMemoryRegister(SystemSharedMemoryRegisterRequest request,
      StreamObserver<SystemSharedMemoryRegisterResponse> out) {
    try {
      SharedMemoryRegistry.Client client = CLIENT.get();
      shm.register(request.getName(), request.getKey(), request.getOffset(),
          request.getByteSize(), client == null ? noConnection : client);
      out.onNext(SystemSharedMemoryRegisterResponse.getDefaultInstance());
      out.onCompleted();
    } catch (StatusException e) {
      LOG.info("registering shared memory region '{}' (key '{}'): {}",
          oneLine(request.getName()), oneLine(request.getKey()), oneLine(e.getStatus()));
      out.onError(e);
    }
  }

  @Override
  public void systemSharedMemoryUnregister(SystemSharedMemoryUnregisterRequest request,
      StreamObserver<SystemSharedMemoryUnregisterResponse> out) {
    shm.unregister(request.getName());
    out.onNext(SystemSharedMemoryUnregisterResponse.getDefaultInstance());
    out.onCompleted();
  }

  /** The registered shared-memory regions. */
  SharedMemoryRegistry sharedMemory() {
    return shm;
  }

  /** Stops watching streams for stalls and unregisters every shared-memory region. */
  void close() {
    stallWatch.shutdownNow();
    shm.close();
  }
}
