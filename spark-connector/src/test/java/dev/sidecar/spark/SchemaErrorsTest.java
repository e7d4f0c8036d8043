package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.spark.RunOptions.SidecarMode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.SparkException;
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
 * Schema mismatches fail on the driver, before any task, naming the column, the expected and the
 * found type; a wrong array length fails the task naming the column and row.
 */
@EveryLine
class SchemaErrorsTest {
  private static SparkSession spark;
  private static TestBundles.Built iris;
  private static TestBundles.Built kinds;
  private static final RunOptions OPTS = RunOptions.builder()
      .sidecarMode(SidecarMode.IN_PROCESS).build();

  @BeforeAll
  static void start() {
    spark = TestSpark.local("local[2]", "SchemaErrorsTest");
    iris = TestBundles.iris();
    kinds = TestBundles.kinds("kinds_schema", "1.0.0");
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  private static void assertMessage(Exception e, String... parts) {
    for (String p : parts) {
      assertTrue(e.getMessage().contains(p), "message lacks '" + p + "': " + e.getMessage());
    }
  }

  @Test
  void missingColumnIsNamedBeforeAnyTask() {
    Dataset<Row> df = Iris.frame(spark, 2).drop("petal_width");
    SidecarSparkException e = assertThrows(SidecarSparkException.class,
        () -> Sidecar.runSpark(iris.archive(), "classify", df, OPTS));
    assertMessage(e, "missing column 'petal_width'", "float32 scalar", "classify",
        "iris_classifier:1.0.0");
  }

  @Test
  void caseMismatchIsHinted() {
    Dataset<Row> df = Iris.frame(spark, 2).withColumnRenamed("sepal_width", "Sepal_Width");
    SidecarSparkException e = assertThrows(SidecarSparkException.class,
        () -> Sidecar.runSpark(iris.archive(), "classify", df, OPTS));
    assertMessage(e, "missing column 'sepal_width'", "the DataFrame has 'Sepal_Width'");
  }

  @Test
  void wrongTypeNamesColumnExpectedAndFound() {
    Dataset<Row> df = Iris.frame(spark, 2).withColumn("sepal_length",
        org.apache.spark.sql.functions.col("species"));
    SidecarSparkException e = assertThrows(SidecarSparkException.class,
        () -> Sidecar.runSpark(iris.archive(), "classify", df, OPTS));
    assertMessage(e, "column 'sepal_length'", "expected float32 scalar", "found string");
  }

  @Test
  void fractionalIntoIntegerIsRefused() {
    Dataset<Row> df = spark.range(3).selectExpr("cast(id as double) as i64");
    SidecarSparkException e = assertThrows(SidecarSparkException.class,
        () -> Sidecar.runSpark(kinds.archive(), "i64", df, OPTS));
    assertMessage(e, "column 'i64'", "expected int64 scalar", "found double");
  }

  @Test
  void scalarWhereArrayIsExpected() {
    Dataset<Row> df = Iris.frame(spark, 2).withColumnRenamed("sepal_length", "features");
    SidecarSparkException e = assertThrows(SidecarSparkException.class,
        () -> Sidecar.runSpark(iris.archive(), "classify_tensor", df, OPTS));
    assertMessage(e, "column 'features'", "float32[4]", "array or ML vector", "found double");
  }

  @Test
  void unknownApiListsTheApis() {
    SidecarSparkException e = assertThrows(SidecarSparkException.class,
        () -> Sidecar.runSpark(iris.archive(), "nope", Iris.frame(spark, 1), OPTS));
    assertMessage(e, "nope", "classify", "classify_tensor");
  }

  @Test
  void outputClashingWithInputColumnIsRefused() {
    Dataset<Row> df = Iris.frame(spark, 1).withColumn("label", org.apache.spark.sql.functions.lit(1));
    SidecarSparkException e = assertThrows(SidecarSparkException.class,
        () -> Sidecar.runSpark(iris.archive(), "classify", df, OPTS));
    assertMessage(e, "output column 'label'", "prefix");
  }

  @Test
  void missingArchiveOrTagIsNamed() {
    SidecarSparkException e = assertThrows(SidecarSparkException.class,
        () -> Sidecar.runSpark("no_such_bundle:9.9", "classify", Iris.frame(spark, 1), OPTS));
    assertMessage(e, "no_such_bundle:9.9");
  }

  @Test
  void wrongArrayLengthFailsTheTaskNamingColumnAndRow() {
    StructType schema = new StructType().add("id", DataTypes.IntegerType)
        .add("f32x3_arr", DataTypes.createArrayType(DataTypes.FloatType));
    List<Row> rows = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      rows.add(RowFactory.create(i, i == 6 ? Arrays.asList(1f, 2f) : Arrays.asList(1f, 2f, 3f)));
    }
    Dataset<Row> df = spark.createDataFrame(rows, schema).coalesce(1);
    Dataset<Row> scored = Sidecar.runSpark(kinds.archive(), "f32x3_arr", df, OPTS);
    SparkException e = assertThrows(SparkException.class, scored::collectAsList);
    assertMessage(e, "column 'f32x3_arr'", "array of 2 elements", "row 6", "exactly 3");
  }
}
