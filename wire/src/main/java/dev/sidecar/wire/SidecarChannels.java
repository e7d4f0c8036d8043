package dev.sidecar.wire;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ConnectivityState;
import io.grpc.ForwardingClientCall;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLException;

/**
 * Client channels to a sidecar server, from the target strings the server's
 * {@code ModelServer.target()} and the sidecar's {@linkplain ReadyLine ready line} give:
 * {@code unix:///abs/path.sock} (Netty epoll), {@code host:port}, or {@code inprocess:NAME}.
 * Channels accept messages up to {@link #MAX_MESSAGE_BYTES}; the caller shuts them down.
 */
public final class SidecarChannels {
  /**
   * The largest message a channel accepts, and the server's default for the messages it
   * accepts ({@code ServerOptions.DEFAULT_MAX_INBOUND_MESSAGE_BYTES}): 64 MiB.
   */
  public static final int MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private SidecarChannels() {
  }

  /** A plaintext channel to {@code target}. */
  public static ManagedChannel forTarget(String target) {
    return forTarget(target, null, null);
  }

  /**
   * A channel to {@code target} that sends {@code token} as a bearer token (if not null) and
   * speaks TLS trusting {@code trustedCert} (a PEM certificate; null = plaintext).
   */
  public static ManagedChannel forTarget(String target, String token, Path trustedCert) {
    if (target == null || target.isBlank()) {
      throw new IllegalArgumentException("empty target; expected unix:///path.sock, host:port "
          + "or inprocess:NAME");
    }
    ManagedChannelBuilder<?> b;
    EventLoopGroup group = null;
    if (target.startsWith("unix:")) {
      String path = target.startsWith("unix://") ? target.substring("unix://".length())
          : target.substring("unix:".length());
      if (!path.startsWith("/")) {
        throw new IllegalArgumentException("Unix socket target must hold an absolute path, "
            + "like unix:///tmp/sidecar.sock; got " + target);
      }
      if (trustedCert != null) {
        throw new IllegalArgumentException("TLS is not used on Unix sockets: " + target);
      }
      requireEpoll();
      group = newGroup();
      b = NettyChannelBuilder.forAddress(new DomainSocketAddress(path))
          .channelType(EpollDomainSocketChannel.class)
          .eventLoopGroup(group)
          .usePlaintext();
    } else if (target.startsWith("inprocess:")) {
      b = InProcessChannelBuilder.forName(target.substring("inprocess:".length()));
    } else {
      int colon = target.lastIndexOf(':');
      if (colon <= 0 || colon == target.length() - 1) {
        throw new IllegalArgumentException("target '" + target + "' is not unix:///path.sock, "
            + "host:port or inprocess:NAME");
      }
      String host = target.substring(0, colon);
      if (host.startsWith("[") && host.endsWith("]")) {
        host = host.substring(1, host.length() - 1);
      }
      int port;
      try {
        port = Integer.parseInt(target.substring(colon + 1));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("target '" + target + "' has no numeric port", e);
      }
      NettyChannelBuilder nb = NettyChannelBuilder.forAddress(host, port);
      if (trustedCert != null) {
        try {
          nb.sslContext(GrpcSslContexts.forClient().trustManager(trustedCert.toFile()).build());
        } catch (SSLException e) {
          throw new IllegalArgumentException("cannot use " + trustedCert + " as TLS trust: "
              + e.getMessage(), e);
        }
      } else {
        nb.usePlaintext();
      }
      b = nb;
    }
    b.maxInboundMessageSize(MAX_MESSAGE_BYTES);
    if (token != null) {
      b.intercept(bearerToken(token));
    }
    ManagedChannel ch = b.build();
    return group == null ? ch : new GroupOwningChannel(ch, group);
  }

