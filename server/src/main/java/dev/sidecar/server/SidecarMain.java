package dev.sidecar.server;

import dev.sidecar.bundle.Bundle;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sidecar process the Spark connector launches beside each executor:
 *
 * <pre>
 * java -cp CLASSPATH dev.sidecar.server.SidecarMain --bundle-dir DIR
 *     (--socket PATH | --host 127.0.0.1 --port 0) [--parent-pid PID] [--intra-op-threads N]
 *     [--inference-workers N] [--max-queued-rows N] [--max-message-bytes N]
 *     [--stream-buffer-bytes N] [--total-stream-buffer-bytes N] [--stream-stall-timeout-ms N]
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
      ServerOptions options) {
  }

  private static final String USAGE = "usage: SidecarMain --bundle-dir DIR (--socket PATH | --host"
      + " 127.0.0.1 --port 0) [--parent-pid PID] [--intra-op-threads N] [--inference-workers N]"
      + " [--max-queued-rows N] [--max-message-bytes N] [--stream-buffer-bytes N]"
      + " [--total-stream-buffer-bytes N] [--stream-stall-timeout-ms N]";

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
      System.err.println(USAGE);
      System.exit(2);
      return;
    }
    ModelServer server;
    try {
      Bundle bundle = Bundle.open(args.bundleDir());
      ModelServer.Builder b = ModelServer.builder(bundle).options(args.options());
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
    ServerOptions o = ServerOptions.defaults();
    long perStream = o.streamBufferBytes();
    Long total = null;
    for (int i = 0; i < argv.length; i++) {
      String a = argv[i];
      String v = i + 1 < argv.length ? argv[i + 1] : null;
      switch (a) {
        case "--bundle-dir" -> bundleDir = Path.of(need(a, v));
        case "--socket" -> socket = Path.of(need(a, v));
        case "--host" -> host = need(a, v);
        case "--port" -> port = count(a, v);
        case "--parent-pid" -> parentPid = parseLong(a, need(a, v), Long.MIN_VALUE);
        case "--intra-op-threads" -> o = count(a, v) > 0 ? o.withIntraOpThreads(count(a, v)) : o;
        case "--inference-workers" ->
            o = count(a, v) > 0 ? o.withInferenceWorkers(count(a, v)) : o;
        case "--max-queued-rows" -> o = count(a, v) > 0 ? o.withMaxQueuedRows(count(a, v)) : o;
        case "--max-message-bytes" ->
            o = count(a, v) > 0 ? o.withMaxInboundMessageBytes(count(a, v)) : o;
        case "--stream-buffer-bytes" -> perStream = parseLong(a, need(a, v), 1);
        case "--total-stream-buffer-bytes" -> total = parseLong(a, need(a, v), 1);
        case "--stream-stall-timeout-ms" ->
            o = o.withStreamStallTimeout(Duration.ofMillis(parseLong(a, need(a, v), 1)));
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
    if (port != null && port > 65535) {
      throw new IllegalArgumentException("--port must be 0..65535, got " + port);
    }
    long t = total != null ? total : Math.max(perStream, o.totalStreamBufferBytes());
    if (t < perStream) {
      throw new IllegalArgumentException("--total-stream-buffer-bytes (" + t + ") must be at least"
          + " --stream-buffer-bytes (" + perStream + ")");
    }
    o = o.withStreamBufferBytes(perStream, t);
    return new Args(bundleDir, socket, host == null ? "127.0.0.1" : host,
        port == null ? 0 : port, parentPid, o);
  }

  /** The value of a count flag (0 keeps the default); a negative one is refused. */
  private static int count(String flag, String value) {
    long n = parseLong(flag, need(flag, value), 0);
    if (n > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(flag + " must be at most " + Integer.MAX_VALUE);
    }
    return (int) n;
  }

  private static String need(String flag, String value) {
    if (value == null || value.startsWith("--")) {
      throw new IllegalArgumentException(flag + " needs a value");
    }
    return value;
  }

  private static long parseLong(String flag, String value, long min) {
    long n;
    try {
      n = Long.parseLong(value);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(flag + " needs a number, got '" + value + "'");
    }
    if (n < min) {
      throw new IllegalArgumentException(flag + " must be >= " + min + ", got " + n);
    }
    return n;
  }
}
