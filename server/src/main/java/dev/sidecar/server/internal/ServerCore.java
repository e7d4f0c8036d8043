package dev.sidecar.server.internal;

import ai.onnxruntime.OrtException;
import com.google.common.util.concurrent.MoreExecutors;
import dev.sidecar.bundle.ApiSpec;
import dev.sidecar.bundle.Bundle;
import dev.sidecar.proto.stats.StatsResponse;
import dev.sidecar.server.ServerOptions;
import io.grpc.BindableService;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallExecutorSupplier;
import io.grpc.ServerInterceptor;
import io.grpc.ServerTransportFilter;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Everything a {@link dev.sidecar.server.ModelServer} serves, independent of the transport: one
 * ONNX Runtime session per bundle model, one endpoint and batcher per API, and the gRPC
 * services (Open Inference Protocol, Stats). Built once; closed once.
 *
 * <p>Health: once ready, the gRPC health service reports SERVING for the server ({@code ""}),
 * for {@code inference.GRPCInferenceService}, and for each API under its names ({@code api},
 * {@code bundle/api}, and the bare bundle name for the first API). An API that cannot be served
 * any more (see {@link AdaptiveBatcher}) turns NOT_SERVING, and so do the server's two names,
 * until it serves again.
 */
public final class ServerCore implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ServerCore.class);

  private final Bundle bundle;
  private final Map<String, ModelRuntime> runtimes = new LinkedHashMap<>();
  private final Map<String, ApiEndpoint> endpoints = new LinkedHashMap<>();
  private final InferenceService inference;
  private final StatsService stats;
  private final HealthStatusManager health;
  private final String instanceId = UUID.randomUUID().toString();
  private final long startedAtMs = System.currentTimeMillis();
  private volatile long readyAtMs;
  private volatile boolean ready;
  private boolean closed;

  /** Opens a session for every model the bundle's APIs use and checks every descriptor. */
  public ServerCore(Bundle bundle, ServerOptions options) {
    this(bundle, options, new HealthStatusManager(), null);
  }

  /**
   * @param health where serving status is reported (from {@link #markReady()} on)
   * @param hook runs before every model call (tests only; null = none)
   */
  public ServerCore(Bundle bundle, ServerOptions options, HealthStatusManager health,
      ModelCallHook hook) {
    this(bundle, options, health, hook, InferenceService.SHM_BUDGET_PER_CLIENT);
  }

  /**
   * @param health where serving status is reported (from {@link #markReady()} on)
   * @param hook runs before every model call (tests only; null = none)
   * @param shmBudget bytes of shared memory one connection may have registered at once
   */
  public ServerCore(Bundle bundle, ServerOptions options, HealthStatusManager health,
      ModelCallHook hook, long shmBudget) {
    this.bundle = bundle;
    this.health = health;
    try {
      for (ApiSpec api : bundle.manifest().apis()) {
        ModelRuntime rt = runtimes.get(api.model());
        if (rt == null) {
          try {
            rt = new ModelRuntime(api.model(), bundle.modelPath(api.model()),
                options.intraOpThreads(), options.interOpThreads());
          } catch (OrtException e) {
            throw new IllegalArgumentException("ONNX Runtime cannot load model '" + api.model()
                + "' of bundle " + bundle.tag() + ": " + e.getMessage(), e);
          }
          runtimes.put(api.model(), rt);
        }
        ApiEndpoint ep = new ApiEndpoint(bundle, api, rt, hook, runner -> {
          AdaptiveBatcher batcher = new AdaptiveBatcher(api.name(), api.batching(),
              options.maxQueuedRows(), options.inferenceWorkers(), runner);
          batcher.onServingChanged(serving -> reportHealth());
          return batcher;
        });
        endpoints.put(api.name(), ep);
      }
      if (endpoints.isEmpty()) {
        throw new IllegalArgumentException("bundle " + bundle.tag() + " has no APIs to serve");
      }
    } catch (RuntimeException e) {
      close();
      throw e;
    }
    this.inference = new InferenceService(this, options.streamWindow(),
        new StreamBuffers(options.streamBufferBytes(), options.totalStreamBufferBytes()),
        options.streamStallTimeout(), shmBudget);
    this.stats = new StatsService(this);
    LOG.info("loaded bundle {} ({}): APIs {}", bundle.tag(), bundle.digest(), endpoints.keySet());
  }

  /**
   * The transport filter to install on the server: it gives each connection its identity for
   * shared memory (budget, regions released when it closes).
   */
  public ServerTransportFilter transportFilter() {
    return inference.connections();
  }

  /** The gRPC services to register (Open Inference Protocol and Stats). */
  public List<BindableService> services() {
    return List.of(inference::withClientAddress, stats);
  }

  /**
   * Where each call runs: unary calls on the transport thread that read them, streams on gRPC's
   * executor. A unary call is short to serve here (decode, check, queue for the batcher; the
   * model runs on the batcher's workers), and handing it to another thread first cost more than
   * serving it: measured with 16 single-row callers, batched unary throughput rose by about half.
   * Streams carry large chunks whose parsing would hold a transport thread.
   */
  public static ServerCallExecutorSupplier callExecutors() {
    return new ServerCallExecutorSupplier() {
      @Override
      public <ReqT, RespT> Executor getExecutor(ServerCall<ReqT, RespT> call, Metadata headers) {
        return call.getMethodDescriptor().getType() == MethodDescriptor.MethodType.UNARY
            ? MoreExecutors.directExecutor() : null;
      }
    };
  }

  /** The interceptor that demands {@code authorization: Bearer <token>}. */
  public static ServerInterceptor bearerToken(String token) {
    return new BearerTokenInterceptor(token);
  }

  /** Marks the server ready and reports every API's serving status to the health service. */
  public void markReady() {
    readyAtMs = System.currentTimeMillis();
    ready = true;
    reportHealth();
  }

  /** The health service names of an API: its name, {@code bundle/api}, the bundle (first API). */
  List<String> healthNames(ApiEndpoint ep) {
    String bundleName = bundle.manifest().name();
    List<String> names = new ArrayList<>(List.of(ep.name(), bundleName + "/" + ep.name()));
    if (endpoints.values().iterator().next() == ep) {
      names.add(bundleName);
    }
    return names;
  }

  private void reportHealth() {
    synchronized (health) {
      if (!ready) {
        return;
      }
      boolean all = true;
      for (ApiEndpoint ep : endpoints.values()) {
        boolean serving = ep.batcher().serving();
        all &= serving;
        for (String name : healthNames(ep)) {
          health.setStatus(name, serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
        }
      }
      ServingStatus server = all ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
      health.setStatus("", server);
      health.setStatus("inference.GRPCInferenceService", server);
    }
  }

  boolean ready() {
    return ready;
  }

  /**
   * Stops readiness and ends every open stream once the requests it already read are answered;
   * queued work keeps running until {@link #close(long)}.
   */
  public void drain() {
    ready = false;
    inference.drain();
  }

  /** Requests accepted (decoded and valid or not) and answered with data, over all APIs. */
  public long[] acceptedAndAnswered() {
    long req = 0;
    long ans = 0;
    for (ApiEndpoint ep : endpoints.values()) {
      req += ep.metrics().requests();
      ans += ep.metrics().answered();
    }
    return new long[] {req, ans};
  }

  static String version() {
    String v = ServerCore.class.getPackage().getImplementationVersion();
    return v == null ? "0.1.0-SNAPSHOT" : v;
  }

  /** Finds the API a model name means: API name, {@code bundle/api}, or the bundle name. */
  ApiEndpoint resolve(String model, String version) throws StatusException {
    String bundleName = bundle.manifest().name();
    ApiEndpoint ep = endpoints.get(model);
    if (ep == null && model.startsWith(bundleName + "/")) {
      ep = endpoints.get(model.substring(bundleName.length() + 1));
    }
    if (ep == null && model.equals(bundleName)) {
      ep = endpoints.values().iterator().next();
    }
    if (ep == null) {
      List<String> known = new ArrayList<>(endpoints.keySet());
      for (String api : endpoints.keySet()) {
        known.add(bundleName + "/" + api);
      }
      known.add(bundleName);
      throw Status.NOT_FOUND.withDescription("unknown model '" + model + "'; this server has "
          + known).asException();
    }
    if (version != null && !version.isEmpty() && !version.equals(ep.version())) {
      throw Status.NOT_FOUND.withDescription("model '" + ep.name() + "' has no version '"
          + version + "'; versions: [" + ep.version() + "]").asException();
    }
    return ep;
  }

  StatsResponse stats() {
    StatsResponse.Builder s = StatsResponse.newBuilder()
        .setInstanceId(instanceId)
        .setPid(ProcessHandle.current().pid())
        .setStartedAtUnixMs(startedAtMs)
        .setReadyAtUnixMs(readyAtMs)
        .setBundleName(bundle.manifest().name())
        .setBundleVersion(bundle.manifest().version())
        .setBundleDigest(bundle.digest())
        .setStreamsOpened(inference.streamsOpened.sum())
        .setShmRegionsRegistered(inference.shmRegistered())
        .setShmRegions(inference.shmRegions());
    for (ApiEndpoint ep : endpoints.values()) {
      s.addApis(ep.metrics().snapshot(ep.batcher().queuedRows(), ep.batcher().latencyModel()));
    }
    return s.build();
  }

  /** Lets the batchers finish queued work for up to {@code timeoutMillis}, then stops all. */
  public void close(long timeoutMillis) {
    long end = System.currentTimeMillis() + timeoutMillis;
    for (ApiEndpoint ep : endpoints.values()) {
      ep.batcher().drain(Math.max(1, end - System.currentTimeMillis()));
    }
    close();
  }

  /** Stops the batchers (failing what is queued) and closes the sessions; counters stay readable. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    ready = false;
    if (inference != null) {
      inference.close();
    }
    for (ApiEndpoint ep : endpoints.values()) {
      ep.close();
    }
    for (ModelRuntime rt : runtimes.values()) {
      rt.close();
    }
  }
}
