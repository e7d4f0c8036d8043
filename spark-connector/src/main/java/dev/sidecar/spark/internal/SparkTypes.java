package dev.sidecar.spark.internal;

import dev.sidecar.bundle.ColumnSpec;
import dev.sidecar.bundle.DType;
import dev.sidecar.bundle.OutputSpec;
import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.BooleanType;
import org.apache.spark.sql.types.ByteType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.DecimalType;
import org.apache.spark.sql.types.DoubleType;
import org.apache.spark.sql.types.FloatType;
import org.apache.spark.sql.types.IntegerType;
import org.apache.spark.sql.types.LongType;
import org.apache.spark.sql.types.ShortType;
import org.apache.spark.sql.types.StringType;

/**
 * The one place that maps Spark SQL types to and from sidecar's {@link DType}: the Spark type of
 * an output column, and which Spark columns may feed an input column (and how).
 */
public final class SparkTypes {
  private SparkTypes() {
  }

  /** How a Spark column's values reach an input tensor. */
  public enum Source {
    /** One value per row. */
    SCALAR,
    /** A Spark array of fixed length per row. */
    ARRAY,
    /** A Spark ML vector (dense or sparse) of fixed size per row. */
    VECTOR
  }

  /** The Spark type that holds values of {@code t} in an output column. */
  public static DataType sparkType(DType t) {
    switch (t) {
      case BOOL: return DataTypes.BooleanType;
      case INT8: return DataTypes.ByteType;
      case INT16: return DataTypes.ShortType;
      case UINT8: return DataTypes.ShortType;   // 0..255 does not fit a signed byte
      case INT32: return DataTypes.IntegerType;
      case INT64: return DataTypes.LongType;
      case FLOAT16: return DataTypes.FloatType;  // Spark has no half precision
      case FLOAT32: return DataTypes.FloatType;
      case FLOAT64: return DataTypes.DoubleType;
      case STRING: return DataTypes.StringType;
      default: throw new IllegalArgumentException("no Spark type for dtype " + t);
    }
  }

  /** The Spark type of an API output column: a scalar, or an array for {@code [-1, k]}. */
  public static DataType outputType(OutputSpec o) {
    DataType element = sparkType(o.columnDType());
    if (o.classMap() != null && o.classMap().asMap()) {
      // A ZipMap output asked for as a map: class key -> probability.
      return DataTypes.createMapType(sparkType(o.classMap().keyType()), element, false);
    }
    return o.shape().size() > 1 ? DataTypes.createArrayType(element, false) : element;
  }

  /** What a user should put in a column for {@code c}, for error messages. */
  public static String expected(ColumnSpec c) {
    String what = c.dtype() == DType.STRING ? "a string column"
        : c.dtype() == DType.BOOL ? "a boolean column" : "a numeric column";
    if (c.shape().size() <= 1) {
      return c.dtype().id() + " scalar (" + what + ")";
    }
    String kinds = c.dtype() == DType.FLOAT32 || c.dtype() == DType.FLOAT64
        || c.dtype() == DType.FLOAT16
        ? "an array or ML vector" : "an array";
    return c.dtype().id() + "[" + c.elementsPerRow() + "] (" + kinds + " of "
        + c.elementsPerRow() + " elements per row)";
  }

  /**
   * How a Spark column of type {@code found} feeds {@code c}, or null when it cannot.
   * Integral columns feed any numeric dtype, fractional ones only floating dtypes; booleans feed
   * bool, strings feed string; arrays of those feed array columns, and ML vectors feed floating
   * array columns.
   */
  public static Source sourceFor(ColumnSpec c, DataType found) {
    if (c.shape().size() <= 1) {
      return elementFits(c.dtype(), found) ? Source.SCALAR : null;
    }
    if (found instanceof ArrayType && elementFits(c.dtype(), ((ArrayType) found).elementType())) {
      return Source.ARRAY;
    }
    if (isVector(found) && isFloating(c.dtype())) {
      return Source.VECTOR;
    }
    return null;
  }

  /** The Spark type of the values read per element: the column's type, or an array's element type. */
  public static DataType elementType(DataType found, Source source) {
    switch (source) {
      case SCALAR: return found;
      case ARRAY: return ((ArrayType) found).elementType();
      case VECTOR: return DataTypes.DoubleType;
      default: throw new IllegalArgumentException(String.valueOf(source));
    }
  }

  /** Whether an array column's elements may be null (then every element is checked). */
  public static boolean arrayMayHoldNulls(DataType found) {
    return found instanceof ArrayType && ((ArrayType) found).containsNull();
  }

  public static boolean isVector(DataType t) {
    return SQLDataTypes.VectorType().equals(t);
  }

  private static boolean elementFits(DType target, DataType found) {
    switch (target) {
      case BOOL: return found instanceof BooleanType;
      case STRING: return found instanceof StringType;
      case FLOAT16: case FLOAT32: case FLOAT64:
        return isIntegral(found) || found instanceof FloatType || found instanceof DoubleType
            || found instanceof DecimalType;
      default:
        return isIntegral(found);
    }
  }

  private static boolean isIntegral(DataType t) {
    return t instanceof ByteType || t instanceof ShortType || t instanceof IntegerType
        || t instanceof LongType;
  }

  private static boolean isFloating(DType t) {
    return t == DType.FLOAT16 || t == DType.FLOAT32 || t == DType.FLOAT64;
  }
}
