package dev.sidecar.spark.internal;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.bundle.files.PrivateFiles;
import dev.sidecar.server.SidecarMain;
import dev.sidecar.spark.RunOptions;
import dev.sidecar.spark.SidecarSparkException;
import dev.sidecar.wire.ReadyLine;
import dev.sidecar.wire.SidecarChannels;
import io.grpc.ManagedChannel;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A sidecar in its own JVM: {@code java <opts> -cp <cp> dev.sidecar.server.SidecarMain
 * --bundle-dir D --bundle-digest sha256:HEX --socket S --parent-pid P}, ready once it prints
 * its {@link ReadyLine}.
 * Its stderr goes to a 0600 log file in the {@linkplain SidecarCache cache} whose tail every
 * failure message quotes. Listens on a 0600 Unix socket in its 0700 scratch directory (see
 * {@link SidecarScratch#socket}), or on loopback TCP where Netty's epoll transport is unavailable
 * (said once per JVM in a warning with Netty's reason: {@link #unixSocketsAvailable()}).
 * Started by the {@link ConnectorRuntime}, which numbers it and owns its scratch directory and
 * class path. Public only for {@link dev.sidecar.spark.tools.SidecarLaunch}, which the benchmarks time.
 */
public final class SidecarProcess implements SidecarHandle {
  private static final Logger LOG = LoggerFactory.getLogger(SidecarProcess.class);
  private static final int TAIL_LINES = 30;

  private final Process process;
  private final String target;
  private final Path log;
  private final Path socket;
  /** Done once the process has exited and its scratch directory is deleted. */
  private final CompletableFuture<Void> scratchGone;
  private final ManagedChannel channel;
  private volatile boolean closed;

  private SidecarProcess(Process process, String target, Path log, Path socket,
      CompletableFuture<Void> scratchGone) {
    this.process = process;
    this.target = target;
    this.log = log;
    this.socket = socket;
    this.scratchGone = scratchGone;
    this.channel = SidecarChannels.forTarget(target);
  }

  /**
   * Starts a sidecar for an unpacked bundle, as an executor does, and waits for its ready line.
   * It is not one of the registry's: the caller closes it.
   */
  public static SidecarProcess start(Bundle bundle, RunOptions options) {
    return ConnectorRuntime.get().startProcess(bundle, options);
  }

  /**
   * Starts sidecar {@code n} of this JVM for an unpacked bundle and waits for its ready line. Its
   * scratch directory comes from {@code scratches}, which deletes it when the process exits.
   */
  static SidecarProcess start(Bundle bundle, RunOptions options, int n,
      SidecarScratch scratches, SidecarClassPath classPath) {
    long self = ProcessHandle.current().pid();
    String shortDigest = BundleFiles.shortDigest(bundle.digest());
    Path log = newLog("sidecar-" + shortDigest + "-" + self + "-" + n + ".log");
    Path scratch = scratches.create(self, n);
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(options.sidecarJvmOptions());
    cmd.add("-Djava.io.tmpdir=" + scratch);
    Path ortNative = scratches.onnxRuntimeNativeDir();
    if (ortNative != null) {
      cmd.add("-Donnxruntime.native.path=" + ortNative);
    }
    cmd.add("-cp");
    try {
      cmd.add(SidecarClassPath.loggingDir(scratch) + File.pathSeparator + classPath.get());
    } catch (IOException e) {
      scratches.release(List.of(scratch));
      throw new UncheckedIOException("cannot write the sidecar's logging set-up in " + scratch, e);
    }
    cmd.add(SidecarMain.class.getName());
    cmd.add("--bundle-dir");
    cmd.add(bundle.root().toString());
    // Verified as it was unpacked: the sidecar trusts the cache entry's marker for this digest.
    cmd.add("--bundle-digest");
    cmd.add(bundle.digest());
    Path socket = null;
    if (unixSocketsAvailable()) {
      try {
        socket = scratches.socket(scratch);
      } catch (IOException e) {
        scratches.release(List.of(scratch));
        throw new UncheckedIOException("cannot create a private directory for the sidecar's"
            + " socket", e);
      }
      cmd.add("--socket");
      cmd.add(socket.toString());
    } else {
      cmd.add("--host");
      cmd.add("127.0.0.1");
      cmd.add("--port");
      cmd.add("0");
    }
    cmd.add("--parent-pid");
    cmd.add(Long.toString(self));
    cmd.addAll(ExecutorSlots.serverOptions(options).toArgs());
    // The sidecar's own files: its scratch directory and the socket's, if that is elsewhere.
    List<Path> owned = socket == null || socket.startsWith(scratch) ? List.of(scratch)
        : List.of(scratch, socket.getParent());
    Process process;
    try {
      process = new ProcessBuilder(cmd)
          .redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()))
          .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
          .start();
    } catch (IOException e) {
      scratches.release(owned);
      throw new SidecarSparkException("cannot launch the sidecar for bundle " + bundle.tag()
          + " (" + String.join(" ", cmd.subList(0, 1)) + "): " + e.getMessage());
    }
    // Whatever ends the sidecar (close, a crash, a kill), its scratch files go with it.
    CompletableFuture<Void> scratchGone =
        process.onExit().thenRun(() -> scratches.release(owned));
    CompletableFuture<String> ready = new CompletableFuture<>();
    Thread reader = new Thread(() -> readStdout(process, log, ready),
        "sidecar-stdout-" + process.pid());
    reader.setDaemon(true);
    reader.start();
    String target;
    try {
      target = ready.get(options.startTimeout().toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      process.destroyForcibly();
      throw new SidecarSparkException("the sidecar for bundle " + bundle.tag() + " (pid "
          + process.pid() + ") did not become ready within " + options.startTimeout()
          + "; " + describeExit(process, log));
    } catch (ExecutionException e) {
      throw new SidecarSparkException("the sidecar for bundle " + bundle.tag() + " (pid "
          + process.pid() + ") failed to start: " + e.getCause().getMessage() + "; "
          + describeExit(process, log));
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new SidecarSparkException("interrupted while starting the sidecar for bundle "
          + bundle.tag());
    }
    if (socket != null) {
      try {
        // Bound with the sidecar's umask; only this user may connect (its directory is 0700 too).
        PrivateFiles.restrict(socket, false);
      } catch (IOException e) {
        LOG.warn("cannot make {} 0600 (its directory is 0700): {}", socket, e.toString());
      }
    }
    LOG.info("sidecar for {} started: pid {} at {} (log {})", bundle.tag(), process.pid(), target, log);
    return new SidecarProcess(process, target, log, socket, scratchGone);
  }

  /** A new, empty 0600 log file {@code name} in the cache's {@code logs} directory. */
  private static Path newLog(String name) {
    try {
      Path log = SidecarCache.dir("logs").resolve(name);
      Files.deleteIfExists(log);
      Files.createFile(log, PrivateFiles.fileAttribute());
      PrivateFiles.restrict(log, false);
      return log;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create the sidecar's log file " + name + ": "
          + e.getMessage(), e);
    }
  }

  /** Forwards stdout to the log, completing {@code ready} with the target of the ready line. */
  private static void readStdout(Process process, Path log, CompletableFuture<String> ready) {
    try (BufferedReader in = new BufferedReader(
        new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = in.readLine()) != null) {
        Optional<String> target = ready.isDone() ? Optional.empty() : ReadyLine.target(line);
        if (target.isPresent()) {
          ready.complete(target.get());
        } else {
          appendToLog(log, "[stdout] " + line);
        }
      }
    } catch (IOException e) {
      // The process went away; the EOF handling below reports it.
    }
    ready.completeExceptionally(new IllegalStateException("it closed its stdout before printing '"
        + ReadyLine.describe() + "'"));
  }

  private static void appendToLog(Path log, String line) {
    try (Writer w = Files.newBufferedWriter(log, StandardCharsets.UTF_8,
        StandardOpenOption.CREATE, StandardOpenOption.APPEND)) {
      w.write(line);
      w.write('\n');
    } catch (IOException e) {
      LOG.debug("cannot append to {}", log, e);
    }
  }

  private static String describeExit(Process process, Path log) {
    try {
      process.waitFor(3, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    String state = process.isAlive() ? "still running" : "exit code " + process.exitValue();
    return state + "; log " + log + "; last stderr lines:\n" + tail(log);
  }

  /** The last lines of the log (at most 8 KB), or a note that it is empty. */
  static String tail(Path log) {
    try (RandomAccessFile f = new RandomAccessFile(log.toFile(), "r")) {
      long len = f.length();
      long from = Math.max(0, len - 8192);
      byte[] bytes = new byte[(int) (len - from)];
      f.seek(from);
      f.readFully(bytes);
      String text = new String(bytes, StandardCharsets.UTF_8);
      String[] lines = text.split("\n");
      int start = Math.max(from > 0 ? 1 : 0, lines.length - TAIL_LINES);
      StringBuilder s = new StringBuilder();
      for (int i = start; i < lines.length; i++) {
        if (!lines[i].isBlank()) {
          s.append("  | ").append(lines[i]).append('\n');
        }
      }
      return s.length() == 0 ? "  (stderr was empty)" : s.toString();
    } catch (IOException e) {
      return "  (no stderr log: " + e.getMessage() + ")";
    }
  }

  /**
   * Whether sidecars serve on a Unix socket: when Netty's native epoll transport loads in this
   * JVM (the client needs it as much as the server). Decided once per JVM; when it does not load,
   * a warning says why (Netty's reason, e.g. no native library for this platform, or two different
   * copies of it on the class path) and that sidecars serve on loopback TCP instead.
   */
  static boolean unixSocketsAvailable() {
    return UnixSockets.AVAILABLE;
  }

  /** Holder: checked and, if unavailable, logged on first use. */
  private static final class UnixSockets {
    static final boolean AVAILABLE = check();

    private static boolean check() {
      String why = SidecarChannels.epollUnavailableReason();
      if (why == null) {
        return true;
      }
      LOG.warn("sidecars serve on loopback TCP (127.0.0.1), not on a private Unix socket:"
          + " Netty's native epoll transport is unavailable in this JVM: {}", why);
      return false;
    }
  }

  @Override
  public ManagedChannel channel() {
    return channel;
  }

  @Override
  public String target() {
    return target;
  }

  @Override
  public long pid() {
    return process.pid();
  }

  @Override
  public boolean isAlive() {
    return !closed && process.isAlive();
  }

  Path log() {
    return log;
  }

  @Override
  public String diagnostics() {
    return "sidecar pid " + process.pid() + " at " + target + ", " + describeExit(process, log);
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    channel.shutdownNow();
    process.destroy();
    try {
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        LOG.warn("sidecar pid {} did not stop within 10 s of SIGTERM; killing it", process.pid());
        process.destroyForcibly();
        process.waitFor(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
    try {
      if (socket != null) {
        Files.deleteIfExists(socket);
      }
    } catch (IOException e) {
      LOG.debug("cannot delete {}", socket, e);
    }
    try {
      // The exit hook deletes the scratch directory; close returns once it has.
      scratchGone.get(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException | TimeoutException e) {
      LOG.debug("scratch directory of sidecar pid {} not confirmed deleted", process.pid(), e);
    }
    if (!process.isAlive() && process.exitValue() == 0) {
      // A clean stop: the log holds nothing anyone will ask for.
      try {
        Files.deleteIfExists(log);
      } catch (IOException e) {
        LOG.debug("cannot delete {}", log, e);
      }
    }
    LOG.info("sidecar pid {} stopped", process.pid());
  }
}
