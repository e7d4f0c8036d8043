package dev.sidecar.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sidecar.cli.Launcher.Result;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged CLI through bin/sidecar, as a user runs it: $SIDECAR_HOME honoured, build then
 * inspect --json shows both iris APIs, export then import into a fresh home keeps the digest;
 * and the README's main job (build the iris bundle, then {@code sidecar run} it over iris.csv
 * with the default process sidecar) gives the expected predictions, twice in a row, its sidecar
 * serving on a Unix socket on Linux (x86_64, aarch64).
 */
class LauncherIT {
  static final Path IRIS = Launcher.IRIS;
  static final Path IRIS_YAML = Launcher.IRIS_YAML;
  /** The connector's line once a sidecar has said where it serves (SidecarProcess.start). */
  private static final Pattern STARTED =
      Pattern.compile("SidecarProcess: sidecar for \\S+ started: pid \\d+ at (\\S+) \\(log ");

  @TempDir
  Path tmp;
  /** Files of the test's own, not the CLI's (tmp must hold only what the runs leave). */
  @TempDir
  Path conf;

  private Result sidecar(Path home, String... args) throws Exception {
    return sidecarWith("-Xmx256m", home, args);
  }

  private Result sidecarWith(String javaOpts, Path home, String... args) throws Exception {
    return Launcher.run(tmp, home, javaOpts, args);
  }

  @Test
  void buildInspectExportImportThroughTheLauncher() throws Exception {
    Path a = tmp.resolve("home-a");
    Path b = tmp.resolve("home-b");
    Result built = sidecar(a, "bundle", "build", IRIS_YAML.toString());
    assertEquals(0, built.code(), built.err());
    assertTrue(built.out().contains("into " + a), built.out());

    Result inspect = sidecar(a, "bundle", "inspect", "iris_classifier:latest", "--json");
    assertEquals(0, inspect.code(), inspect.err());
    JsonNode j = new ObjectMapper().readTree(inspect.out());
    assertEquals("classify", j.get("apis").get(0).get("name").asText());
    assertEquals("classify_tensor", j.get("apis").get(1).get("name").asText());
    String digest = j.get("digest").asText();

    Path file = tmp.resolve("iris.bundle");
    assertEquals(0, sidecar(a, "bundle", "export", "iris_classifier", file.toString()).code());
    Result imported = sidecar(b, "bundle", "import", file.toString());
    assertEquals(0, imported.code(), imported.err());
    Result again = sidecar(b, "bundle", "inspect", "iris_classifier", "--json");
    assertEquals(digest, new ObjectMapper().readTree(again.out()).get("digest").asText());

    Result missing = sidecar(b, "bundle", "inspect", "nope");
    assertEquals(1, missing.code());
    assertEquals(1, missing.err().lines().count(), missing.err());
    assertTrue(missing.err().startsWith("sidecar: no bundle named 'nope' in the store at " + b),
        missing.err());
  }

  /**
   * The README's main job, as written there: {@code bundle build examples/iris/bundle.yaml}, then
   * {@code run iris_classifier:1.0.0 ... --output-format csv --overwrite}; the run's result.
   */
  private Result readmesMainJob(Path home, Path out) throws Exception {
    return readmesMainJob(home, out, "");
  }

  private Result readmesMainJob(Path home, Path out, String javaOpts) throws Exception {
    Result built = sidecar(home, "bundle", "build", IRIS_YAML.toString());
    assertEquals(0, built.code(), "bundle build: " + built.err());
    return sidecarWith(("-Xmx1g " + javaOpts).trim(), home, "run", "iris_classifier:1.0.0",
        "--api", "classify", "--input", IRIS.resolve("iris.csv").toString(), "--output",
        out.toString(), "--output-format", "csv", "--overwrite");
  }

  /**
   * The CLI's own logging set-up (cli/src/main/resources/log4j2.properties) with the connector at
   * INFO: its SidecarProcess logs the target each sidecar announced it serves on.
   */
  private Path loggingWithSidecarStarts() throws Exception {
    Path cliConfig = Path.of("src", "main", "resources", "log4j2.properties");
    Path config = conf.resolve("log4j2.properties");
    Files.writeString(config, Files.readString(cliConfig)
        + "\nlogger.connector.name = dev.sidecar.spark"
        + "\nlogger.connector.level = info\n");
    return config;
  }

  /** The data lines of the CSV part files in {@code out}, in part order. */
  private static List<String> scoredLines(Path out) throws Exception {
    List<String> lines = new ArrayList<>();
    try (var parts = Files.list(out)) {
      for (Path part : parts.filter(f -> f.getFileName().toString().endsWith(".csv")).sorted()
          .toList()) {
        List<String> l = Files.readAllLines(part);
        lines.addAll(l.subList(1, l.size()));
      }
    }
    return lines;
  }

  /**
   * The README's main job gives the expected predictions through a sidecar process, and its
   * commands can be run again in the same home: building the same bundle twice is a no-op and
   * the second run writes the same output, leaving nothing else behind. (One test: each run
   * starts a JVM, Spark and a sidecar, so the first run's output is checked here rather than
   * in a run of its own.)
   */
  @Test
  void theReadmesMainJobScoresIrisThroughASidecarProcessTwiceInARow() throws Exception {
    Path home = tmp.resolve("home");
    Path out = tmp.resolve("iris-scored");
    Result first = readmesMainJob(home, out);
    assertEquals(0, first.code(), first.err());
    assertTrue(first.err().contains("scored 150 rows in"), first.err());
    assertEquals(out.toString(), first.out().strip());
    assertFalse(first.err().contains(" INFO "), "Spark's INFO logs reach the user:\n"
        + first.err());

    // Spark keeps the partition order of the single input file: rows come out in input order.
    List<String> lines = scoredLines(out);
    List<String> expected = Files.readAllLines(IRIS.resolve("expected_predictions.csv"));
    String[] species = {"setosa", "versicolor", "virginica"};
    assertEquals(150, lines.size());
    for (int i = 0; i < 150; i++) {
      String[] want = expected.get(i + 1).split(",");
      String[] got = lines.get(i).split(",", 7);
      assertEquals(species[Integer.parseInt(want[0])], got[5], "row " + (i + 1) + " label");
      float p0 = Float.parseFloat(got[6].replace("\"", "").replace("[", "").split(",")[0]);
      assertEquals(Float.parseFloat(want[1]), p0, 1e-5, "row " + (i + 1) + " p_setosa");
    }

    // The second run logs where its sidecar serves: a Unix socket, as the packaged CLI carries
    // Netty's epoll library for this platform (on its class path and its sidecar's), not TCP.
    Result second = readmesMainJob(home, out,
        "-Dlog4j2.configurationFile=" + loggingWithSidecarStarts());
    assertEquals(0, second.code(), second.err());
    assertEquals(lines, scoredLines(out));
    List<String> targets = new ArrayList<>();
    for (String line : second.err().split("\n")) {
      Matcher m = STARTED.matcher(line);
      if (m.find()) {
        targets.add(m.group(1));
      }
    }
    assertFalse(targets.isEmpty(), "no sidecar start logged:\n" + second.err());
    if (Launcher.unixSocketPlatform()) {
      for (String target : targets) {
        assertTrue(target.startsWith("unix:///"), "the packaged CLI's sidecar serves on " + target
            + ", not on a Unix socket:\n" + second.err());
      }
    }
    try (var siblings = Files.list(tmp)) {
      assertEquals(List.of("err.txt", "home", "iris-scored", "out.txt"), siblings
          .map(p -> p.getFileName().toString()).sorted().toList(), "nothing else is left");
    }
  }
}
