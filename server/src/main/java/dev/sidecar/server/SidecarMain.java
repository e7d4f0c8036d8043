package dev.sidecar.server;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.server.internal.StderrLoggerProvider;
import dev.sidecar.wire.ReadyLine;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sidecar process the Spark connector launches beside each executor:
 *
 * <pre>
 * java -cp CLASSPATH dev.sidecar.server.SidecarMain --bundle-dir DIR [--bundle-digest D]
 *     (--socket PATH | --host 127.0.0.1 --port 0) [--parent-pid PID] [--intra-op-threads N]
 *     [--inter-op-threads N] [--inference-workers N] [--max-queued-rows N]
 *     [--max-message-bytes N] [--stream-window N] [--stream-buffer-bytes N]
 *     [--total-stream-buffer-bytes N] [--stream-stall-timeout-ms N] [--graceful-timeout-ms N]
 * </pre>
 *
 * The tuning flags are {@link ServerOptions#toArgs()}'s; a thread count of 0 means ONNX Runtime's
 * choice, and a flag left out keeps {@link ServerOptions#defaults()}.
 *
 * It opens the unpacked bundle, starts a {@link ModelServer}, prints exactly one
 * line, the {@link ReadyLine} {@code SIDECAR READY <target>}, on stdout and logs to stderr only.
 * It exits by itself when the parent process dies; SIGTERM (or SIGINT) drains accepted work,
 * then exits 0. Bad arguments exit 2; a bundle or bind failure exits 1, with the reason on
 * stderr.
 *
 * <p>The bundle directory is the executor's cache entry, hashed as it was unpacked: it is
 * opened without hashing again while its private verified marker still matches every file
 * ({@link Bundle#openIfVerified}), and otherwise hashed in full ({@link Bundle#open}); either
 * way its digest must be {@code --bundle-digest} when given.
 */
public final class SidecarMain {
  private static final Logger LOG = LoggerFactory.getLogger(SidecarMain.class);

  private SidecarMain() {
  }

  /**
   * The class name of the SLF4J provider a sidecar process logs through: one line per event on
   * stderr, level from {@code -Dsidecar.log.level}. It is registered nowhere, so it never
   * competes with the logging of a JVM that embeds the server; whoever launches the process
   * names it in a {@code META-INF/services/org.slf4j.spi.SLF4JServiceProvider} file on the
   * process's class path (the Spark connector does).
   */
  public static String loggerProvider() {
    return StderrLoggerProvider.class.getName();
  }

  /** Parsed command line. */
  record Args(Path bundleDir, String bundleDigest, Path socket, String host, int port,
      long parentPid, ServerOptions options) {
  }

  private static final String USAGE = "usage: SidecarMain --bundle-dir DIR [--bundle-digest"
      + " sha256:HEX] (--socket PATH | --host"
      + " 127.0.0.1 --port 0) [--parent-pid PID] [--intra-op-threads N (0 = ONNX Runtime's"
      + " choice)] [--inter-op-threads N] [--inference-workers N] [--max-queued-rows N]"
      + " [--max-message-bytes N] [--stream-window N] [--stream-buffer-bytes N]"
      + " [--total-stream-buffer-bytes N] [--stream-stall-timeout-ms N] [--graceful-timeout-ms N]";

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
      Bundle bundle = openBundle(args.bundleDir(), args.bundleDigest());
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
    stdout.println(ReadyLine.of(server.target()));
    stdout.flush();
    try {
      server.blockUntilShutdown();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** The bundle, from its verified marker when that still matches, else hashed in full. */
  static Bundle openBundle(Path dir, String digest) {
    Bundle b = Bundle.openIfVerified(dir, digest);
    if (b != null) {
      LOG.info("bundle {} ({}) at {}: its verified marker matches every file; not hashed again",
          b.tag(), b.digest(), b.root());
      return b;
    }
    long t0 = System.nanoTime();
    b = Bundle.open(dir, digest);
    LOG.info("bundle {} ({}) at {}: no matching verified marker; hashed every file in {} ms",
        b.tag(), b.digest(), b.root(), (System.nanoTime() - t0) / 1_000_000);
    return b;
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

  /** Reads the command line: the launch flags here, the tuning flags by {@link ServerOptions}. */
  static Args parse(String[] argv) {
    Path[] bundleDir = {null};
    String[] bundleDigest = {null};
    Path[] socket = {null};
    String[] host = {null};
    Integer[] port = {null};
    long[] parentPid = {-1};
    ServerOptions o = ServerOptions.parseArgs(List.of(argv), (a, v) -> {
      switch (a) {
        case "--bundle-dir" -> bundleDir[0] = Path.of(v);
        case "--bundle-digest" -> bundleDigest[0] = v;
        case "--socket" -> socket[0] = Path.of(v);
        case "--host" -> host[0] = v;
        case "--port" -> port[0] = (int) Math.min(Integer.MAX_VALUE, parseLong(a, v, 0));
        case "--parent-pid" -> parentPid[0] = parseLong(a, v, Long.MIN_VALUE);
        default -> throw new IllegalArgumentException("unknown argument '" + a + "'");
      }
    });
    return check(bundleDir[0], bundleDigest[0], socket[0], host[0], port[0], parentPid[0], o);
  }

  private static Args check(Path bundleDir, String bundleDigest, Path socket, String host,
      Integer port, long parentPid, ServerOptions o) {
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
    if (bundleDigest != null && !bundleDigest.matches("sha256:[0-9a-f]{64}")) {
      throw new IllegalArgumentException("--bundle-digest needs sha256:<64 lower-case hex>, got '"
          + bundleDigest + "'");
    }
    return new Args(bundleDir, bundleDigest, socket, host == null ? "127.0.0.1" : host,
        port == null ? 0 : port, parentPid, o);
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
