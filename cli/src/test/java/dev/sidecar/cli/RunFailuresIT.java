package dev.sidecar.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sidecar.bundle.BundleBuilder;
import dev.sidecar.cli.Launcher.Result;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A failing {@code sidecar run}, through bin/sidecar with everything the process prints on
 * stderr: one line naming the problem (Spark's own logs of the failed tasks stay quiet), exit
 * code 1, and no output left behind; {@code --verbose} adds the stack trace and Spark's logs.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class RunFailuresIT {
  @TempDir
  static Path tmp;
  static Path archive;
  static Path nulls;

  @BeforeAll
  static void setUp() throws Exception {
    archive = tmp.resolve("iris.bundle");
    BundleBuilder.fromSpec(Launcher.IRIS_YAML).build(archive);
    List<String> iris = Files.readAllLines(Launcher.IRIS.resolve("iris.csv"));
    nulls = tmp.resolve("nulls.csv");
    Files.write(nulls, List.of(iris.get(0), iris.get(1), "5.1,,1.4,0.2,setosa", iris.get(2)));
  }

  private static Result run(Path dir, String... args) throws Exception {
    Files.createDirectories(dir);
    return Launcher.run(dir, tmp.resolve("home"), "-Xmx1g", args);
  }

  @Test
  void aNullInputPrintsOneLineAndNoOutput() throws Exception {
    Path dir = tmp.resolve("null");
    Path out = dir.resolve("scored");
    Result r = run(dir, "run", archive.toString(), "--api", "classify", "--input",
        nulls.toString(), "--output", out.toString());
    assertEquals(1, r.code(), r.err());
    assertEquals(1, r.err().lines().count(), r.err());
    assertTrue(r.err().startsWith("sidecar: column 'sepal_width' is null"), r.err());
    assertTrue(r.err().contains("--allow-nulls"), r.err());
    assertEquals("", r.out());
    assertFalse(Files.exists(out));
    try (var s = Files.list(dir)) {
      assertEquals(List.of("err.txt", "out.txt"),
          s.map(p -> p.getFileName().toString()).sorted().toList());
    }
  }

  @Test
  void verboseAddsTheStackTraceAndSparksLogs() throws Exception {
    Path dir = tmp.resolve("verbose");
    Result r = run(dir, "run", archive.toString(), "--api", "classify", "--input",
        nulls.toString(), "--output", dir.resolve("scored").toString(), "--verbose");
    assertEquals(1, r.code(), r.err());
    assertTrue(r.err().contains("\tat dev.sidecar."), r.err());
    assertTrue(r.err().contains(" ERROR "), r.err());
    assertTrue(r.err().lines().anyMatch(l -> l.startsWith("sidecar: column 'sepal_width'")),
        r.err());
  }

  @Test
  void anUnwritableOutputPrintsOneLineNamingIt() throws Exception {
    // Even root cannot make a directory in /proc.
    assumeTrue(Files.isDirectory(Path.of("/proc/self")), "needs Linux /proc");
    Result r = run(tmp.resolve("proc"), "run", archive.toString(), "--api", "classify",
        "--input", Launcher.IRIS.resolve("iris.csv").toString(), "--output", "/proc/sidecar-out");
    assertEquals(1, r.code(), r.err());
    assertEquals(1, r.err().lines().count(), r.err());
    assertTrue(r.err().startsWith("sidecar: cannot write the output /proc/sidecar-out: "),
        r.err());
  }
}
