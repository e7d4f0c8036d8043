package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sidecar.spark.RunOptions.SidecarMode;
import dev.sidecar.testkit.OnnxModels;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A classifier whose probabilities come out of a ZipMap (as skl2onnx converts classifiers),
 * scored on a real local Spark: by default an array of probabilities in class order beside the
 * label; {@code as: map} gives a map column from class key (long or string) to probability.
 */
@EveryLine
class ClassMapColumnsTest {
  private static final int N = 23;
  private static final int FEATURES = 4;
  private static final long SEED = 3L;
  private static SparkSession spark;
  private static TestBundles.Built bundle;
  private static Dataset<Row> df;
  private static float[] x;
  private static final RunOptions OPTS = RunOptions.builder()
      .sidecarMode(SidecarMode.IN_PROCESS).chunkRows(5).build();

  @BeforeAll
  static void start() {
    spark = TestSpark.local("local[2]", "ClassMapColumnsTest");
    bundle = TestBundles.build("zipmap", "1.0.0", Map.of(
        "ints", OnnxModels.zipMapClassifier(FEATURES, SEED, 30L, 10L, 20L),
        "strs", OnnxModels.zipMapClassifier(FEATURES, SEED, "setosa", "versicolor", "virginica")),
        "  - name: default\n    model: ints\n    input: {kind: tensor, column: f}\n"
        + "  - name: long-map\n    model: ints\n    input: {kind: tensor, column: f}\n"
        + "    outputs: [label, {name: p, from: output_probability, as: map}]\n"
        + "  - name: string-map\n    model: strs\n    input: {kind: tensor, column: f}\n"
        + "    outputs: [{name: p, from: output_probability, as: map}]\n");
    x = OnnxModels.randomFloats(N * FEATURES, 77L);
    StructType schema = new StructType().add("id", DataTypes.IntegerType, false)
        .add("f", DataTypes.createArrayType(DataTypes.FloatType, false), false);
    List<Row> rows = new ArrayList<>();
    for (int i = 0; i < N; i++) {
      List<Float> f = new ArrayList<>();
      for (int j = 0; j < FEATURES; j++) {
        f.add(x[i * FEATURES + j]);
      }
      rows.add(RowFactory.create(i, f));
    }
    df = spark.createDataFrame(rows, schema).repartition(2);
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  private static List<Row> scored(String api) {
    Dataset<Row> d = Sidecar.runSpark(bundle.archive(), api, df, OPTS);
    List<Row> rows = new ArrayList<>(d.collectAsList());
    rows.sort(Comparator.comparingInt(r -> r.getInt(0)));
    assertEquals(N, rows.size());
    return rows;
  }

  @Test
  void byDefaultTheProbabilitiesAreAnArrayInClassOrderBesideTheLabel() {
    Dataset<Row> d = Sidecar.runSpark(bundle.archive(), "default", df, OPTS);
    assertEquals(DataTypes.LongType, d.schema().apply("label").dataType());
    assertEquals(DataTypes.createArrayType(DataTypes.FloatType, false),
        d.schema().apply("output_probability").dataType());
    float[] p = OnnxModels.linearClassifierProbabilities(FEATURES, 3, SEED, x);
    long[] labels = OnnxModels.linearClassifierLabels(FEATURES, 3, SEED, x);
    for (Row r : scored("default")) {
      int i = r.getInt(0);
      assertEquals(labels[i], r.getLong(r.fieldIndex("label")));
      List<Float> got = r.getList(r.fieldIndex("output_probability"));
      for (int c = 0; c < 3; c++) {
        assertEquals(p[i * 3 + c], got.get(c), 1e-5f, "row " + i + " class " + c);
      }
    }
  }

  @Test
  void asMapGivesAMapFromClassKeyToProbability() {
    float[] p = OnnxModels.linearClassifierProbabilities(FEATURES, 3, SEED, x);
    assertEquals(DataTypes.createMapType(DataTypes.LongType, DataTypes.FloatType, false),
        Sidecar.runSpark(bundle.archive(), "long-map", df, OPTS).schema().apply("p").dataType());
    assertEquals(DataTypes.createMapType(DataTypes.StringType, DataTypes.FloatType, false),
        Sidecar.runSpark(bundle.archive(), "string-map", df, OPTS).schema().apply("p").dataType());
    List<Row> longs = scored("long-map");
    List<Row> strings = scored("string-map");
    for (int i = 0; i < N; i++) {
      Map<Long, Float> lm = longs.get(i).getJavaMap(longs.get(i).fieldIndex("p"));
      Map<String, Float> sm = strings.get(i).getJavaMap(strings.get(i).fieldIndex("p"));
      assertEquals(List.of(30L, 10L, 20L), new ArrayList<>(lm.keySet()), "row " + i);
      assertEquals(List.of("setosa", "versicolor", "virginica"), new ArrayList<>(sm.keySet()));
      long[] keys = {30L, 10L, 20L};
      String[] names = {"setosa", "versicolor", "virginica"};
      for (int c = 0; c < 3; c++) {
        assertEquals(p[i * 3 + c], lm.get(keys[c]), 1e-5f, "row " + i + " key " + keys[c]);
        assertEquals(p[i * 3 + c], sm.get(names[c]), 1e-5f, "row " + i + " key " + names[c]);
      }
    }
  }
}
