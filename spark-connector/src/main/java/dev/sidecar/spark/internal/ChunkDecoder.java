package dev.sidecar.spark.internal;

import com.google.protobuf.ByteString;
import dev.sidecar.bundle.DType;
import dev.sidecar.proto.inference.ModelInferResponse;
import dev.sidecar.tensor.Float16;
import dev.sidecar.tensor.RawCodec;
import java.util.List;
import org.apache.spark.sql.catalyst.expressions.UnsafeArrayData;
import org.apache.spark.sql.catalyst.util.ArrayBasedMapData;
import org.apache.spark.sql.catalyst.util.ArrayData;
import org.apache.spark.sql.catalyst.util.GenericArrayData;
import org.apache.spark.unsafe.Platform;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * Turns a response's raw output tensors (decoded by {@link RawCodec}) into the values of the
 * output columns, in Spark's internal representation: one array of per-row values per output
 * column, typed as {@link SparkTypes#sparkType} says (strings as {@code UTF8String}); array
 * columns get an {@code UnsafeArrayData} per row, copied straight from the decoded primitive
 * array. Checks every tensor's name and element count against the plan.
 */
final class ChunkDecoder {
  private final ScoringPlan plan;

  ChunkDecoder(ScoringPlan plan) {
    this.plan = plan;
  }

  /** Values per output column, per valid row; throws {@link IllegalStateException} on a malformed response. */
  Object[][] decode(ModelInferResponse response, int rows) {
    return decode(response, rows, null);
  }

  /**
   * Values per output column, per valid row, taking the outputs written into shared memory from
   * {@code shared} (null entries, or null: from the response).
   */
  Object[][] decode(ModelInferResponse response, int rows, ByteString[] shared) {
    List<OutputColumn> outputs = plan.outputs();
    if (response.getRawOutputContentsCount() != outputs.size()) {
      throw new IllegalStateException("expected " + outputs.size() + " raw outputs "
          + outputs.stream().map(OutputColumn::tensorName).toList() + ", got "
          + response.getRawOutputContentsCount());
    }
    Object[][] values = new Object[outputs.size()][];
    for (int i = 0; i < outputs.size(); i++) {
      OutputColumn o = outputs.get(i);
      if (response.getOutputsCount() == outputs.size()
          && !response.getOutputs(i).getName().equals(o.tensorName())) {
        throw new IllegalStateException("output " + i + " is '" + response.getOutputs(i).getName()
            + "', expected '" + o.tensorName() + "'");
      }
      ByteString raw = response.getRawOutputContents(i);
      if (shared != null && shared[i] != null) {
        if (!raw.isEmpty()) {
          throw new IllegalStateException("output '" + o.tensorName() + "' was asked for in "
              + "shared memory but came in the response");
        }
        long elems = 1;
        for (long d : response.getOutputs(i).getShapeList()) {
          elems *= d;
        }
        if (response.getOutputsCount() != outputs.size()
            || elems != (long) rows * o.elementsPerRow()) {
          throw new IllegalStateException("output '" + o.tensorName() + "' in shared memory has "
              + "shape " + (response.getOutputsCount() == outputs.size()
                  ? response.getOutputs(i).getShapeList() : "(none)") + ", expected "
              + (long) rows * o.elementsPerRow() + " elements");
        }
        raw = shared[i];
      }
      try {
        values[i] = decodeColumn(o, raw, rows);
      } catch (IllegalArgumentException e) {
        throw new IllegalStateException("output '" + o.tensorName() + "': " + e.getMessage(), e);
      }
    }
    return values;
  }

  private static Object[] decodeColumn(OutputColumn o, ByteString raw, int rows) {
    int k = o.elementsPerRow();
    int n = rows * k;
    DType t = o.dtype();
    Object[] out = new Object[rows];
    switch (t) {
      case FLOAT32: case FLOAT16: {
        float[] a = t == DType.FLOAT32 ? RawCodec.decodeFloats(raw) : Float16.decode(raw);
        check(o, a.length, n);
        if (o.mapKeys() != null) {
          ArrayData keys = mapKeys(o);
          for (int r = 0; r < rows; r++) {
            out[r] = new ArrayBasedMapData(keys, slice(a, Platform.FLOAT_ARRAY_OFFSET, r, k, 4));
          }
          break;
        }
        for (int r = 0; r < rows; r++) {
          out[r] = o.array() ? slice(a, Platform.FLOAT_ARRAY_OFFSET, r, k, 4) : (Object) a[r];
        }
        break;
      }
      case FLOAT64: {
        double[] a = RawCodec.decodeDoubles(raw);
        check(o, a.length, n);
        for (int r = 0; r < rows; r++) {
          out[r] = o.array() ? slice(a, Platform.DOUBLE_ARRAY_OFFSET, r, k, 8) : (Object) a[r];
        }
        break;
      }
      case INT64: {
        long[] a = RawCodec.decodeLongs(raw);
        check(o, a.length, n);
        for (int r = 0; r < rows; r++) {
          out[r] = o.array() ? slice(a, Platform.LONG_ARRAY_OFFSET, r, k, 8) : (Object) a[r];
        }
        break;
      }
      case BOOL: {
        boolean[] a = RawCodec.decodeBooleans(raw);
        check(o, a.length, n);
        for (int r = 0; r < rows; r++) {
          out[r] = o.array() ? slice(a, Platform.BOOLEAN_ARRAY_OFFSET, r, k, 1) : (Object) a[r];
        }
        break;
      }
      case STRING: {
        String[] a = RawCodec.decodeStrings(raw, n);
        for (int r = 0; r < rows; r++) {
          if (o.array()) {
            Object[] u = new Object[k];
            for (int j = 0; j < k; j++) {
              u[j] = UTF8String.fromString(a[r * k + j]);
            }
            out[r] = new GenericArrayData(u);
          } else {
            out[r] = UTF8String.fromString(a[r]);
          }
        }
        break;
      }
      default: {
        int[] a = RawCodec.decodeInts(t, raw);
        check(o, a.length, n);
        for (int r = 0; r < rows; r++) {
          out[r] = o.array() ? intsRow(t, a, r * k, k) : intValue(t, a[r]);
        }
      }
    }
    return out;
  }

  /** The keys of a map column (shared by its rows: Spark copies them when it writes a row). */
  private static ArrayData mapKeys(OutputColumn o) {
    List<String> keys = o.mapKeys();
    if (o.mapKeyType() == DType.INT64) {
      long[] k = new long[keys.size()];
      for (int j = 0; j < k.length; j++) {
        k[j] = Long.parseLong(keys.get(j));
      }
      return UnsafeArrayData.fromPrimitiveArray(k);
    }
    Object[] k = new Object[keys.size()];
    for (int j = 0; j < k.length; j++) {
      k[j] = UTF8String.fromString(keys.get(j));
    }
    return new GenericArrayData(k);
  }

  /** Row {@code r}'s {@code k} elements of a primitive array, as Spark's unsafe array. */
  private static UnsafeArrayData slice(Object array, int baseOffset, int r, int k, int size) {
    return UnsafeArrayData.fromPrimitiveArray(array, baseOffset + r * k * size, k, size);
  }

  /** INT8 as Byte, INT16 and UINT8 as Short, INT32 as Integer (see {@link SparkTypes#sparkType}). */
  private static Object intValue(DType t, int v) {
    switch (t) {
      case INT8: return (byte) v;
      case INT16: case UINT8: return (short) v;
      default: return v;
    }
  }

  private static UnsafeArrayData intsRow(DType t, int[] a, int from, int k) {
    switch (t) {
      case INT8: {
        byte[] b = new byte[k];
        for (int j = 0; j < k; j++) {
          b[j] = (byte) a[from + j];
        }
        return UnsafeArrayData.fromPrimitiveArray(b);
      }
      case INT16: case UINT8: {
        short[] s = new short[k];
        for (int j = 0; j < k; j++) {
          s[j] = (short) a[from + j];
        }
        return UnsafeArrayData.fromPrimitiveArray(s);
      }
      default:
        return UnsafeArrayData.fromPrimitiveArray(a, Platform.INT_ARRAY_OFFSET + from * 4, k, 4);
    }
  }

  private static void check(OutputColumn o, int found, int expected) {
    if (found != expected) {
      throw new IllegalStateException("output '" + o.tensorName() + "' holds " + found
          + " elements, expected " + expected);
    }
  }
}
