package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.spark.RunOptions.SidecarMode;
import java.sql.Timestamp;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code lineageColumns(true)} with an in-process sidecar: every row gets the bundle's name,
 * version and digest, the API and when it was scored, after the outputs and prefixed like them;
 * a lineage column named like an input column is refused on the driver, naming it.
 * {@link LineageIT} runs the same check through a sidecar process.
 */
@Timeout(180)
@EveryLine
class LineageTest {
  private static SparkSession spark;
  private static TestBundles.Built iris;
  private static final RunOptions LINEAGE = RunOptions.builder()
      .sidecarMode(SidecarMode.IN_PROCESS).chunkRows(16).lineageColumns(true).build();

  @BeforeAll
  static void start() {
    spark = TestSpark.local("local[2]", "LineageTest");
    iris = TestBundles.iris();
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  @Test
  void everyRowNamesTheBundleApiAndWhenItWasScored() {
    assertLineage(spark, iris, LINEAGE, "");
  }

  @Test
  void lineageColumnsFollowTheOutputPrefix() {
    assertLineage(spark, iris, LINEAGE.toBuilder().outputPrefix("pred_").build(), "pred_");
  }

  @Test
  void offByDefault() {
    Dataset<Row> scored = Sidecar.runSpark(iris.archive(), "classify", Iris.frame(spark, 2),
        LINEAGE.toBuilder().lineageColumns(false).build());
    assertEquals(8, scored.schema().fields().length, "6 input columns + 2 outputs");
    assertFalse(Arrays.asList(scored.columns()).contains("sidecar_api"));
  }

  @Test
  void aLineageColumnNamedLikeAnInputColumnIsRefusedNamingIt() {
    Dataset<Row> df = Iris.frame(spark, 1).withColumnRenamed("species", "sidecar_version");
    SidecarSparkException e = assertThrows(SidecarSparkException.class,
        () -> Sidecar.runSpark(iris.archive(), "classify", df, LINEAGE));
    assertTrue(e.getMessage().contains("lineage column 'sidecar_version' clashes"),
        e.getMessage());
    assertTrue(e.getMessage().contains("output prefix"), e.getMessage());
    // A prefix, or dropping the inputs, resolves it.
    assertEquals(150, Sidecar.runSpark(iris.archive(), "classify", df,
        LINEAGE.toBuilder().outputPrefix("p_").build()).count());
  }

  @Test
  void rowsLetThroughWithNullOutputsStillCarryLineage() {
    StructType schema = new StructType().add("sepal_length", DataTypes.DoubleType)
        .add("sepal_width", DataTypes.DoubleType).add("petal_length", DataTypes.DoubleType)
        .add("petal_width", DataTypes.DoubleType);
    Dataset<Row> df = spark.createDataFrame(List.of(RowFactory.create(5.1, 3.5, 1.4, 0.2),
        RowFactory.create(5.1, null, 1.4, 0.2)), schema).coalesce(1);
    List<Row> rows = Sidecar.runSpark(iris.archive(), "classify", df,
        LINEAGE.toBuilder().allowNulls(true).build()).collectAsList();
    assertEquals("setosa", rows.get(0).getAs("label"));
    assertNull(rows.get(1).getAs("label"));
    assertEquals("classify", rows.get(1).getAs("sidecar_api"));
    assertEquals(rows.get(0).<Timestamp>getAs("sidecar_scored_at"),
        rows.get(1).<Timestamp>getAs("sidecar_scored_at"), "one time per chunk");
  }

  /**
   * Scores iris with {@code options} (lineage on) and checks the lineage columns' names, types
   * and order, and that every row holds the bundle's identity and a time within the action.
   */
  static void assertLineage(SparkSession spark, TestBundles.Built iris, RunOptions options,
      String prefix) {
    Dataset<Row> scored = Sidecar.runSpark(iris.archive(), "classify", Iris.frame(spark, 3),
        options);
    StructField[] fields = scored.schema().fields();
    assertEquals(6 + 2 + 5, fields.length, "6 input columns + 2 outputs + 5 lineage columns");
    List<String> names = Arrays.stream(fields).skip(8).map(StructField::name).toList();
    assertEquals(RunOptions.LINEAGE_COLUMNS.stream().map(n -> prefix + n).toList(), names);
    for (int i = 8; i < 12; i++) {
      assertEquals(DataTypes.StringType, fields[i].dataType(), fields[i].name());
    }
    assertEquals(DataTypes.TimestampType, fields[12].dataType());

    Instant before = Instant.now().truncatedTo(ChronoUnit.MICROS);
    List<Row> rows = scored.collectAsList();
    Instant after = Instant.now();
    assertEquals(150, rows.size());
    for (Row r : rows) {
      assertEquals("iris_classifier", r.getAs(prefix + "sidecar_bundle"));
      assertEquals("1.0.0", r.getAs(prefix + "sidecar_version"));
      assertEquals(iris.digest(), r.getAs(prefix + "sidecar_digest"));
      assertEquals("classify", r.getAs(prefix + "sidecar_api"));
      Instant at = r.<Timestamp>getAs(prefix + "sidecar_scored_at").toInstant();
      assertFalse(at.isBefore(before) || at.isAfter(after),
          at + " is not within the action, " + before + " .. " + after);
    }
    Iris.assertMatchesExpected(scored, prefix);
  }
}
