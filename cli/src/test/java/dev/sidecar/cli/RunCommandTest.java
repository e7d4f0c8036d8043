package dev.sidecar.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sidecar.bundle.BundleArchive;
import dev.sidecar.bundle.BundleBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code sidecar run} on an embedded Spark: iris.csv scored by the iris bundle equals the expected
 * predictions (Parquet output), CSV output carries arrays as JSON text, --allow-nulls gives null
 * outputs, and failures (a schema problem, a null, an unwritable output) are one-line errors
 * with exit code 1 that leave no output behind.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class RunCommandTest {
  static final Path IRIS = Path.of("..", "examples", "iris").toAbsolutePath().normalize();
  static final String[] SPECIES = {"setosa", "versicolor", "virginica"};

  @TempDir
  static Path tmp;
  static Path archive;

  @BeforeAll
  static void build() {
    archive = tmp.resolve("iris.bundle");
    BundleBuilder.fromSpec(IRIS.resolve("bundle.yaml")).build(archive);
  }

  private static BundleCliTest.Run run(String... args) {
    return BundleCliTest.run(args);
  }

  @Test
  void scoresIrisCsvIntoParquetEqualToTheExpectedPredictions() throws Exception {
    Path out = tmp.resolve("scored.parquet");
    BundleCliTest.Run r = run("run", archive.toString(), "--api", "classify",
        "--input", IRIS.resolve("iris.csv").toString(), "--output", out.toString(),
        "--master", "local[2]", "--sidecar-mode", "in-process", "--home", tmp.resolve("h").toString());
    assertEquals(0, r.code(), r.err());
    assertTrue(r.err().contains("scored 150 rows in"), r.err());
    assertTrue(r.err().contains("rows/s"), r.err());

    List<String> expected = Files.readAllLines(IRIS.resolve("expected_predictions.csv"));
    List<String> input = Files.readAllLines(IRIS.resolve("iris.csv"));
    SparkSession spark = SparkSession.builder().master("local[1]").appName("check")
        .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false").getOrCreate();
    try {
      List<Row> rows = new ArrayList<>(spark.read().parquet(out.toString()).collectAsList());
      assertEquals(150, rows.size());
      // Rows are matched to expected predictions by their measurements and species.
      int matched = 0;
      for (int i = 1; i < input.size(); i++) {
        String[] in = input.get(i).split(",");
        String[] e = expected.get(i).split(",");
        for (Row row : rows) {
          if (String.valueOf((Object) row.getAs("species")).equals(in[4])
              && Math.abs(((Number) row.getAs("sepal_length")).doubleValue() - Double.parseDouble(in[0])) < 1e-9
              && Math.abs(((Number) row.getAs("sepal_width")).doubleValue() - Double.parseDouble(in[1])) < 1e-9
              && Math.abs(((Number) row.getAs("petal_length")).doubleValue() - Double.parseDouble(in[2])) < 1e-9
              && Math.abs(((Number) row.getAs("petal_width")).doubleValue() - Double.parseDouble(in[3])) < 1e-9) {
            assertEquals(SPECIES[Integer.parseInt(e[0])], row.getAs("label"), "row " + i);
            List<Object> p = row.getList(row.fieldIndex("probabilities"));
            assertEquals(Double.parseDouble(e[1]), ((Float) p.get(0)).doubleValue(), 1e-5);
            matched++;
            break;
          }
        }
      }
      assertEquals(150, matched);
    } finally {
      spark.stop();
    }
  }

  @Test
  void csvOutputWritesArraysAsJsonText() throws Exception {
    Path out = tmp.resolve("scored-csv");
    BundleCliTest.Run r = run("run", archive.toString(), "--api", "classify",
        "--input", IRIS.resolve("iris.csv").toString(), "--output", out.toString(),
        "--output-format", "csv", "--master", "local[1]", "--sidecar-mode", "in-process");
    assertEquals(0, r.code(), r.err());
    List<String> lines = new ArrayList<>();
    try (var files = Files.list(out)) {
      for (Path p : (Iterable<Path>) files.filter(f -> f.getFileName().toString().endsWith(".csv"))::iterator) {
        lines.addAll(Files.readAllLines(p));
      }
    }
    assertTrue(lines.get(0).startsWith("sepal_length,sepal_width,petal_length,petal_width,species,label,probabilities"),
        lines.get(0));
    assertTrue(lines.get(1).matches("5\\.1,3\\.5,1\\.4,0\\.2,setosa,setosa,\"\\[0\\.98.*\\]\""), lines.get(1));
  }

  @Test
  void lineageAddsTheBundleTheApiAndWhenEachRowWasScored() throws Exception {
    Path out = tmp.resolve("scored-lineage");
    BundleCliTest.Run r = run("run", archive.toString(), "--api", "classify",
        "--input", IRIS.resolve("iris.csv").toString(), "--output", out.toString(),
        "--output-format", "csv", "--master", "local[1]", "--sidecar-mode", "in-process",
        "--lineage");
    assertEquals(0, r.code(), r.err());
    List<String> lines = new ArrayList<>();
    try (var files = Files.list(out)) {
      for (Path p : (Iterable<Path>) files.filter(f -> f.getFileName().toString().endsWith(".csv"))::iterator) {
        lines.addAll(Files.readAllLines(p));
      }
    }
    assertEquals("sepal_length,sepal_width,petal_length,petal_width,species,label,probabilities,"
        + "sidecar_bundle,sidecar_version,sidecar_digest,sidecar_api,sidecar_scored_at",
        lines.get(0));
    String digest = BundleArchive.inspect(archive).digest();
    assertEquals(151, lines.size(), "a header and 150 rows");
    for (String line : lines.subList(1, lines.size())) {
      assertTrue(line.matches(".*,iris_classifier,1\\.0\\.0," + digest
          + ",classify,\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d.*"), line);
    }
  }

  @Test
  void missingColumnIsAOneLineErrorWithExitCode1() throws Exception {
    Path csv = tmp.resolve("bad.csv");
    Files.writeString(csv, "sepal_length,sepal_width,petal_length\n1,2,3\n");
    BundleCliTest.Run r = run("run", archive.toString(), "--api", "classify", "--input",
        csv.toString(), "--output", tmp.resolve("never").toString(), "--master", "local[1]",
        "--sidecar-mode", "in-process");
    assertEquals(1, r.code());
    assertTrue(r.err().contains("missing column 'petal_width'"), r.err());
    assertTrue(r.err().lines().count() <= 2, r.err());
  }

  /** iris.csv's header and first rows, the second with no sepal_width. */
  private static Path csvWithANull(String name) throws Exception {
    Path csv = tmp.resolve(name);
    List<String> iris = Files.readAllLines(IRIS.resolve("iris.csv"));
    Files.write(csv, List.of(iris.get(0), iris.get(1), "5.1,,1.4,0.2,setosa", iris.get(2)));
    return csv;
  }

  /** The entries of {@code dir}, hidden ones included. */
  private static List<String> entries(Path dir) throws Exception {
    try (var s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  @Test
  void aNullInputIsOneLineNamingTheColumnAndAllowNullsAndLeavesNoOutput() throws Exception {
    Path csv = csvWithANull("nulls.csv");
    Path parent = Files.createDirectories(tmp.resolve("null-run"));
    // Parents the run creates go too when it fails.
    Path out = parent.resolve("new/deeper/out");
    BundleCliTest.Run r = run("run", archive.toString(), "--api", "classify", "--input",
        csv.toString(), "--output", out.toString(), "--output-format", "csv",
        "--sidecar-mode", "in-process");
    assertEquals(1, r.code(), r.err());
    assertEquals(1, r.err().lines().count(), r.err());
    assertTrue(r.err().startsWith("sidecar: column 'sepal_width' is null"), r.err());
    assertTrue(r.err().contains("--allow-nulls"), r.err());
    assertFalse(r.err().contains("RunOptions"), r.err());
    assertEquals(List.of(), entries(parent), "a failed run leaves nothing behind");

    // The same run with --allow-nulls: that row gets null outputs, the others are scored.
    r = run("run", archive.toString(), "--api", "classify", "--input", csv.toString(),
        "--output", out.toString(), "--output-format", "csv", "--sidecar-mode", "in-process",
        "--allow-nulls");
    assertEquals(0, r.code(), r.err());
    List<String> lines = new ArrayList<>();
    for (String f : entries(out)) {
      if (f.endsWith(".csv")) {
        List<String> l = Files.readAllLines(out.resolve(f));
        lines.addAll(l.subList(1, l.size()));
      }
    }
    assertEquals(3, lines.size(), lines.toString());
    assertTrue(lines.contains("5.1,,1.4,0.2,setosa,,"), lines.toString());
    assertTrue(lines.stream().filter(l -> l.contains(",setosa,setosa,")).count() == 2,
        lines.toString());
    assertEquals(List.of("new"), entries(parent), "no staging directory is left");
    assertEquals(List.of("out"), entries(out.getParent()));
  }

  @Test
  void aFailedRunKeepsTheExistingOutputEvenWithOverwrite() throws Exception {
    Path csv = csvWithANull("nulls-2.csv");
    Path out = Files.createDirectories(tmp.resolve("kept/out"));
    Files.writeString(out.resolve("mine.txt"), "the user's");
    BundleCliTest.Run r = run("run", archive.toString(), "--api", "classify", "--input",
        csv.toString(), "--output", out.toString(), "--sidecar-mode", "in-process",
        "--overwrite");
    assertEquals(1, r.code(), r.err());
    assertEquals(List.of("mine.txt"), entries(out));
    assertEquals(List.of("out"), entries(out.getParent()));
  }

  @Test
  void overwriteTwiceReplacesTheOutputEachTime() throws Exception {
    Path out = tmp.resolve("twice/out");
    for (int i = 0; i < 2; i++) {
      BundleCliTest.Run r = run("run", archive.toString(), "--api", "classify", "--input",
          IRIS.resolve("iris.csv").toString(), "--output", out.toString(), "--output-format",
          "csv", "--sidecar-mode", "in-process", "--overwrite");
      assertEquals(0, r.code(), "run " + (i + 1) + ": " + r.err());
      long rows = 0;
      for (String f : entries(out)) {
        if (f.endsWith(".csv")) {
          rows += Files.readAllLines(out.resolve(f)).size() - 1;
        }
      }
      assertEquals(150, rows, "run " + (i + 1));
      assertEquals(List.of("out"), entries(out.getParent()), "run " + (i + 1));
    }
  }

  @Test
  void anUnwritableOutputIsOneLineNamingThePath() throws Exception {
    // Even root cannot make a directory in /proc.
    assumeTrue(Files.isDirectory(Path.of("/proc/self")), "needs Linux /proc");
    BundleCliTest.Run r = run("run", archive.toString(), "--api", "classify", "--input",
        IRIS.resolve("iris.csv").toString(), "--output", "/proc/sidecar-out",
        "--sidecar-mode", "in-process");
    assertEquals(1, r.code(), r.err());
    assertEquals(1, r.err().lines().count(), r.err());
    assertTrue(r.err().startsWith("sidecar: cannot write the output /proc/sidecar-out: "),
        r.err());
    assertFalse(Files.exists(Path.of("/proc/sidecar-out")));
  }

  @Test
  void badModeAndExistingOutputAreRefused() throws Exception {
    BundleCliTest.Run r = run("run", archive.toString(), "--api", "classify", "--input",
        IRIS.resolve("iris.csv").toString(), "--output", tmp.toString());
    assertEquals(1, r.code());
    assertTrue(r.err().contains("already exists"), r.err());
    r = run("run", archive.toString(), "--api", "classify", "--input",
        IRIS.resolve("iris.csv").toString(), "--output", tmp.resolve("x").toString(),
        "--sidecar-mode", "thread");
    assertEquals(1, r.code());
    assertTrue(r.err().contains("process, in-process"), r.err());
  }
}
