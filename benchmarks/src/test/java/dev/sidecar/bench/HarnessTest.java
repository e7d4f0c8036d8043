package dev.sidecar.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The harness's own logic: options, medians, tables, checksum agreement, the bundle.yaml it writes. */
class HarnessTest {
  private static final Set<String> VALUED = Set.of("rows", "ways");
  private static final Set<String> FLAGS = Set.of("quick");

  @Test
  void optionsParseWithSizesAndRefuseUnknownNames() {
    Args a = Args.parse(new String[] {"--rows", "2m", "--quick", "--ways=direct"}, VALUED, FLAGS);
    assertEquals(2_000_000L, a.longValue("rows", 0));
    assertTrue(a.flag("quick"));
    assertEquals("direct", a.string("ways", ""));
    IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
        () -> Args.parse(new String[] {"--rwos", "1"}, VALUED, FLAGS));
    assertTrue(unknown.getMessage().contains("--rwos"), unknown.getMessage());
    IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
        () -> Args.parse(new String[] {"--rows"}, VALUED, FLAGS));
    assertTrue(missing.getMessage().contains("--rows needs a value"), missing.getMessage());
    IllegalArgumentException notNumber = assertThrows(IllegalArgumentException.class,
        () -> Args.parse(new String[] {"--rows", "lots"}, VALUED, FLAGS).longValue("rows", 0));
    assertTrue(notNumber.getMessage().contains("'lots'"), notNumber.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Way.parse("gpu"));
  }

  @Test
  void theSynapsemlWayIsADefaultWhereSynapseMlIsOnTheClasspathAndNamesItsBuildWhereNot() {
    assertEquals(Way.SYNAPSEML, Way.parse("SynapseML"));
    Args none = Args.parse(new String[0], SparkBenchmark.VALUED, SparkBenchmark.FLAGS);
    Args asked = Args.parse(new String[] {"--ways", "direct,synapseml"}, SparkBenchmark.VALUED,
        SparkBenchmark.FLAGS);
    if (SynapseScorer.available()) {   // the -Pscala-2.12 build
      assertEquals(List.of(Way.DIRECT, Way.PROCESS, Way.IN_PROCESS, Way.SYNAPSEML),
          SparkBenchmark.config(none).ways());
      assertEquals(List.of(Way.DIRECT, Way.SYNAPSEML), SparkBenchmark.config(asked).ways());
    } else {
      assertEquals(List.of(Way.DIRECT, Way.PROCESS, Way.IN_PROCESS), SparkBenchmark.config(none).ways());
      assertFalse(Way.available().contains(Way.SYNAPSEML));
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> SparkBenchmark.config(asked));
      assertTrue(e.getMessage().contains("PROFILE=scala-2.12"), e.getMessage());
    }
    // SynapseML's mini-batch follows the direct batch unless set.
    Args batch = Args.parse(new String[] {"--direct-batch", "512"}, SparkBenchmark.VALUED, SparkBenchmark.FLAGS);
    assertEquals(512, SparkBenchmark.config(batch).settings().synapseBatchRows());
    Args own = Args.parse(new String[] {"--synapse-batch", "10"}, SparkBenchmark.VALUED, SparkBenchmark.FLAGS);
    assertEquals(10, SparkBenchmark.config(own).settings().synapseBatchRows());
    assertEquals(1024, SparkBenchmark.config(own).settings().directBatchRows());
  }

  @Test
  void medianOfOddAndEvenCounts() {
    assertEquals(2.0, Table.median(List.of(3.0, 1.0, 2.0)));
    assertEquals(2.5, Table.median(List.of(4.0, 1.0, 2.0, 3.0)));
    assertTrue(Double.isNaN(Table.median(List.of())));
  }

  @Test
  void tableAlignsColumnsAndRefusesRaggedRows() {
    Table t = new Table("a", "b").right(1);
    t.add("x", 1);
    t.add("longer", 12345);
    String s = t.render();
    List<String> lines = s.lines().toList();
    assertEquals(4, lines.size());
    assertEquals(lines.get(0).length(), lines.get(3).length());
    assertTrue(lines.get(1).endsWith("--: |"), s);
    assertThrows(IllegalArgumentException.class, () -> t.add("only one"));
  }

  @Test
  void disagreeingChecksumsAreReported() {
    BenchModel m = new BenchModel("mlp", "mlp", "bench_mlp", "predict", Path.of("m.onnx"),
        Path.of("m.bundle"), "x", 4, List.of(new BenchModel.Output("y", "y", false, 2)));
    MemorySampler.Peaks p = new MemorySampler.Peaks(1, 1, 1, 1, -1, -1);
    SparkBenchmark.Result direct = new SparkBenchmark.Result(m, Way.DIRECT, 10, List.of(1.0), 1000.0, p);
    SparkBenchmark.Result close = new SparkBenchmark.Result(m, Way.PROCESS, 10, List.of(1.0), 1000.0001, p);
    SparkBenchmark.Result off = new SparkBenchmark.Result(m, Way.IN_PROCESS, 10, List.of(1.0), 1000.5, p);
    assertEquals(List.of(), SparkBenchmark.disagreements(List.of(direct, close)));
    List<String> bad = SparkBenchmark.disagreements(List.of(direct, close, off));
    assertEquals(1, bad.size());
    assertTrue(bad.get(0).startsWith("mlp: inproc"), bad.get(0));
    assertFalse(SparkBenchmark.agree(1.0, 1.1));
  }

  @Test
  void bundleYamlDeclaresTheFeaturesTensorAndEachOutput() {
    String y = BenchModels.bundleYaml("bench_tiny", "tiny", "input", 4, List.of(
        new BenchModel.Output("label", "label", true, 0),
        new BenchModel.Output("probabilities", "probabilities", false, 3)));
    assertTrue(y.contains("input: {kind: tensor, column: features, model_input: input, dtype: float32, shape: [-1, 4]}"), y);
    assertTrue(y.contains("- {name: label, from: label, dtype: int64, shape: [-1]}"), y);
    assertTrue(y.contains("- {name: probabilities, from: probabilities, dtype: float32, shape: [-1, 3]}"), y);
  }
}
