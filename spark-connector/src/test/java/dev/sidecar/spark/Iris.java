package dev.sidecar.spark;

import static org.apache.spark.sql.functions.array;
import static org.apache.spark.sql.functions.col;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.ml.feature.VectorAssembler;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/** The iris example as DataFrames, and the check of scored rows against the expected predictions. */
public final class Iris {
  static final String[] SPECIES = {"setosa", "versicolor", "virginica"};
  static final String[] FEATURES = {"sepal_length", "sepal_width", "petal_length", "petal_width"};

  private Iris() {
  }

  /** iris.csv with an {@code id} column (row number), in {@code partitions} partitions. */
  public static Dataset<Row> frame(SparkSession spark, int partitions) {
    List<Row> rows = new ArrayList<>();
    List<String[]> csv = readCsv("iris.csv");
    for (int i = 0; i < csv.size(); i++) {
      String[] f = csv.get(i);
      rows.add(RowFactory.create((long) i, Double.parseDouble(f[0]), Double.parseDouble(f[1]),
          Double.parseDouble(f[2]), Double.parseDouble(f[3]), f[4]));
    }
    StructType schema = new StructType()
        .add("id", DataTypes.LongType, false)
        .add("sepal_length", DataTypes.DoubleType)
        .add("sepal_width", DataTypes.DoubleType)
        .add("petal_length", DataTypes.DoubleType)
        .add("petal_width", DataTypes.DoubleType)
        .add("species", DataTypes.StringType);
    return spark.createDataFrame(rows, schema).repartition(partitions, col("id"))
        .sortWithinPartitions("id");
  }

  /** With a {@code features} column of 4 floats. */
  public static Dataset<Row> withFeatureArray(Dataset<Row> df) {
    return df.withColumn("features", array(col("sepal_length").cast("float"),
        col("sepal_width").cast("float"), col("petal_length").cast("float"),
        col("petal_width").cast("float")));
  }

  /** With a {@code features} ML vector column (VectorAssembler). */
  public static Dataset<Row> withFeatureVector(Dataset<Row> df) {
    return new VectorAssembler().setInputCols(FEATURES).setOutputCol("features").transform(df);
  }

  /** Asserts every scored row's label and probabilities equal expected_predictions.csv (1e-5). */
  public static void assertMatchesExpected(Dataset<Row> scored, String prefix) {
    List<String[]> expected = readCsv("expected_predictions.csv");
    List<Row> rows = new ArrayList<>(scored.collectAsList()); // sorted here: orderBy would score twice
    rows.sort(java.util.Comparator.comparingLong(r -> r.getLong(r.fieldIndex("id"))));
    assertEquals(expected.size(), rows.size(), "row count");
    for (Row r : rows) {
      List<Object> p = r.getList(r.fieldIndex(prefix + "probabilities"));
      assertMatchesExpected(r.getLong(r.fieldIndex("id")),
          r.getString(r.fieldIndex(prefix + "label")),
          p.stream().mapToDouble(v -> ((Float) v).doubleValue()).toArray());
    }
  }

  /** How many rows iris.csv has. */
  public static int rows() {
    return readCsv("expected_predictions.csv").size();
  }

  /**
   * Asserts one scored row, by its id (the row number in iris.csv), has the expected label and
   * probabilities (1e-5).
   */
  public static void assertMatchesExpected(long id, String label, double[] probabilities) {
    String[] e = readCsv("expected_predictions.csv").get((int) id);
    assertEquals(SPECIES[Integer.parseInt(e[0])], label, "label of row " + id);
    assertEquals(3, probabilities.length, "probabilities of row " + id);
    for (int k = 0; k < 3; k++) {
      assertEquals(Double.parseDouble(e[k + 1]), probabilities[k], 1e-5,
          "probability " + k + " of row " + id);
    }
  }

  private static List<String[]> readCsv(String name) {
    try {
      List<String> lines = Files.readAllLines(TestBundles.irisDir().resolve(name));
      List<String[]> out = new ArrayList<>();
      for (String line : lines.subList(1, lines.size())) {
        if (!line.isBlank()) {
          out.add(line.split(","));
        }
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
