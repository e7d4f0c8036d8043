package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
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

/** A null input fails the task naming column and row, unless allowNulls lets the row pass. */
@EveryLine
class NullsTest {
  private static SparkSession spark;
  private static TestBundles.Built kinds;
  private static Dataset<Row> df;
  private static final RunOptions OPTS = RunOptions.builder()
      .sidecarMode(SidecarMode.IN_PROCESS).chunkRows(4).build();

  @BeforeAll
  static void start() {
    spark = TestSpark.local("local[2]", "NullsTest");
    kinds = TestBundles.kinds("kinds_nulls", "1.0.0");
    StructType schema = new StructType().add("id", DataTypes.IntegerType)
        .add("f32", DataTypes.FloatType)
        .add("f32x3_arr", DataTypes.createArrayType(DataTypes.FloatType, true));
    List<Row> rows = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      // rows 4..7 are a whole chunk of nulls; row 13 has a null scalar; row 17 a null element.
      boolean nullScalar = (i >= 4 && i <= 7) || i == 13;
      rows.add(RowFactory.create(i, nullScalar ? null : (float) i,
          i == 17 ? Arrays.asList(1f, null, 3f) : (i >= 4 && i <= 7 ? null : Arrays.asList(1f, 2f, (float) i))));
    }
    df = spark.createDataFrame(rows, schema).coalesce(1);
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  @Test
  void nullScalarFailsNamingColumnAndRow() {
    SparkException e = assertThrows(SparkException.class,
        () -> Sidecar.runSpark(kinds.archive(), "f32", df, OPTS).collectAsList());
    assertTrue(e.getMessage().contains("column 'f32' is null"), e.getMessage());
    assertTrue(e.getMessage().contains("at row 4 of partition 0"), e.getMessage());
    assertTrue(e.getMessage().contains("allowNulls"), e.getMessage());
  }

  @Test
  void nullArrayElementFailsNamingColumnAndRow() {
    Dataset<Row> noNullArrays = df.where("id > 7");
    SparkException e = assertThrows(SparkException.class,
        () -> Sidecar.runSpark(kinds.archive(), "f32x3_arr", noNullArrays, OPTS).collectAsList());
    assertTrue(e.getMessage().contains("column 'f32x3_arr'"), e.getMessage());
    assertTrue(e.getMessage().contains("at row 9 of partition 0"), e.getMessage());
  }

  @Test
  void allowNullsPassesNullRowsWithNullOutputs() {
    RunOptions allow = OPTS.toBuilder().allowNulls(true).build();
    Dataset<Row> scored = Sidecar.runSpark(kinds.archive(), "f32", df, allow);
    assertTrue(scored.schema().apply("out").nullable());
    List<Row> rows = scored.orderBy("id").collectAsList();
    assertEquals(20, rows.size());
    for (Row r : rows) {
      int i = r.getInt(0);
      if ((i >= 4 && i <= 7) || i == 13) {
        assertNull(r.get(3), "row " + i);
      } else {
        assertEquals((float) i, r.getFloat(3), "row " + i);
      }
    }
    List<Row> arrays = Sidecar.runSpark(kinds.archive(), "f32x3_arr", df, allow).orderBy("id")
        .collectAsList();
    for (Row r : arrays) {
      int i = r.getInt(0);
      if ((i >= 4 && i <= 7) || i == 17) {
        assertNull(r.get(3), "row " + i);
      } else {
        assertEquals(Arrays.asList(1f, 2f, (float) i), r.getList(3), "row " + i);
      }
    }
  }
}
