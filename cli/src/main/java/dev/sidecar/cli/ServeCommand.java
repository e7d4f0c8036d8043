package dev.sidecar.cli;

import dev.sidecar.bundle.ApiSpec;
import dev.sidecar.bundle.Bundle;
import dev.sidecar.bundle.BundleRef;
import dev.sidecar.server.ModelServer;
import dev.sidecar.bundle.BundleStore;
import dev.sidecar.server.ServerOptions;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code sidecar serve}: serves one bundle over gRPC (Open Inference Protocol v2) until stopped. */
@Command(name = "serve",
    mixinStandardHelpOptions = true,
    description = {
        "Serve a bundle over gRPC: every API is an Open Inference Protocol v2 model (name = API"
            + " name, or bundle/api, or the bundle name for the first API), with the standard"
            + " gRPC health service and sidecar's Stats call ('sidecar stats').",
        "Listens on loopback unless --host says otherwise. Ctrl-C or SIGTERM stops it"
            + " gracefully: accepted requests are answered first."})
final class ServeCommand extends StoreCommand {
  static final int DEFAULT_PORT = 8001;

  @Parameters(index = "0", paramLabel = "TAG|FILE|DIR",
      description = "A store tag (name:version, name:latest, name), a .bundle file, or an"
          + " unpacked bundle directory." + BundleSources.REF_HELP)
  String bundleRef;

  @Option(names = BundleSources.EXPECTED_DIGEST_OPTION, paramLabel = "DIGEST",
      description = BundleSources.EXPECTED_DIGEST_HELP)
  String expectedDigest;

  static final class Where {
    @Option(names = "--port", paramLabel = "N",
        description = "TCP port; 0 picks a free one. Default: " + DEFAULT_PORT + ".")
    Integer port;

    @Option(names = "--socket", paramLabel = "PATH",
        description = "Listen on this Unix domain socket instead of TCP (Linux).")
    Path socket;
  }

  @ArgGroup(exclusive = true)
  Where where;

  @Option(names = "--host", paramLabel = "HOST", defaultValue = "127.0.0.1",
      description = "TCP address to bind. Default: ${DEFAULT-VALUE} (loopback only).")
  String host;

  @Mixin
  TokenOptions tokenOptions;

  @Option(names = "--tls-cert", paramLabel = "FILE",
      description = "PEM certificate chain; serve TLS (with --tls-key). Default: plaintext.")
  Path tlsCert;

  @Option(names = "--tls-key", paramLabel = "FILE",
      description = "PEM (PKCS#8) private key of --tls-cert.")
  Path tlsKey;

  @Option(names = "--intra-op-threads", paramLabel = "N",
      description = "ONNX Runtime threads inside one operator; 0 = ONNX Runtime's choice"
          + " (as for the Spark connector's sidecar). Default: 1 (batching, not operator"
          + " parallelism, scales the server).")
  Integer intraOpThreads;

  @Option(names = "--max-queued-rows", paramLabel = "N",
      description = "Rows an API may queue before answering RESOURCE_EXHAUSTED. Default: "
          + ServerOptions.DEFAULT_MAX_QUEUED_ROWS + ".")
  Integer maxQueuedRows;

  private final Consumer<ModelServer> onStarted;

  ServeCommand() {
    this(null);
  }

  /** For tests: {@code onStarted} sees the running server (and may close it). */
  ServeCommand(Consumer<ModelServer> onStarted) {
    this.onStarted = onStarted;
  }

  /** The server's tuning: the defaults, with what the flags set (0 threads = ONNX Runtime's). */
  ServerOptions options() {
    ServerOptions options = ServerOptions.defaults();
    if (intraOpThreads != null) {
      options = options.withIntraOpThreads(intraOpThreads);
    }
    if (maxQueuedRows != null) {
      options = options.withMaxQueuedRows(maxQueuedRows);
    }
    return options;
  }

  @Override
  public Integer call() throws IOException, InterruptedException {
    if ((tlsCert == null) != (tlsKey == null)) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "--tls-cert and --tls-key go together");
    }
    String secret = tokenOptions.resolve();
    Bundle bundle = load();
    ModelServer.Builder b = ModelServer.builder(bundle).options(options()).token(secret);
    if (where != null && where.socket != null) {
      b.unixSocket(where.socket);
    } else {
      b.tcp(host, where != null && where.port != null ? where.port : DEFAULT_PORT);
    }
    if (tlsCert != null) {
      b.tls(tlsCert, tlsKey);
    }
    PrintWriter out = out();
    PrintWriter err = spec.commandLine().getErr();
    if (where == null || where.socket == null) {
      boolean loopback = InetAddress.getByName(host).isLoopbackAddress();
      if (!loopback && secret == null) {
        err.println("sidecar: warning: listening on " + host + " without a token (--token-file,"
            + " $" + TokenOptions.ENV + "): anyone who can reach this address can use the models");
        err.flush();
      }
    }
    ModelServer server = b.start();
    Thread hook = new Thread(() -> stopOnSignal(server, out), "sidecar-serve-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    out.println("serving " + bundle.tag() + " (" + bundle.digest() + ") on " + server.target());
    out.println("models (APIs): " + bundle.manifest().apis().stream().map(ApiSpec::name)
        .collect(Collectors.joining(", ")) + (secret != null ? "; bearer token required" : "")
        + (tlsCert != null ? "; TLS" : ""));
    out.println("stop with Ctrl-C or SIGTERM; stats: sidecar stats --target " + server.target());
    out.flush();
    if (onStarted != null) {
      onStarted.accept(server);
    }
    server.blockUntilShutdown();
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException e) {
      // Already shutting down: the hook is running.
    }
    return 0;
  }

  /**
   * The shutdown hook (SIGTERM, Ctrl-C): drains the server, then ends the JVM with status 0; a
   * JVM that ends on a signal would exit 143 (128 + SIGTERM) although the stop was graceful.
   */
  private static void stopOnSignal(ModelServer server, PrintWriter out) {
    server.close();
    long[] n = server.acceptedAndAnswered();
    out.println("stopped (requests accepted " + n[0] + ", answered with data " + n[1] + ")");
    out.flush();
    Runtime.getRuntime().halt(0);
  }

  private Bundle load() {
    BundleRef ref = BundleSources.ref(bundleRef, expectedDigest);
    if (!ref.isUri()) {
      Path asPath = Path.of(ref.location());
      if (Files.isDirectory(asPath)) {
        Bundle b = Bundle.open(asPath);
        ref.checkDigest(b.digest());
        return b;
      }
    }
    // Unpacked (verified) into the store's cache, keyed by digest; a remote copy is then dropped.
    BundleStore store = store();
    return BundleSources.withArchive(ref, store, a -> store.load(a.toString()));
  }
}