  /**
   * Fails, saying why and what to use instead, unless Netty's native epoll transport (which Unix
   * domain sockets need, on both sides) is available here.
   */
  public static void requireEpoll() {
    String why = epollUnavailableReason();
    if (why != null) {
      throw new IllegalStateException("Unix domain sockets need Netty's native epoll transport "
          + "(Linux x86_64/aarch64), which is unavailable here: " + why
          + "; use a TCP address such as 127.0.0.1:0 instead");
    }
  }

  /**
   * Null when Netty's native epoll transport (and with it Unix domain sockets) works in this
   * JVM; else why not, on one line: Netty's reason and its causes, each as its class and message
   * (e.g. no native library for this platform, or two different copies of it on the class path).
   */
  public static String epollUnavailableReason() {
    Throwable cause;
    try {
      if (Epoll.isAvailable()) {
        return null;
      }
      cause = Epoll.unavailabilityCause();
    } catch (LinkageError e) {
      cause = e; // Netty's epoll classes are missing or fail to initialise
    }
    if (cause == null) {
      return "no reason given";
    }
    StringBuilder s = new StringBuilder();
    for (Throwable c = cause; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (s.length() > 0) {
        s.append("; caused by ");
      }
      s.append(c.getClass().getName());
      if (c.getMessage() != null) {
        s.append(": ").append(c.getMessage());
      }
    }
    return s.toString();
  }

  /** A client interceptor adding {@code authorization: Bearer <token>} to every call. */
  public static ClientInterceptor bearerToken(String token) {
    String value = "Bearer " + token;
    return new ClientInterceptor() {
      @Override
      public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method,
          CallOptions options, Channel next) {
        return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method,
            options)) {
          @Override
          public void start(Listener<R> listener, Metadata headers) {
            headers.put(AUTHORIZATION, value);
            super.start(listener, headers);
          }
        };
      }
    };
  }

  @SuppressWarnings("deprecation")
  private static EventLoopGroup newGroup() {
    return new EpollEventLoopGroup(1, r -> {
      Thread t = new Thread(r, "sidecar-uds-client");
      t.setDaemon(true);
      return t;
    });
  }

  /** A channel that shuts its own event loop group down once it has terminated. */
  private static final class GroupOwningChannel extends ManagedChannel {
    private final ManagedChannel delegate;
    private final EventLoopGroup group;

    GroupOwningChannel(ManagedChannel delegate, EventLoopGroup group) {
      this.delegate = delegate;
      this.group = group;
    }

    @Override
    public ManagedChannel shutdown() {
      delegate.shutdown();
      releaseWhenTerminated();
      return this;
    }

    @Override
    public ManagedChannel shutdownNow() {
      delegate.shutdownNow();
      releaseWhenTerminated();
      return this;
    }

    private void releaseWhenTerminated() {
      Thread t = new Thread(() -> {
        try {
          delegate.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
      }, "sidecar-uds-client-release");
      t.setDaemon(true);
      t.start();
    }

    @Override
    public boolean isShutdown() {
      return delegate.isShutdown();
    }

    @Override
    public boolean isTerminated() {
      return delegate.isTerminated();
    }

    @Override
    public boolean awaitTermination(long timeout, TimeUnit unit) throws InterruptedException {
      return delegate.awaitTermination(timeout, unit);
    }

    @Override
    public <Q, R> ClientCall<Q, R> newCall(MethodDescriptor<Q, R> method, CallOptions options) {
      return delegate.newCall(method, options);
    }

    @Override
    public String authority() {
      return delegate.authority();
    }

    @Override
    public ConnectivityState getState(boolean requestConnection) {
      return delegate.getState(requestConnection);
    }

    @Override
    public void notifyWhenStateChanged(ConnectivityState source, Runnable callback) {
      delegate.notifyWhenStateChanged(source, callback);
    }

    @Override
    public void resetConnectBackoff() {
      delegate.resetConnectBackoff();
    }

    @Override
    public void enterIdle() {
      delegate.enterIdle();
    }
  }
}
