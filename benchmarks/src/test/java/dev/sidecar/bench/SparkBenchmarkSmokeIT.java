package dev.sidecar.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.testkit.OnnxModels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The benchmark harness at tiny sizes: every way scores the same rows to the same predictions
 * (row for row, and equal to the testkit's plain-Java reference of each model), and a run prints
 * one row per model and way with agreeing checksums. No timing is asserted. The ways are those of
 * the build: the synapseml way (SynapseML's ONNXModel) only in the {@code -Pscala-2.12} build.
 */
class SparkBenchmarkSmokeIT {
  private static final int ROWS = 2_500;   // several 1024-row batches plus a partial one per partition
  private static final double TOL = 1e-4;

  @TempDir
  static Path dir;
  static SparkSession spark;
  static Map<String, BenchModel> models;

  @BeforeAll
  static void start() {
    spark = BenchSpark.session("local[2]");
    models = smallModels(dir);
  }

  @AfterAll
  static void stop() {
    if (spark != null) {
      spark.stop();
    }
  }

  static Map<String, BenchModel> smallModels(Path d) {
    Map<String, BenchModel> m = new LinkedHashMap<>();
    m.put("tiny", BenchModels.tiny(d));
    m.put("mlp", BenchModels.mlp(d, 8, new int[] {16, 16}, 4));
    m.put("trees", BenchModels.trees(d, 5, 3, 6));
    return m;
  }

  @Test
  void everyWayGivesTheSamePredictionsRowForRow() {
    for (BenchModel model : models.values()) {
      Dataset<Row> df = BenchData.features(spark, ROWS, model.features(), 3).cache();
      Map<Way, List<Row>> byWay = new LinkedHashMap<>();
      for (Way way : Way.available()) {
        List<String> cols = new ArrayList<>();
        cols.add("id");
        model.outputs().forEach(o -> cols.add(o.column()));
        Dataset<Row> scored = Scorers.score(spark, model, way, df, Scorers.Settings.defaults());
        List<Row> rows = scored.selectExpr(cols.toArray(String[]::new)).orderBy("id").collectAsList();
        assertEquals(ROWS, rows.size(), model.key() + "/" + way.id + ": row count");
        for (int i = 0; i < ROWS; i++) {
          assertEquals(i, rows.get(i).getLong(0), model.key() + "/" + way.id + ": ids 0.." + (ROWS - 1) + " once each");
        }
        byWay.put(way, rows);
      }
      List<Row> direct = byWay.get(Way.DIRECT);
      for (Map.Entry<Way, List<Row>> e : byWay.entrySet()) {
        assertSameOutputs(model, direct, e.getValue(), e.getKey());
      }
      assertMatchesReference(model, df, direct);
      df.unpersist();
    }
  }

  private static void assertSameOutputs(BenchModel model, List<Row> expected, List<Row> actual, Way way) {
    for (int r = 0; r < expected.size(); r++) {
      for (int c = 0; c < model.outputs().size(); c++) {
        double[] want = values(expected.get(r), c + 1);
        double[] got = values(actual.get(r), c + 1);
        String where = model.key() + "/" + way.id + " row " + r + " output " + model.outputs().get(c).column();
        assertEquals(want.length, got.length, where + ": width");
        for (int k = 0; k < want.length; k++) {
          assertEquals(want[k], got[k], TOL * Math.max(1, Math.abs(want[k])), where + "[" + k + "]");
        }
      }
    }
  }

  /** The direct way's outputs against the testkit's plain-Java references of each model. */
  private static void assertMatchesReference(BenchModel model, Dataset<Row> df, List<Row> direct) {
    int f = model.features();
    List<Row> feats = df.orderBy("id").collectAsList();
    float[] x = new float[feats.size() * f];
    for (int r = 0; r < feats.size(); r++) {
      List<Object> v = feats.get(r).getList(1);
      for (int k = 0; k < f; k++) {
        x[r * f + k] = (Float) v.get(k);
      }
    }
    switch (model.key()) {
      case "tiny" -> {
        float[] probs = OnnxModels.linearClassifierProbabilities(f, 3, BenchModels.SEED, x);
        long[] labels = OnnxModels.linearClassifierLabels(f, 3, BenchModels.SEED, x);
        for (int r = 0; r < direct.size(); r++) {
          assertEquals(labels[r], direct.get(r).getLong(1), "tiny row " + r + " label");
          assertClose(probs, r, 3, values(direct.get(r), 2), "tiny row " + r + " probabilities");
        }
      }
      case "mlp" -> {
        float[] y = OnnxModels.mlpPredict(f, new int[] {16, 16}, 4, BenchModels.SEED, x);
        for (int r = 0; r < direct.size(); r++) {
          assertClose(y, r, 4, values(direct.get(r), 1), "mlp row " + r + " y");
        }
      }
      case "trees" -> {
        float[] y = OnnxModels.treeEnsemblePredict(5, 3, f, BenchModels.SEED, x);
        for (int r = 0; r < direct.size(); r++) {
          assertClose(y, r, 1, values(direct.get(r), 1), "trees row " + r + " score");
        }
      }
      default -> throw new AssertionError("no reference for model " + model.key());
    }
  }

  private static void assertClose(float[] want, int row, int width, double[] got, String where) {
    assertEquals(width, got.length, where + ": width");
    for (int k = 0; k < width; k++) {
      double w = want[row * width + k];
      assertEquals(w, got[k], TOL * Math.max(1, Math.abs(w)), where + "[" + k + "]");
    }
  }

  private static double[] values(Row row, int i) {
    Object v = row.get(i);
    if (v instanceof Number n) {
      return new double[] {n.doubleValue()};
    }
    List<Object> list = row.getList(i);
    double[] d = new double[list.size()];
    for (int k = 0; k < d.length; k++) {
      d[k] = ((Number) list.get(k)).doubleValue();
    }
    return d;
  }

  @Test
  void aRunHasOneRowPerModelAndWayAndTheChecksumsAgree() {
    SparkBenchmark.Config config = new SparkBenchmark.Config(List.of("tiny", "mlp", "trees"),
        Way.available(),
        Map.of("tiny", 3_000L, "mlp", 1_000L, "trees", 2_000L), 1, 1, 2, "local[2]",
        Scorers.Settings.defaults(), dir.resolve("run"), d -> models);
    List<SparkBenchmark.Result> results = SparkBenchmark.run(spark, config, System.err);
    int n = 3 * Way.available().size();
    assertEquals(n, results.size());
    assertEquals(List.of(), SparkBenchmark.disagreements(results));
    for (SparkBenchmark.Result r : results) {
      assertTrue(r.median() > 0, r.model().key() + "/" + r.way().id + " rows/s");
      assertTrue(r.checksum() != 0 && Double.isFinite(r.checksum()), r.model().key() + " checksum " + r.checksum());
      assertTrue(r.peaks().rss() > 0, "executor RSS was sampled");
      if (r.way() == Way.PROCESS) {
        assertTrue(r.peaks().sidecarRss() > 0, r.model().key() + ": the sidecar process's RSS was read");
      }
    }
    String table = SparkBenchmark.table(results);
    assertEquals(2 + n, table.lines().count(), table);
  }
}
