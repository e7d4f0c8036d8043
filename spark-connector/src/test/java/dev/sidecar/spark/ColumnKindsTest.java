package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sidecar.spark.RunOptions.SidecarMode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every supported column kind goes through an identity model and comes back equal: each scalar
 * dtype from its own Spark type and from wider/narrower integral types, arrays, dense and
 * sparse ML vectors, strings, booleans, float16, and a dataframe of separate model inputs.
 */
@EveryLine
class ColumnKindsTest {
  private static final int N = 40;
  private static SparkSession spark;
  private static TestBundles.Built kinds;
  private static Dataset<Row> df;
  private static final RunOptions OPTS = RunOptions.builder()
      .sidecarMode(SidecarMode.IN_PROCESS).chunkRows(7).chunksInFlight(2).build();

  @BeforeAll
  static void start() {
    spark = TestSpark.local("local[2]", "ColumnKindsTest");
    kinds = TestBundles.kinds();
    StructType schema = new StructType()
        .add("id", DataTypes.IntegerType, false)
        .add("f32", DataTypes.FloatType)
        .add("f64", DataTypes.DoubleType)
        .add("i8", DataTypes.ByteType)
        .add("u8", DataTypes.IntegerType)
        .add("i16", DataTypes.ShortType)
        .add("i32", DataTypes.IntegerType)
        .add("i64", DataTypes.LongType)
        .add("bool", DataTypes.BooleanType)
        .add("str", DataTypes.StringType)
        .add("f16", DataTypes.FloatType)
        .add("f32x3_arr", DataTypes.createArrayType(DataTypes.DoubleType))
        .add("f32x3_vec", SQLDataTypes.VectorType())
        .add("i64x3", DataTypes.createArrayType(DataTypes.IntegerType))
        .add("strx2", DataTypes.createArrayType(DataTypes.StringType))
        .add("boolx2", DataTypes.createArrayType(DataTypes.BooleanType))
        .add("a", DataTypes.FloatType)
        .add("b", DataTypes.LongType)
        .add("c", DataTypes.DoubleType);
    List<Row> rows = new ArrayList<>();
    for (int i = 0; i < N; i++) {
      rows.add(RowFactory.create(i, i * 0.5f, i * 0.25, (byte) (i - 20), i * 6, (short) (i * 700),
          i * 100_000, i * 10_000_000_000L, i % 3 == 0, "s" + i + "\u00e9\u4e2d", i * 0.5f,
          Arrays.asList(i + 0.5, i + 1.5, i + 2.5),
          i % 2 == 0 ? Vectors.dense(i, -i, 0.25) : Vectors.sparse(3, new int[] {1}, new double[] {i}),
          Arrays.asList(i, -i, i * 3),
          Arrays.asList("x" + i, ""),
          Arrays.asList(i % 2 == 0, true),
          (float) i, (long) (2 * i), i * 0.5));
    }
    df = spark.createDataFrame(rows, schema).repartition(3).cache();
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  /** Collected and sorted by id on the driver (no shuffle). */
  private static List<Row> byId(Dataset<Row> d) {
    List<Row> rows = new ArrayList<>(d.collectAsList());
    rows.sort(java.util.Comparator.comparingInt(r -> r.getInt(0)));
    return rows;
  }

  private static Dataset<Row> scored(String api) {
    return Sidecar.runSpark(kinds.archive(), api, df, OPTS.toBuilder().outputPrefix(api + "_")
        .build());
  }

  private static void assertOutputType(String api, DataType expected) {
    assertEquals(expected, scored(api).schema().apply(api + "_out").dataType(), api);
  }

  @Test
  void scalarsComeBackAsTheirDtypesSparkType() {
    assertOutputType("f32", DataTypes.FloatType);
    assertOutputType("f64", DataTypes.DoubleType);
    assertOutputType("i8", DataTypes.ByteType);
    assertOutputType("u8", DataTypes.ShortType);
    assertOutputType("i16", DataTypes.ShortType);
    assertOutputType("i32", DataTypes.IntegerType);
    assertOutputType("i64", DataTypes.LongType);
    assertOutputType("bool", DataTypes.BooleanType);
    assertOutputType("str", DataTypes.StringType);
    assertOutputType("f16", DataTypes.FloatType);
    assertOutputType("f32x3_arr", DataTypes.createArrayType(DataTypes.FloatType, false));
    assertOutputType("i64x3", DataTypes.createArrayType(DataTypes.LongType, false));
  }

  @Test
  void everyScalarKindRoundTrips() {
    for (String api : List.of("f32", "f64", "i8", "u8", "i16", "i32", "i64", "bool", "str", "f16")) {
      List<Row> rows = byId(scored(api));
      assertEquals(N, rows.size(), api);
      for (Row r : rows) {
        int i = r.getInt(0);
        Object out = r.get(r.fieldIndex(api + "_out"));
        Object expected;
        switch (api) {
          case "f32": expected = i * 0.5f; break;
          case "f64": expected = i * 0.25; break;
          case "i8": expected = (byte) (i - 20); break;
          case "u8": expected = (short) (i * 6); break;
          case "i16": expected = (short) (i * 700); break;
          case "i32": expected = i * 100_000; break;
          case "i64": expected = i * 10_000_000_000L; break;
          case "bool": expected = i % 3 == 0; break;
          case "str": expected = "s" + i + "\u00e9\u4e2d"; break;
          case "f16": expected = i * 0.5f; break;
          default: throw new AssertionError(api);
        }
        assertEquals(expected, out, api + " row " + i);
      }
    }
  }

  @Test
  void integralColumnsAreCastToTheDeclaredDtype() {
    // i32 (IntegerType) into float32, int64 and int8 inputs.
    Dataset<Row> ints = df.selectExpr("id", "i32 as f32", "i32 as i64", "cast(id as long) as i8");
    List<Row> f = byId(Sidecar.runSpark(kinds.archive(), "f32", ints, OPTS));
    List<Row> l = byId(Sidecar.runSpark(kinds.archive(), "i64", ints, OPTS));
    List<Row> b = byId(Sidecar.runSpark(kinds.archive(), "i8", ints, OPTS));
    for (int i = 0; i < N; i++) {
      assertEquals((float) (i * 100_000), f.get(i).getFloat(4));
      assertEquals((long) (i * 100_000), l.get(i).getLong(4));
      assertEquals((byte) i, b.get(i).getByte(4));
    }
  }

  @Test
  void arraysAndVectorsRoundTrip() {
    List<Row> arr = byId(scored("f32x3_arr"));
    List<Row> vec = byId(scored("f32x3_vec"));
    List<Row> longs = byId(scored("i64x3"));
    List<Row> strs = byId(scored("strx2"));
    List<Row> bools = byId(scored("boolx2"));
    for (int i = 0; i < N; i++) {
      assertArrayEquals(new Object[] {i + 0.5f, i + 1.5f, i + 2.5f},
          arr.get(i).getList(arr.get(i).fieldIndex("f32x3_arr_out")).toArray(), "array row " + i);
      Object[] v = i % 2 == 0 ? new Object[] {(float) i, (float) -i, 0.25f}
          : new Object[] {0f, (float) i, 0f};
      assertArrayEquals(v, vec.get(i).getList(vec.get(i).fieldIndex("f32x3_vec_out")).toArray(),
          "vector row " + i);
      assertArrayEquals(new Object[] {(long) i, (long) -i, (long) i * 3},
          longs.get(i).getList(longs.get(i).fieldIndex("i64x3_out")).toArray(), "longs row " + i);
      assertArrayEquals(new Object[] {"x" + i, ""},
          strs.get(i).getList(strs.get(i).fieldIndex("strx2_out")).toArray(), "strings row " + i);
      assertArrayEquals(new Object[] {i % 2 == 0, true},
          bools.get(i).getList(bools.get(i).fieldIndex("boolx2_out")).toArray(), "bools row " + i);
    }
  }

  @Test
  void dataframeOfSeparateModelInputs() {
    List<Row> rows = byId(scored("sum"));
    for (Row r : rows) {
      int i = r.getInt(0);
      assertEquals(i + 2f * i + i * 0.5f, r.getFloat(r.fieldIndex("sum_out")), 1e-6, "row " + i);
    }
  }
}
