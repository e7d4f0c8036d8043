package dev.sidecar.spark.tools;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.types.StructType;

/**
 * DataFrames made of Spark's internal rows, without converting every value to and from Java
 * objects: the scoring path reads a DataFrame's {@code queryExecution().toRdd()} and returns
 * its rows through {@code SparkSession.internalCreateDataFrame} (Scala {@code private[sql]},
 * public in bytecode; on Spark 4 it lives on the classic session, so it is found by reflection,
 * which keeps one source for Spark 3.5 and 4). The benchmarks' baseline, ONNX Runtime called in
 * {@code mapPartitions}, returns its rows the same way.
 */
public final class InternalFrames {
  private InternalFrames() {
  }

  /** A DataFrame of {@code schema} over {@code rdd}'s rows, which must match the schema. */
  @SuppressWarnings("unchecked")
  public static Dataset<Row> create(SparkSession spark, RDD<InternalRow> rdd, StructType schema) {
    Method m;
    try {
      m = spark.getClass().getMethod("internalCreateDataFrame", RDD.class, StructType.class,
          boolean.class);
    } catch (NoSuchMethodException e) {
      throw new IllegalStateException("this Spark (" + spark.version() + ") has no"
          + " internalCreateDataFrame(RDD, StructType, boolean) on " + spark.getClass().getName(),
          e);
    }
    try {
      return (Dataset<Row>) m.invoke(spark, rdd, schema, false);
    } catch (InvocationTargetException e) {
      Throwable cause = e.getCause();
      if (cause instanceof RuntimeException) {
        throw (RuntimeException) cause;
      }
      throw new IllegalStateException("internalCreateDataFrame failed: " + cause, cause);
    } catch (IllegalAccessException e) {
      throw new IllegalStateException("cannot call internalCreateDataFrame on "
          + spark.getClass().getName(), e);
    }
  }
}
