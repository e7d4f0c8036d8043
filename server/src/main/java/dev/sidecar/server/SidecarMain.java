package dev.sidecar.server;

import dev.sidecar.bundle.Bundle;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sidecar process the Spark connector launches beside each executor:
 *
 * <pre>
 * java -cp CLASSPATH dev.sidecar.server.SidecarMain --bundle-dir DIR
 *     (--socket PATH | --host 127.0.0.1 --port 0) [--parent-pid PID] [--intra-op-threads N]
 *     [--inference-workers N] [--max-queued-rows N]
 * </pre>
 *
 * It loads and verifies the unpacked bundle, starts a {@link ModelServer}, prints exactly one
 * line {@code SIDECAR READY <target>} on stdout and logs to stderr only. It exits by itself
 * when the parent process dies; SIGTERM (or SIGINT) drains accepted work, then exits 0.
 * Bad arguments exit 2; a bundle or bind failure exits 1, with the reason on stderr.
 */
public final class SidecarMain {
  private static final Logger LOG = LoggerFactory.getLogger(SidecarMain.class);
  public static final String READY_PREFIX = "SIDECAR READY ";

  private SidecarMain() {
  }

  /** Parsed command line. */
  private record Args(Path bundleDir, Path socket, String host, int port, long parentPid,
      int intraOpThreads, int inferenceWorkers, int maxQueuedRows) {
  }

  public static void main(String[] argv) {
    // stdout carries exactly one line; everything else goes to stderr.
    PrintStream stdout = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out),
        true, StandardCharsets.UTF_8);
    System.setOut(System.err);
    Args args;
    try {
      args = parse(argv);
    } catch (IllegalArgumentException e) {
      System.err.println("sidecar: " + e.getMessage());
      System.err.println("usage: SidecarMain --bundle-dir DIR (--socket PATH | --host 127.0.0.1"
          + " --port 0) [--parent-pid PID] [--intra-op-threads N] [--inference-workers N]"
          + " [--max-queued-rows N]");
      System.exit(2);
      return;
    }
    ModelServer server;
    try {
      Bundle bundle = Bundle.open(args.bundleDir());
      ServerOptions options = ServerOptions.defaults();
      if (args.intraOpThreads() > 0) {
        options = options.withIntraOpThreads(args.intraOpThreads());
      }
      if (args.inferenceWorkers() > 0) {
        options = options.withInferenceWorkers(args.inferenceWorkers());
      }
      if (args.maxQueuedRows() > 0) {
        options = options.withMaxQueuedRows(args.maxQueuedRows());
      }
      ModelServer.Builder b = ModelServer.builder(bundle).options(options);
      if (args.socket() != null) {
        b.unixSocket(args.socket());
      } else {
        b.tcp(args.host(), args.port());
      }
      server = b.start();
    } catch (Exception e) {
      LOG.error("sidecar cannot start: {}", e.toString());
      System.err.println("sidecar: cannot start: " + e.getMessage());
      System.exit(1);
      return;
    }
    installStopSignals(server);
    if (args.parentPid() > 0) {
      watchParent(server, args.parentPid());
    }
    stdout.println(READY_PREFIX + server.target());
    stdout.flush();
    try {
      server.blockUntilShutdown();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Stops gracefully and exits 0; runs once, whichever trigger comes first. */
  private static void stop(ModelServer server, String why) {
    synchronized (SidecarMain.class) {
      LOG.info("stopping: {}", why);
      server.close();
      long[] n = server.acceptedAndAnswered();
      LOG.info("sidecar stopped: accepted={} answered={}", n[0], n[1]);
      System.err.flush();
      Runtime.getRuntime().halt(0);
    }
  }

  /**
   * SIGTERM and SIGINT run shutdown hooks; ours drains the server and then halts with status 0
   * (a JVM ending on a signal would otherwise exit 143).
   */
  private static void installStopSignals(ModelServer server) {
    Runtime.getRuntime().addShutdownHook(new Thread(() -> stop(server, "shutdown signal"),
        "sidecar-shutdown"));
  }

  private static void watchParent(ModelServer server, long pid) {
    Optional<ProcessHandle> parent = ProcessHandle.of(pid);
    if (parent.isEmpty() || !parent.get().isAlive()) {
      new Thread(() -> stop(server, "parent process " + pid + " is not running"),
          "sidecar-stop").start();
      return;
    }
    parent.get().onExit().thenRun(() -> stop(server, "parent process " + pid + " exited"));
  }

  private static Args parse(String[] argv) {
    Path bundleDir = null;
    Path socket = null;
    String host = null;
    Integer port = null;
    long parentPid = -1;
    int intra = 0;
    int workers = 0;
    int maxQueued = 0;
    for (int i = 0; i < argv.length; i++) {
      String a = argv[i];
      String v = i + 1 < argv.length ? argv[i + 1] : null;
      switch (a) {
        case "--bundle-dir" -> bundleDir = Path.of(need(a, v));
        case "--socket" -> socket = Path.of(need(a, v));
        case "--host" -> host = need(a, v);
        case "--port" -> port = parseInt(a, need(a, v));
        case "--parent-pid" -> parentPid = parseInt(a, need(a, v));
        case "--intra-op-threads" -> intra = parseInt(a, need(a, v));
        case "--inference-workers" -> workers = parseInt(a, need(a, v));
        case "--max-queued-rows" -> maxQueued = parseInt(a, need(a, v));
        default -> throw new IllegalArgumentException("unknown argument '" + a + "'");
      }
      i++;
    }
    if (bundleDir == null) {
      throw new IllegalArgumentException("--bundle-dir is required");
    }
    if (socket != null && (host != null || port != null)) {
      throw new IllegalArgumentException("give either --socket or --host/--port, not both");
    }
    if (socket == null && port == null) {
      throw new IllegalArgumentException("give --socket PATH or --port N (0 = pick)");
    }
    if (port != null && (port < 0 || port > 65535)) {
      throw new IllegalArgumentException("--port must be 0..65535, got " + port);
    }
    if (intra < 0) {
      throw new IllegalArgumentException("--intra-op-threads must be >= 0, got " + intra);
    }
    if (workers < 0) {
      throw new IllegalArgumentException("--inference-workers must be >= 0, got " + workers);
    }
    if (maxQueued < 0) {
      throw new IllegalArgumentException("--max-queued-rows must be >= 0, got " + maxQueued);
    }
    return new Args(bundleDir, socket, host == null ? "127.0.0.1" : host,
        port == null ? 0 : port, parentPid, intra, workers, maxQueued);
  }

  private static String need(String flag, String value) {
    if (value == null || value.startsWith("--")) {
      throw new IllegalArgumentException(flag + " needs a value");
    }
    return value;
  }

  private static int parseInt(String flag, String value) {
    try {
      return Integer.parseInt(value);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(flag + " needs a number, got '" + value + "'");
    }
  }
}
