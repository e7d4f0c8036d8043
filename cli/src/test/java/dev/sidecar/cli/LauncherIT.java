package dev.sidecar.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged CLI through bin/sidecar, as a user runs it: $SIDECAR_HOME honoured, build then
 * inspect --json shows both iris APIs, export then import into a fresh home keeps the digest;
 * and the README's main job (build the iris bundle, then {@code sidecar run} it over iris.csv
 * with the default process sidecar) gives the expected predictions.
 */
class LauncherIT {
  static final Path LAUNCHER = Path.of("..", "bin", "sidecar").toAbsolutePath().normalize();
  static final Path IRIS = Path.of("..", "examples", "iris").toAbsolutePath().normalize();
  static final Path IRIS_YAML = IRIS.resolve("bundle.yaml");

  @TempDir
  Path tmp;

  record Result(int code, String out, String err) {
  }

  private Result sidecar(Path home, String... args) throws Exception {
    return sidecarWith("-Xmx256m", home, args);
  }

  private Result sidecarWith(String javaOpts, Path home, String... args) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(LAUNCHER.toString());
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().put("SIDECAR_HOME", home.toString());
    pb.environment().put("SIDECAR_JAVA_OPTS", javaOpts);
    pb.redirectOutput(tmp.resolve("out.txt").toFile());
    pb.redirectError(tmp.resolve("err.txt").toFile());
    Process p = pb.start();
    if (!p.waitFor(300, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("sidecar " + String.join(" ", args) + " did not finish");
    }
    return new Result(p.exitValue(),
        Files.readString(tmp.resolve("out.txt"), StandardCharsets.UTF_8),
        Files.readString(tmp.resolve("err.txt"), StandardCharsets.UTF_8));
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

  @Test
  void theReadmesMainJobScoresIrisThroughASidecarProcess() throws Exception {
    Path home = tmp.resolve("home");
    assertEquals(0, sidecar(home, "bundle", "build", IRIS_YAML.toString()).code());
    Path out = tmp.resolve("iris-scored");
    Result run = sidecarWith("-Xmx1g", home, "run", "iris_classifier:1.0.0", "--api", "classify",
        "--input", IRIS.resolve("iris.csv").toString(), "--output", out.toString(),
        "--output-format", "csv", "--overwrite");
    assertEquals(0, run.code(), run.err());
    assertTrue(run.err().contains("scored 150 rows in"), run.err());
    assertEquals(out.toString(), run.out().strip());
    assertFalse(run.err().contains(" INFO "), "Spark's INFO logs reach the user:\n" + run.err());

    // Spark keeps the partition order of the single input file: rows come out in input order.
    List<String> lines = new ArrayList<>();
    try (var parts = Files.list(out)) {
      for (Path part : parts.filter(f -> f.getFileName().toString().endsWith(".csv")).sorted()
          .toList()) {
        List<String> l = Files.readAllLines(part);
        lines.addAll(l.subList(1, l.size()));
      }
    }
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
  }
}
