package dev.sidecar.server;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.bundle.files.PrivateFiles;
import dev.sidecar.server.internal.GrpcLogBridge;
import dev.sidecar.server.internal.ModelCallHook;
import dev.sidecar.server.internal.ServerCore;
import dev.sidecar.wire.SidecarChannels;
import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.ServerInterceptors;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A gRPC server for one bundle: every API of the bundle is an Open Inference Protocol v2 model
 * (see docs/architecture.md), next to the standard gRPC health service and sidecar's Stats call.
 * It listens on loopback TCP, a Unix domain socket, or in-process.
 *
 * <pre>{@code
 * try (ModelServer server = ModelServer.builder(bundle).tcp("127.0.0.1", 0).start()) {
 *   ManagedChannel ch = SidecarChannels.forTarget(server.target());
 *   ...
 * }
 * }</pre>
 *
 * <p>Health ({@code grpc.health.v1}) reports SERVING for the server, for
 * {@code inference.GRPCInferenceService} and for each API by name, and NOT_SERVING for an API
 * that cannot be served any more (and then for the server) or once closing.
 *
 * <p>{@link #close()} is graceful: health turns NOT_SERVING, no new calls are accepted, open
 * streams end (UNAVAILABLE) once every request they delivered is answered, accepted work
 * finishes within {@link ServerOptions#gracefulTimeout()}, and only then is the rest cancelled.
 */
public final class ModelServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ModelServer.class);
  /**
   * The HTTP/2 flow-control window of each stream (and connection): what a client may send
   * that the server has not asked for yet. Fixed, not grown by gRPC's bandwidth-delay probing,
   * which took it to 8 MiB per stream on loopback: a stream the server stops reading (its client
   * takes no answers) then holds 8 MiB of direct memory unread.
   */
  static final int FLOW_CONTROL_WINDOW = 1 << 20;
  /** Longest Unix socket path the kernel accepts (sun_path is 108 bytes with the NUL). */
  private static final int MAX_SOCKET_PATH_BYTES = 107;

  private enum Transport { TCP, UNIX, IN_PROCESS }

  private final Bundle bundle;
  private final Transport transport;
  private final String host;
  private final int requestedPort;
  private final Path socket;
  private final String inProcessName;
  private final ServerOptions options;
  private final String token;
  private final Path tlsCert;
  private final Path tlsKey;
  private final ModelCallHook hook;
  private final long shmBudget;
  private final HealthStatusManager health = new HealthStatusManager();
  private final CountDownLatch closed = new CountDownLatch(1);
  private final List<EventLoopGroup> groups = new ArrayList<>();

  private ServerCore core;
  private Server server;
  private String target;
  private boolean closing;

  private ModelServer(Builder b) {
    this.bundle = b.bundle;
    this.transport = b.transport;
    this.host = b.host;
    this.requestedPort = b.port;
    this.socket = b.socket;
    this.inProcessName = b.inProcessName;
    this.options = b.options;
    this.token = b.token;
    this.tlsCert = b.tlsCert;
    this.tlsKey = b.tlsKey;
    this.hook = b.hook;
    this.shmBudget = b.shmBudget;
  }

  /** A builder for a server of {@code bundle}; by default on 127.0.0.1 with a free port. */
  public static Builder builder(Bundle bundle) {
    return new Builder(bundle);
  }

  /**
   * Loads every model of the bundle (one ONNX Runtime session each), binds, and marks the
   * server ready. Throws {@link IOException} if it cannot bind and
   * {@link IllegalArgumentException} if the bundle cannot be served (the message says why).
   */
  public synchronized ModelServer start() throws IOException {
    if (server != null) {
      throw new IllegalStateException("ModelServer already started");
    }
    GrpcLogBridge.install();
    core = shmBudget > 0 ? new ServerCore(bundle, options, health, hook, shmBudget)
        : new ServerCore(bundle, options, health, hook);
    try {
      ServerBuilder<?> sb = transportBuilder();
      sb.maxInboundMessageSize(options.maxInboundMessageBytes());
      for (BindableService s : core.services()) {
        sb.addService(token == null ? s.bindService()
            : ServerInterceptors.intercept(s, ServerCore.bearerToken(token)));
      }
      sb.addService(health.getHealthService());
      sb.addTransportFilter(core.transportFilter());
      sb.callExecutor(ServerCore.callExecutors());
      server = sb.build().start();
      if (transport == Transport.UNIX) {
        // Only this user may connect: the socket is 0600 (bound with the umask's mode).
        PrivateFiles.restrict(socket.toAbsolutePath(), false);
      }
    } catch (IOException | RuntimeException e) {
      core.close();
      shutdownGroups();
      throw e instanceof IOException ? (IOException) e
          : new IOException("cannot start the server for " + bundle.tag() + " on "
              + describeAddress() + ": " + e.getMessage(), e);
    }
    target = switch (transport) {
      case TCP -> hostForTarget() + ":" + port();
      case UNIX -> "unix://" + socket.toAbsolutePath();
      case IN_PROCESS -> "inprocess:" + inProcessName;
    };
    core.markReady();
    LOG.info("serving {} on {}", bundle.tag(), target);
    return this;
  }

  private ServerBuilder<?> transportBuilder() throws IOException {
    switch (transport) {
      case IN_PROCESS:
        return InProcessServerBuilder.forName(inProcessName);
      case UNIX: {
        SidecarChannels.requireEpoll();
        Path abs = socket.toAbsolutePath();
        if (abs.toString().getBytes(StandardCharsets.UTF_8).length > MAX_SOCKET_PATH_BYTES) {
          throw new IllegalArgumentException("Unix socket path is longer than "
              + MAX_SOCKET_PATH_BYTES + " bytes: " + abs);
        }
        if (Files.exists(abs) && !Files.isDirectory(abs)
            && !Files.isRegularFile(abs)) {
          Files.delete(abs);
        } else if (Files.exists(abs)) {
          throw new IOException("cannot bind a Unix socket at " + abs
              + ": a file or directory exists there");
        }
        EventLoopGroup boss = newEpollGroup(1);
        EventLoopGroup workers = newEpollGroup(Math.max(2, Runtime.getRuntime()
            .availableProcessors()));
        return NettyServerBuilder.forAddress(new DomainSocketAddress(abs.toString()))
            .flowControlWindow(FLOW_CONTROL_WINDOW)
            .channelType(EpollServerDomainSocketChannel.class)
            .bossEventLoopGroup(boss)
            .workerEventLoopGroup(workers);
      }
      case TCP:
      default: {
        NettyServerBuilder nb = NettyServerBuilder.forAddress(
            new InetSocketAddress(host, requestedPort)).flowControlWindow(FLOW_CONTROL_WINDOW);
        if (tlsCert != null) {
          nb.sslContext(GrpcSslContexts.forServer(tlsCert.toFile(), tlsKey.toFile()).build());
        }
        return nb;
      }
    }
  }

  @SuppressWarnings("deprecation")
  private EventLoopGroup newEpollGroup(int threads) {
    // EpollEventLoopGroup exists in Netty 4.1 and 4.2 (deprecated there), so the server works
    // with either Spark line's Netty.
    EventLoopGroup g = new EpollEventLoopGroup(threads);
    groups.add(g);
    return g;
  }

  private String hostForTarget() {
    return host.contains(":") ? "[" + host + "]" : host;
  }

  private String describeAddress() {
    return switch (transport) {
      case TCP -> host + ":" + requestedPort;
      case UNIX -> "unix://" + socket.toAbsolutePath();
      case IN_PROCESS -> "inprocess:" + inProcessName;
    };
  }

  /**
   * Where clients connect: {@code 127.0.0.1:PORT}, {@code unix:///abs/path.sock} or
   * {@code inprocess:NAME}; accepted by {@link SidecarChannels#forTarget(String)}.
   */
  public String target() {
    requireStarted();
    return target;
  }

  /** The bound TCP port (the picked one when built with port 0); -1 for other transports. */
  public int port() {
    requireStarted();
    return transport == Transport.TCP ? server.getPort() : -1;
  }

  public Bundle bundle() {
    return bundle;
  }

  /** Requests the server has accepted and answered with data so far, over all APIs. */
  public long[] acceptedAndAnswered() {
    requireStarted();
    return core.acceptedAndAnswered();
  }

  private void requireStarted() {
    if (server == null) {
      throw new IllegalStateException("ModelServer not started");
    }
  }

  /** Blocks until {@link #close()} has finished (from another thread or a shutdown hook). */
  public void blockUntilShutdown() throws InterruptedException {
    closed.await();
  }

  /** Graceful stop; see the class comment. Idempotent. */
  @Override
  public void close() {
    synchronized (this) {
      if (closing || server == null) {
        if (server == null) {
          closed.countDown();
        }
        return;
      }
      closing = true;
    }
    long timeoutMs = options.gracefulTimeout().toMillis();
    health.enterTerminalState();
    server.shutdown();
    core.drain();
    boolean clean;
    try {
      clean = server.awaitTermination(timeoutMs, TimeUnit.MILLISECONDS);
      if (!clean) {
        LOG.warn("accepted work did not finish within {} ms; cancelling the rest", timeoutMs);
        server.shutdownNow();
        server.awaitTermination(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      server.shutdownNow();
      clean = false;
    }
    core.close(clean ? 5_000 : 0);
    shutdownGroups();
    if (transport == Transport.UNIX) {
      try {
        Files.deleteIfExists(socket.toAbsolutePath());
      } catch (IOException e) {
        LOG.warn("cannot remove socket file {}: {}", socket, e.getMessage());
      }
    }
    LOG.info("stopped serving {} on {}", bundle.tag(), target);
    closed.countDown();
  }

  private void shutdownGroups() {
    for (EventLoopGroup g : groups) {
      g.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
    }
    groups.clear();
  }

  /** Options of a {@link ModelServer}; exactly one transport (TCP on 127.0.0.1:0 by default). */
  public static final class Builder {
    private final Bundle bundle;
    private Transport transport = Transport.TCP;
    private String host = "127.0.0.1";
    private int port = 0;
    private Path socket;
    private String inProcessName;
    private ServerOptions options = ServerOptions.defaults();
    private String token;
    private Path tlsCert;
    private Path tlsKey;
    private ModelCallHook hook;
    private long shmBudget;

    private Builder(Bundle bundle) {
      this.bundle = Objects.requireNonNull(bundle, "bundle");
    }

    /** Listen on TCP {@code host:port}; port 0 picks a free port. */
    public Builder tcp(String host, int port) {
      if (port < 0 || port > 65535) {
        throw new IllegalArgumentException("port must be 0..65535, got " + port);
      }
      this.transport = Transport.TCP;
      this.host = Objects.requireNonNull(host, "host");
      this.port = port;
      return this;
    }

    /** Listen on a Unix domain socket at {@code path} (Linux, Netty epoll). */
    public Builder unixSocket(Path path) {
      this.transport = Transport.UNIX;
      this.socket = Objects.requireNonNull(path, "path");
      return this;
    }

    /** Serve in-process only (for embedding and tests), under {@code name}. */
    public Builder inProcess(String name) {
      this.transport = Transport.IN_PROCESS;
      this.inProcessName = Objects.requireNonNull(name, "name");
      return this;
    }

    public Builder options(ServerOptions options) {
      this.options = Objects.requireNonNull(options, "options");
      return this;
    }

    /** Require {@code authorization: Bearer <token>} on every call but health checks. */
    public Builder token(String token) {
      if (token != null && token.isBlank()) {
        throw new IllegalArgumentException("token must not be blank");
      }
      this.token = token;
      return this;
    }

    /** Serve TLS with a PEM certificate chain and PEM (PKCS#8) private key (TCP only). */
    public Builder tls(Path certChain, Path privateKey) {
      this.tlsCert = Objects.requireNonNull(certChain, "certChain");
      this.tlsKey = Objects.requireNonNull(privateKey, "privateKey");
      return this;
    }

    /** Runs {@code hook} on the inference worker before every model call (tests only). */
    Builder beforeModelCall(ModelCallHook hook) {
      this.hook = hook;
      return this;
    }

    /** Bytes of shared memory one connection may register at once (tests only; 0 = 1 GiB). */
    Builder sharedMemoryBudget(long bytes) {
      this.shmBudget = bytes;
      return this;
    }

    public ModelServer build() {
      if (tlsCert != null && transport != Transport.TCP) {
        throw new IllegalArgumentException("TLS is only for TCP; a Unix socket is local and "
            + "protected by file permissions");
      }
      return new ModelServer(this);
    }

    /** {@code build().start()}. */
    public ModelServer start() throws IOException {
      return build().start();
    }
  }
}
