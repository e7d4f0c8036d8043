package dev.sidecar.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.bundle.BundleArchive;
import dev.sidecar.bundle.BundleBuilder;
import dev.sidecar.proto.stats.ApiStats;
import dev.sidecar.proto.stats.SidecarStatsServiceGrpc;
import dev.sidecar.proto.stats.StatsRequest;
import dev.sidecar.server.SidecarMain;
import dev.sidecar.wire.SidecarChannels;
import io.grpc.ManagedChannel;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code sidecar run} survives its sidecar being killed: with the default master a task whose
 * sidecar died (kill -9 in the middle of the job) is retried on a fresh sidecar, and the output
 * equals a clean run's, every row exactly once. The command runs in this JVM, its sidecar is a
 * separate process: the test freezes that process once it has answered some rows (SIGSTOP),
 * checks that rows are still unscored, so the job cannot end without it, then kills it. The test
 * sees the sidecar as anyone on the machine can: a child process running {@link SidecarMain} for
 * the bundle, whose log (its stderr) says where it serves, and which answers the Stats call.
 */
class RunRetryIT {
  static final int ROWS = 300_000;
  /** The server's log line saying where it serves (ModelServer's). */
  private static final Pattern SERVING = Pattern.compile(": serving \\S+ on (\\S+)$");

  @TempDir
  Path tmp;

  @Test
  @Timeout(value = 8, unit = TimeUnit.MINUTES)
  void killingTheSidecarMidJobGivesTheSameOutputAsACleanRun() throws Exception {
    Path archive = tmp.resolve("iris.bundle");
    BundleBuilder.fromSpec(Launcher.IRIS_YAML).build(archive);
    String digestHex = BundleArchive.inspect(archive).digest().substring("sha256:".length());
    Path input = numberedIris(tmp.resolve("input.csv"));

    Path clean = tmp.resolve("clean");
    BundleCliTest.Run first = BundleCliTest.run(args(archive, input, clean));
    assertEquals(0, first.code(), first.err());
    // The first run's sidecar stays up for the next run of the same bundle and settings: what it
    // has answered so far is not the second run's.
    Map<Long, ManagedChannel> channels = new HashMap<>();
    Map<Long, Long> before = new HashMap<>();
    try {
      for (Map.Entry<Long, String> s : sidecars(digestHex).entrySet()) {
        assertServesOnAUnixSocket(s.getValue());
        before.put(s.getKey(), rowsAnswered(channel(channels, s.getKey(), s.getValue())));
      }
      assertTrue(!before.isEmpty(), "the first run left no serving sidecar of the bundle");
      Path crashed = tmp.resolve("crashed");
      CompletableFuture<BundleCliTest.Run> run = CompletableFuture.supplyAsync(
          () -> BundleCliTest.run(args(archive, input, crashed)));

      // Wait until a sidecar has answered some rows of this run, then freeze it.
      long pid = -1;
      long scored = 0;
      while (pid < 0) {
        assertTrue(!run.isDone(), () -> "the run ended before its sidecar was killed: "
            + run.join().err());
        for (Map.Entry<Long, String> s : sidecars(digestHex).entrySet()) {
          long mine = rowsAnswered(channel(channels, s.getKey(), s.getValue()))
              - before.getOrDefault(s.getKey(), 0L);
          if (mine > 0) {
            pid = s.getKey();
            scored = mine;
            break;
          }
        }
        if (pid < 0) {
          Thread.sleep(5);
        }
      }
      signal("STOP", pid);
      killAndCompare(run, pid, scored, clean, crashed, digestHex, before.keySet());
    } finally {
      channels.values().forEach(ManagedChannel::shutdownNow);
    }
  }

  /**
   * On Linux x86_64/aarch64 a sidecar started by the CLI serves on a Unix socket: this JVM has
   * Netty's epoll library, as the packaged CLI does (a class path with two different copies of it,
   * as hadoop-client-minicluster brought, made every sidecar here fall back to TCP).
   */
  private static void assertServesOnAUnixSocket(String target) {
    if (Launcher.unixSocketPlatform()) {
      assertTrue(target.startsWith("unix:///"), () -> "the sidecar serves on " + target
          + ", not on a Unix socket; epoll here: " + io.netty.channel.epoll.Epoll.isAvailable()
          + ", " + io.netty.channel.epoll.Epoll.unavailabilityCause());
    }
  }

