package dev.sidecar.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.bundle.BundleArchive;
import dev.sidecar.bundle.BundleBuilder;
import dev.sidecar.spark.RunOptions;
import dev.sidecar.spark.internal.ScoringStats;
import dev.sidecar.spark.internal.SidecarKey;
import dev.sidecar.spark.internal.SidecarRegistry;
import java.io.BufferedWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
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
 * checks that rows are still unscored, so the job cannot end without it, then kills it.
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
    // The key of the sidecar args() runs: the CLI's options with --chunk-rows 1000.
    SidecarKey key = SidecarKey.of(BundleArchive.inspect(archive).digest(),
        RunOptions.builder().chunkRows(1000).build());
    Path input = numberedIris(tmp.resolve("input.csv"));

    Path clean = tmp.resolve("clean");
    BundleCliTest.Run first = BundleCliTest.run(args(archive, input, clean));
    assertEquals(0, first.code(), first.err());

    Path crashed = tmp.resolve("crashed");
    long base = ScoringStats.rowsScored();
    int startsBefore = SidecarRegistry.get().starts(key);
    CompletableFuture<BundleCliTest.Run> run = CompletableFuture.supplyAsync(
        () -> BundleCliTest.run(args(archive, input, crashed)));

    // Wait until the sidecar has answered some rows of this run, then freeze it.
    long pid = -1;
    while (pid < 0) {
      assertTrue(!run.isDone(), () -> "the run ended before its sidecar was killed: "
          + run.join().err());
      Optional<Long> p = SidecarRegistry.get().pid(key);
      if (p.isPresent() && ScoringStats.rowsScored() > base) {
        pid = p.get();
      } else {
        Thread.sleep(10);
      }
    }
    signal("STOP", pid);
    long scored = ScoringStats.rowsScored() - base;
    assertTrue(scored < ROWS, "all rows were scored before the sidecar was frozen (" + scored
        + "); the kill would not test a retry");
    ProcessHandle sidecar = ProcessHandle.of(pid).orElseThrow();
    sidecar.destroyForcibly(); // SIGKILL
    sidecar.onExit().get(60, TimeUnit.SECONDS);

    BundleCliTest.Run second = run.get(5, TimeUnit.MINUTES);
    assertEquals(0, second.code(), second.err());
    assertTrue(second.err().contains("task attempt(s) failed and were retried"), second.err());
    assertTrue(SidecarRegistry.get().starts(key) > startsBefore, "a fresh sidecar was started");

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
