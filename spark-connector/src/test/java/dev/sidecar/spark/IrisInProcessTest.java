package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sidecar.spark.RunOptions.SidecarMode;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Iris through both APIs with an in-process sidecar equals scikit-learn's predictions. */
@EveryLine
class IrisInProcessTest {
  private static SparkSession spark;
  private static TestBundles.Built iris;
  private static final RunOptions IN_PROCESS = RunOptions.builder()
      .sidecarMode(SidecarMode.IN_PROCESS).chunkRows(16).chunksInFlight(3).build();

  @BeforeAll
  static void start() {
    spark = TestSpark.local("local[2]", "IrisInProcessTest");
    iris = TestBundles.iris();
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  @Test
  void dataframeApiWithDoubleColumns() {
    Dataset<Row> scored = Sidecar.runSpark(iris.archive(), "classify", Iris.frame(spark, 3),
        IN_PROCESS);
    StructType schema = scored.schema();
    assertEquals(DataTypes.StringType, schema.apply("label").dataType());
    assertEquals(DataTypes.createArrayType(DataTypes.FloatType, false),
        schema.apply("probabilities").dataType());
    assertEquals(8, schema.fields().length, "6 input columns + 2 outputs");
    Iris.assertMatchesExpected(scored, "");
  }

  @Test
  void tensorApiWithArrayColumn() {
    Dataset<Row> df = Iris.withFeatureArray(Iris.frame(spark, 2));
    Iris.assertMatchesExpected(Sidecar.runSpark(iris.archive().toString(), "classify_tensor", df,
        IN_PROCESS.toBuilder().outputPrefix("pred_").build()), "pred_");
  }

  @Test
  void tensorApiWithVectorColumn() {
    Dataset<Row> df = Iris.withFeatureVector(Iris.frame(spark, 2));
    Iris.assertMatchesExpected(Sidecar.runSpark(iris.archive(), "classify_tensor", df,
        IN_PROCESS), "");
  }

  @Test
  void dropInputColumnsKeepsOnlyOutputs() {
    Dataset<Row> scored = Sidecar.runSpark(iris.archive(), "classify", Iris.frame(spark, 2),
        IN_PROCESS.toBuilder().keepInputColumns(false).build());
    assertEquals(2, scored.schema().fields().length);
    assertEquals(150, scored.count());
  }
}
