package dev.sidecar.spark.internal;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.server.ModelServer;
import dev.sidecar.spark.RunOptions;
import dev.sidecar.spark.SidecarSparkException;
import dev.sidecar.wire.SidecarChannels;
import io.grpc.ManagedChannel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** A sidecar inside this JVM, reached through gRPC's in-process transport: for small local runs. */
final class InProcessSidecar implements SidecarHandle {
  private static final Logger LOG = LoggerFactory.getLogger(InProcessSidecar.class);

  private final ModelServer server;
  private final String name;
  private final ManagedChannel channel;
  private volatile boolean closed;

  private InProcessSidecar(ModelServer server, String name) {
    this.server = server;
    this.name = name;
    this.channel = SidecarChannels.forTarget(server.target());
  }

  /** Starts the in-process server for sidecar {@code n} of this JVM (which names it). */
  static InProcessSidecar start(Bundle bundle, RunOptions options, int n) {
    String name = "sidecar-" + BundleFiles.shortDigest(bundle.digest()) + "-" + n;
    ModelServer server;
    try {
      server = ModelServer.builder(bundle).inProcess(name)
          .options(ExecutorSlots.serverOptions(options)).start();
    } catch (Exception e) {
      throw new SidecarSparkException("cannot start the in-process sidecar for bundle "
          + bundle.tag() + ": " + e.getMessage(), e);
    }
    LOG.info("in-process sidecar for {} started as {}", bundle.tag(), name);
    return new InProcessSidecar(server, name);
  }

  @Override
  public ManagedChannel channel() {
    return channel;
  }

  @Override
  public String target() {
    return server.target();
  }

  @Override
  public long pid() {
    return ProcessHandle.current().pid();
  }

  @Override
  public boolean isAlive() {
    return !closed;
  }

  @Override
  public String diagnostics() {
    return "in-process sidecar " + name + (closed ? " (closed)" : "");
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    channel.shutdownNow();
    try {
      server.close();
    } catch (Exception e) {
      LOG.warn("in-process sidecar {} did not close cleanly: {}", name, e.toString());
    }
  }
}
