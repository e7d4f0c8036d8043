package dev.sidecar.spark.internal;

import com.google.protobuf.ByteString;
import dev.sidecar.bundle.DType;
import dev.sidecar.proto.inference.ModelInferResponse;
import dev.sidecar.tensor.RawCodec;
import java.util.Arrays;
import java.util.List;

/**
 * Turns a response's raw output tensors (decoded by {@link RawCodec}) into the values of the
 * output columns: one array of per-row values per output column, typed as
 * {@link SparkTypes#sparkType} says; array columns get a Java primitive array (or
 * {@code String[]}) per row. Checks every tensor's name and element count against the plan.
 */
final class ChunkDecoder {
  private final ScoringPlan plan;

  ChunkDecoder(ScoringPlan plan) {
    this.plan = plan;
  }

  /** Values per output column, per valid row; throws {@link IllegalStateException} on a malformed response. */
  Object[][] decode(ModelInferResponse response, int rows) {
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
      try {
        values[i] = decodeColumn(o, response.getRawOutputContents(i), rows);
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
        float[] a = t == DType.FLOAT32 ? RawCodec.decodeFloats(raw) : RawCodec.decodeHalfs(raw);
        check(o, a.length, n);
        for (int r = 0; r < rows; r++) {
          out[r] = o.array() ? Arrays.copyOfRange(a, r * k, r * k + k) : (Object) a[r];
        }
        break;
      }
      case FLOAT64: {
        double[] a = RawCodec.decodeDoubles(raw);
        check(o, a.length, n);
        for (int r = 0; r < rows; r++) {
          out[r] = o.array() ? Arrays.copyOfRange(a, r * k, r * k + k) : (Object) a[r];
        }
        break;
      }
      case INT64: {
        long[] a = RawCodec.decodeLongs(raw);
        check(o, a.length, n);
        for (int r = 0; r < rows; r++) {
          out[r] = o.array() ? Arrays.copyOfRange(a, r * k, r * k + k) : (Object) a[r];
        }
        break;
      }
      case BOOL: {
        boolean[] a = RawCodec.decodeBooleans(raw);
        check(o, a.length, n);
        for (int r = 0; r < rows; r++) {
          out[r] = o.array() ? Arrays.copyOfRange(a, r * k, r * k + k) : (Object) a[r];
        }
        break;
      }
      case STRING: {
        String[] a = RawCodec.decodeStrings(raw, n);
        for (int r = 0; r < rows; r++) {
          out[r] = o.array() ? Arrays.copyOfRange(a, r * k, r * k + k) : a[r];
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

  /** INT8 as Byte, INT16 and UINT8 as Short, INT32 as Integer (see {@link SparkTypes#sparkType}). */
  private static Object intValue(DType t, int v) {
    switch (t) {
      case INT8: return (byte) v;
      case INT16: case UINT8: return (short) v;
      default: return v;
    }
  }

  private static Object intsRow(DType t, int[] a, int from, int k) {
    switch (t) {
      case INT8: {
        byte[] b = new byte[k];
        for (int j = 0; j < k; j++) {
          b[j] = (byte) a[from + j];
        }
        return b;
      }
      case INT16: case UINT8: {
        short[] s = new short[k];
        for (int j = 0; j < k; j++) {
          s[j] = (short) a[from + j];
        }
        return s;
      }
      default:
        return Arrays.copyOfRange(a, from, from + k);
    }
  }

  private static void check(OutputColumn o, int found, int expected) {
    if (found != expected) {
      throw new IllegalStateException("output '" + o.tensorName() + "' holds " + found
          + " elements, expected " + expected);
    }
  }
}
