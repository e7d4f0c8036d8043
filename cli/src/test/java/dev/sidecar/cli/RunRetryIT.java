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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
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
 * the bundle, whose Unix socket is on its command line and answers the Stats call.
 */
class RunRetryIT {
  static final int ROWS = 300_000;

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
    // The first run's sidecar stays up for the next run of the same bundle and settings.
    Set<Long> before = sidecars(digestHex).keySet();

    Path crashed = tmp.resolve("crashed");
    CompletableFuture<BundleCliTest.Run> run = CompletableFuture.supplyAsync(
        () -> BundleCliTest.run(args(archive, input, crashed)));

    // Wait until a sidecar has answered some rows of this run, then freeze it.
    long pid = -1;
    long scored = 0;
    while (pid < 0) {
      assertTrue(!run.isDone(), () -> "the run ended before its sidecar was killed: "
          + run.join().err());
      for (Map.Entry<Long, Path> s : sidecars(digestHex).entrySet()) {
        long rows = rowsAnswered(s.getValue());
        // A sidecar of the first run has answered its ROWS already.
        long mine = rows - (before.contains(s.getKey()) ? ROWS : 0);
        if (mine > 0) {
          pid = s.getKey();
          scored = mine;
          break;
        }
      }
      if (pid < 0) {
        Thread.sleep(10);
      }
    }
    signal("STOP", pid);
    assertTrue(scored < ROWS, "all rows were scored before the sidecar was frozen (" + scored
        + "); the kill would not test a retry");
    ProcessHandle sidecar = ProcessHandle.of(pid).orElseThrow();
    sidecar.destroyForcibly(); // SIGKILL
    sidecar.onExit().get(60, TimeUnit.SECONDS);

    BundleCliTest.Run second = run.get(5, TimeUnit.MINUTES);
    assertEquals(0, second.code(), second.err());
    assertTrue(second.err().contains("task attempt(s) failed and were retried"), second.err());
    Set<Long> after = new TreeSet<>(sidecars(digestHex).keySet());
    after.removeAll(before);
    assertTrue(!after.isEmpty(), "a fresh sidecar was started: " + sidecars(digestHex));

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
   * This JVM's live sidecar processes for the bundle of {@code digestHex} (its unpacked copy is
   * named by the digest), by pid, with the Unix socket each listens on.
   */
  private static Map<Long, Path> sidecars(String digestHex) {
    Map<Long, Path> out = new TreeMap<>();
    ProcessHandle.current().descendants().filter(ProcessHandle::isAlive).forEach(p -> {
      List<String> argv = List.of(p.info().arguments().orElse(new String[0]));
      int main = argv.indexOf(SidecarMain.class.getName());
      int dir = argv.indexOf("--bundle-dir");
      int socket = argv.indexOf("--socket");
      if (main >= 0 && dir > main && argv.get(dir + 1).contains(digestHex)) {
        assertTrue(socket > main, "the sidecar " + p.pid() + " listens on no Unix socket: "
            + argv.subList(main, argv.size()));
        out.put(p.pid(), Path.of(argv.get(socket + 1)));
      }
    });
    return out;
  }

  /** Rows the sidecar listening on {@code socket} has answered, from its Stats call. */
  private static long rowsAnswered(Path socket) {
    ManagedChannel ch = SidecarChannels.forTarget("unix://" + socket);
    try {
      return SidecarStatsServiceGrpc.newBlockingStub(ch).withDeadlineAfter(30, TimeUnit.SECONDS)
          .stats(StatsRequest.getDefaultInstance()).getApisList().stream()
          .mapToLong(ApiStats::getRows).sum();
    } finally {
      ch.shutdownNow();
    }
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
