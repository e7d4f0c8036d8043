package dev.sidecar.spark.internal;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.struct;

import java.io.Serializable;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.Iterator;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.Attribute;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.plans.logical.MapPartitions;
import org.apache.spark.sql.catalyst.types.DataTypeUtils;
import org.apache.spark.sql.types.Metadata;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import scala.runtime.AbstractFunction1;

/**
 * A partition function over Spark's internal rows as a logical plan node, so it works on a
 * streaming DataFrame (whose {@code queryExecution().toRdd()} Spark refuses) and the result is
 * a streaming DataFrame that {@code writeStream} runs, micro-batch after micro-batch.
 *
 * <p>The plan is {@code select(struct(*) as in)} → Catalyst's own {@code MapPartitions} node
 * (the one {@code Dataset.mapPartitions} builds; every Spark line plans it, streaming or not) →
 * {@code select} of the output struct's fields. {@code MapPartitions} hands its function the
 * single input column's value, which for a struct column is the row itself as an {@code InternalRow} (an
 * {@code UnsafeRow} over the projection's bytes, not a copy); the function's output rows are
 * the output struct's values. No value is converted to or from a Java object: the cost over
 * {@link dev.sidecar.spark.tools.InternalFrames} is one unsafe projection in (the struct) and
 * two out (the struct, then its fields).
 */
public final class StreamingFrames {
  private static final String IN = "__sidecar_in";
  private static final String OUT = "__sidecar_out";

  private StreamingFrames() {
  }

  /** {@code f} applied to every partition of {@code df}; the result has {@code schema}. */
  public static Dataset<Row> mapPartitions(Dataset<Row> df,
      FlatMapFunction<Iterator<InternalRow>, InternalRow> f, StructType schema) {
    LogicalPlan packed = df.select(struct(col("*")).as(IN)).queryExecution().analyzed();
    // The output struct's fields are named _0.._n-1 and renamed on the way out, so any column
    // names (duplicates, dots, backticks) come out as they are, as in batch.
    StructField[] fields = schema.fields();
    StructField[] numbered = new StructField[fields.length];
    Column[] named = new Column[fields.length];
    for (int i = 0; i < fields.length; i++) {
      numbered[i] = new StructField("_" + i, fields[i].dataType(), fields[i].nullable(),
          Metadata.empty());
      named[i] = col(OUT + "._" + i).as(fields[i].name(), fields[i].metadata());
    }
    Attribute out = DataTypeUtils.toAttribute(new StructField(OUT, new StructType(numbered),
        false, Metadata.empty()));
    LogicalPlan mapped = new MapPartitions(new PartitionFunction(f), out, packed);
    return ofRows(df.sparkSession(), mapped).select(named);
  }

  /**
   * {@code Dataset.ofRows(session, plan)}: Scala {@code private[sql]} (public in bytecode), on
   * {@code org.apache.spark.sql.Dataset} in Spark 3.5 and on {@code ...sql.classic.Dataset} in
   * Spark 4, next to the session's class; found by reflection to keep one source for both.
   */
  @SuppressWarnings("unchecked")
  private static Dataset<Row> ofRows(SparkSession spark, LogicalPlan plan) {
    String datasetClass = spark.getClass().getPackageName() + ".Dataset";
    Method ofRows = null;
    try {
      for (Method m : Class.forName(datasetClass, true, spark.getClass().getClassLoader())
          .getMethods()) {
        if (m.getName().equals("ofRows") && Modifier.isStatic(m.getModifiers())
            && m.getParameterCount() == 2
            && m.getParameterTypes()[0].isInstance(spark)
            && m.getParameterTypes()[1] == LogicalPlan.class) {
          ofRows = m;
        }
      }
    } catch (ClassNotFoundException e) {
      throw new IllegalStateException("this Spark (" + spark.version() + ") has no "
          + datasetClass, e);
    }
    if (ofRows == null) {
      throw new IllegalStateException("this Spark (" + spark.version() + ") has no static"
          + " ofRows(SparkSession, LogicalPlan) on " + datasetClass);
    }
    try {
      return (Dataset<Row>) ofRows.invoke(null, spark, plan);
    } catch (InvocationTargetException e) {
      Throwable cause = e.getCause();
      if (cause instanceof RuntimeException) {
        throw (RuntimeException) cause;
      }
      throw new IllegalStateException(datasetClass + ".ofRows failed: " + cause, cause);
    } catch (IllegalAccessException e) {
      throw new IllegalStateException("cannot call " + datasetClass + ".ofRows", e);
    }
  }

  /** {@code MapPartitions}' function: Scala iterators of rows around a Java partition function. */
  static final class PartitionFunction
      extends AbstractFunction1<scala.collection.Iterator<Object>, scala.collection.Iterator<Object>>
      implements Serializable {
    private static final long serialVersionUID = 1L;
    private final FlatMapFunction<Iterator<InternalRow>, InternalRow> f;

    PartitionFunction(FlatMapFunction<Iterator<InternalRow>, InternalRow> f) {
      this.f = f;
    }

    @Override
    public scala.collection.Iterator<Object> apply(scala.collection.Iterator<Object> in) {
      Iterator<InternalRow> rows = new Iterator<>() {
        @Override
        public boolean hasNext() {
          return in.hasNext();
        }

        @Override
        public InternalRow next() {
          return (InternalRow) in.next();
        }
      };
      Iterator<InternalRow> out;
      try {
        out = f.call(rows);
      } catch (RuntimeException e) {
        throw e;
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
      return new ScalaRows(out);
    }
  }

  /** A Java iterator as a Scala one (Scala's converters name types that differ by version). */
  static final class ScalaRows implements scala.collection.Iterator<Object> {
    private final Iterator<InternalRow> rows;

    ScalaRows(Iterator<InternalRow> rows) {
      this.rows = rows;
    }

    @Override
    public boolean hasNext() {
      return rows.hasNext();
    }

    @Override
    public Object next() {
      return rows.next();
    }
  }
}