  /** Kills the frozen sidecar {@code pid} and compares the run's output with the clean one's. */
  private void killAndCompare(CompletableFuture<BundleCliTest.Run> run, long pid, long scored,
      Path clean, Path crashed, String digestHex, Set<Long> before) throws Exception {
    assertTrue(scored < ROWS, "all rows were scored before the sidecar was frozen (" + scored
        + "); the kill would not test a retry");
    ProcessHandle sidecar = ProcessHandle.of(pid).orElseThrow();
    sidecar.destroyForcibly(); // SIGKILL
    sidecar.onExit().get(60, TimeUnit.SECONDS);

    BundleCliTest.Run second = run.get(5, TimeUnit.MINUTES);
    assertEquals(0, second.code(), second.err());
    assertTrue(second.err().contains("task attempt(s) failed and were retried"), second.err());
    Map<Long, String> now = sidecars(digestHex);
    Set<Long> after = new TreeSet<>(now.keySet());
    after.removeAll(before);
    after.remove(pid);
    assertTrue(!after.isEmpty(), "a fresh sidecar was started: " + now);
    after.forEach(p -> assertServesOnAUnixSocket(now.get(p)));

    List<String> want = sortedRows(clean);
    assertEquals(ROWS, want.size());
    Set<String> ids = new HashSet<>();
    for (String row : want) {
      ids.add(row.substring(0, row.indexOf(',')));
    }
    assertEquals(ROWS, ids.size(), "every row exactly once");
    List<String> got = sortedRows(crashed);
    assertEquals(want.size(), got.size());
    assertTrue(want.equals(got), "the output after the crash differs from the clean run's");
  }

  /**
   * This JVM's serving sidecar processes for the bundle of {@code digestHex} (its unpacked copy is
   * named by the digest), by pid, with the target each serves on (a Unix socket, or loopback TCP
   * where the connector finds no epoll). All from {@code /proc}: the command line (the JDK leaves
   * out the arguments of one as long as a sidecar's class path), and the server's
   * {@code serving ... on TARGET} line in the log its stderr is written to.
   */
  private static Map<Long, String> sidecars(String digestHex) {
    Map<Long, String> out = new TreeMap<>();
    ProcessHandle.current().descendants().filter(ProcessHandle::isAlive).forEach(p -> {
      List<String> argv = commandLine(p.pid());
      int main = argv.indexOf(SidecarMain.class.getName());
      int dir = argv.indexOf("--bundle-dir");
      if (main >= 0 && dir > main && argv.get(dir + 1).contains(digestHex)) {
        String target = servingOn(p.pid());
        if (target != null) {
          out.put(p.pid(), target);
        }
      }
    });
    return out;
  }

  /** The target of the server's {@code serving ... on TARGET} log line; null before it. */
  private static String servingOn(long pid) {
    try {
      Path log = Files.readSymbolicLink(Path.of("/proc", Long.toString(pid), "fd", "2"));
      String target = null;
      for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
        Matcher m = SERVING.matcher(line);
        if (m.find()) {
          target = m.group(1);
        }
      }
      return target;
    } catch (IOException e) {
      return null; // exited meanwhile
    }
  }

  private static List<String> commandLine(long pid) {
    try {
      String raw = new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")),
          StandardCharsets.UTF_8);
      return List.of(raw.split("\0"));
    } catch (IOException e) {
      return List.of(); // exited meanwhile
    }
  }

  /** One channel per sidecar, opened once: the test polls without delaying its answers. */
  private static ManagedChannel channel(Map<Long, ManagedChannel> channels, long pid,
      String target) {
    return channels.computeIfAbsent(pid, p -> SidecarChannels.forTarget(target));
  }

  /** Rows the sidecar has answered, from its Stats call. */
  private static long rowsAnswered(ManagedChannel ch) {
    return SidecarStatsServiceGrpc.newBlockingStub(ch).withDeadlineAfter(30, TimeUnit.SECONDS)
        .stats(StatsRequest.getDefaultInstance()).getApisList().stream()
        .mapToLong(ApiStats::getRows).sum();
  }

  private static String[] args(Path archive, Path input, Path out) {
    // The default master and sidecar mode are what is tested: neither is given.
    return new String[] {"run", archive.toString(), "--api", "classify", "--input",
        input.toString(), "--output", out.toString(), "--output-format", "csv",
        "--chunk-rows", "1000"};
  }

  /** iris.csv's measurements over and over, each row with its number in an id column. */
  private static Path numberedIris(Path csv) throws Exception {
    List<String> iris = Files.readAllLines(Launcher.IRIS.resolve("iris.csv"));
    try (BufferedWriter w = Files.newBufferedWriter(csv)) {
      w.write("id," + iris.get(0) + "\n");
      for (int i = 0; i < ROWS; i++) {
        w.write(i + "," + iris.get(1 + i % (iris.size() - 1)) + "\n");
      }
    }
    return csv;
  }

  private static List<String> sortedRows(Path out) throws Exception {
    List<String> rows = new ArrayList<>();
    try (var parts = Files.list(out)) {
      for (Path part : parts.filter(f -> f.getFileName().toString().endsWith(".csv")).toList()) {
        List<String> l = Files.readAllLines(part);
        rows.addAll(l.subList(1, l.size()));
      }
    }
    rows.sort(null);
    return rows;
  }

  private static void signal(String name, long pid) throws Exception {
    Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(pid)).inheritIO().start();
    assertTrue(kill.waitFor(30, TimeUnit.SECONDS), "kill -" + name + " did not finish");
    assertEquals(0, kill.exitValue(), "kill -" + name + " " + pid);
  }
}
