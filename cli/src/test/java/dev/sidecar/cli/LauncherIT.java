package dev.sidecar.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
 * inspect --json shows both iris APIs, export then import into a fresh home keeps the digest.
 */
class LauncherIT {
  static final Path LAUNCHER = Path.of("..", "bin", "sidecar").toAbsolutePath().normalize();
  static final Path IRIS_YAML = Path.of("..", "examples", "iris", "bundle.yaml")
      .toAbsolutePath().normalize();

  @TempDir
  Path tmp;

  record Result(int code, String out, String err) {
  }

  private Result sidecar(Path home, String... args) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(LAUNCHER.toString());
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().put("SIDECAR_HOME", home.toString());
    pb.environment().put("SIDECAR_JAVA_OPTS", "-Xmx256m");
    pb.redirectOutput(tmp.resolve("out.txt").toFile());
    pb.redirectError(tmp.resolve("err.txt").toFile());
    Process p = pb.start();
    if (!p.waitFor(120, TimeUnit.SECONDS)) {
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
}
