package dev.sidecar.spark.internal;

import com.google.protobuf.UnsafeByteOperations;
import dev.sidecar.bundle.DType;
import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.spark.SidecarSparkException;
import dev.sidecar.tensor.RawCodec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import org.apache.spark.ml.linalg.DenseVector;
import org.apache.spark.ml.linalg.SparseVector;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Row;

/**
 * The one place that turns Spark rows into raw input tensors. A chunk of rows becomes one
 * {@link ModelInferRequest}, column by column: each column's values are gathered (cast to the
 * declared dtype) into a primitive array reused from chunk to chunk, then written by
 * {@link RawCodec} into a direct buffer that belongs to the request until it is answered. Rows
 * with a null input are skipped when nulls are allowed and rejected, naming the column and row,
 * when not.
 */
final class ChunkEncoder {
  private final ScoringPlan plan;
  private final int partition;
  private final Stage[] stages;

  ChunkEncoder(ScoringPlan plan, int partition) {
    this.plan = plan;
    this.partition = partition;
    this.stages = new Stage[plan.inputs().size()];
    for (int i = 0; i < stages.length; i++) {
      stages[i] = new Stage(plan.inputs().get(i).dtype());
    }
  }

  /** Per-column direct buffers of one in-flight request; reused once its answer has arrived. */
  static final class Buffers {
    private final ByteBuffer[] columns;

    Buffers(int columns) {
      this.columns = new ByteBuffer[columns];
    }

    ByteBuffer reset(int column, long bytes) {
      if (bytes > Integer.MAX_VALUE - 8) {
        throw new SidecarSparkException("one column of a chunk needs " + bytes
            + " bytes, more than a request can carry; use a smaller chunkRows");
      }
      ByteBuffer b = columns[column];
      if (b == null || b.capacity() < bytes) {
        b = ByteBuffer.allocateDirect((int) Math.max(bytes, 1024)).order(ByteOrder.LITTLE_ENDIAN);
        columns[column] = b;
      }
      b.clear();
      return b;
    }
  }

  /** One column's values for a chunk, in the Java type its dtype is written from. */
  private static final class Stage {
    final DType dtype;
    float[] floats;
    double[] doubles;
    long[] longs;
    int[] ints;
    boolean[] bools;
    String[] strings;
    int size;

    Stage(DType dtype) {
      this.dtype = dtype;
    }

    void reset(int elements) {
      size = 0;
      switch (dtype) {
        case FLOAT32: case FLOAT16:
          if (floats == null || floats.length < elements) {
            floats = new float[elements];
          }
          break;
        case FLOAT64:
          if (doubles == null || doubles.length < elements) {
            doubles = new double[elements];
          }
          break;
        case INT64:
          if (longs == null || longs.length < elements) {
            longs = new long[elements];
          }
          break;
        case BOOL:
          if (bools == null || bools.length < elements) {
            bools = new boolean[elements];
          }
          break;
        case STRING:
          if (strings == null || strings.length < elements) {
            strings = new String[elements];
          }
          break;
        default:
          if (ints == null || ints.length < elements) {
            ints = new int[elements];
          }
      }
    }

    void addNumber(Number n) {
      switch (dtype) {
        case FLOAT32: case FLOAT16: floats[size++] = n.floatValue(); break;
        case FLOAT64: doubles[size++] = n.doubleValue(); break;
        case INT64: longs[size++] = n.longValue(); break;
        default: ints[size++] = n.intValue();
      }
    }

    void addDouble(double d) {
      switch (dtype) {
        case FLOAT32: case FLOAT16: floats[size++] = (float) d; break;
        case FLOAT64: doubles[size++] = d; break;
        case INT64: longs[size++] = (long) d; break;
        default: ints[size++] = (int) d;
      }
    }

    void add(Object value) {
      if (dtype == DType.BOOL) {
        bools[size++] = (Boolean) value;
      } else if (dtype == DType.STRING) {
        strings[size++] = (String) value;
      } else {
        addNumber((Number) value);
      }
    }

    long byteLength() {
      return dtype == DType.STRING ? RawCodec.byteLength(strings, 0, size)
          : RawCodec.byteLength(dtype, size);
    }

    void writeTo(ByteBuffer b) {
      switch (dtype) {
        case FLOAT32: RawCodec.writeFloats(b, floats, 0, size); break;
        case FLOAT16: RawCodec.writeHalfs(b, floats, 0, size); break;
        case FLOAT64: RawCodec.writeDoubles(b, doubles, 0, size); break;
        case INT64: RawCodec.writeLongs(b, longs, 0, size); break;
        case BOOL: RawCodec.writeBooleans(b, bools, 0, size); break;
        case STRING:
          RawCodec.writeStrings(b, strings, 0, size);
          java.util.Arrays.fill(strings, 0, size, null);
          break;
        default: RawCodec.writeInts(b, dtype, ints, 0, size);
      }
    }
  }

  /**
   * Marks the rows of the chunk whose inputs are all non-null; returns how many. A null fails
   * here, naming the column and the row, unless the plan allows nulls.
   *
   * @param firstRow index within the partition of {@code rows[0]}, for messages
   */
  int markValid(Row[] rows, int count, boolean[] valid, long firstRow) {
    int validCount = 0;
    for (int r = 0; r < count; r++) {
      Row row = rows[r];
      String nullColumn = null;
      for (InputColumn c : plan.inputs()) {
        if (row.isNullAt(c.fieldIndex()) || (c.elementsMayBeNull() && hasNullElement(row, c))) {
          nullColumn = c.name();
          break;
        }
      }
      if (nullColumn == null) {
        valid[r] = true;
        validCount++;
      } else if (plan.options().allowNulls()) {
        valid[r] = false;
      } else {
        throw new SidecarSparkException("column '" + nullColumn + "' is null (or holds a null"
            + " element) at row " + (firstRow + r) + " of partition " + partition + "; API '"
            + plan.api() + "' needs a value in every row (RunOptions.allowNulls(true) lets such"
            + " rows pass with null outputs)");
      }
    }
    return validCount;
  }

  private static boolean hasNullElement(Row row, InputColumn c) {
    List<Object> list = row.getList(c.fieldIndex());
    for (int i = 0, n = list.size(); i < n; i++) {
      if (list.get(i) == null) {
        return true;
      }
    }
    return false;
  }

  /** Encodes the valid rows of a chunk into a request whose raw contents live in {@code buffers}. */
  ModelInferRequest encode(Row[] rows, int count, boolean[] valid, int validCount, Buffers buffers,
      String id, long firstRow) {
    ModelInferRequest.Builder request = ModelInferRequest.newBuilder()
        .setModelName(plan.api())
        .setId(id);
    List<InputColumn> inputs = plan.inputs();
    for (int ci = 0; ci < inputs.size(); ci++) {
      InputColumn c = inputs.get(ci);
      Stage stage = stages[ci];
      gather(c, stage, rows, count, valid, validCount, firstRow);
      ByteBuffer buf = buffers.reset(ci, stage.byteLength());
      stage.writeTo(buf);
      buf.flip();
      ModelInferRequest.InferInputTensor.Builder tensor = ModelInferRequest.InferInputTensor
          .newBuilder().setName(c.name()).setDatatype(c.dtype().oipName()).addShape(validCount);
      for (int d = 1; d < c.shape().size(); d++) {
        tensor.addShape(c.shape().get(d));
      }
      request.addInputs(tensor);
      request.addRawInputContents(UnsafeByteOperations.unsafeWrap(buf));
    }
    return request.build();
  }

  private void gather(InputColumn c, Stage stage, Row[] rows, int count, boolean[] valid,
      int validCount, long firstRow) {
    int field = c.fieldIndex();
    int k = c.elementsPerRow();
    stage.reset(validCount * k);
    for (int r = 0; r < count; r++) {
      if (!valid[r]) {
        continue;
      }
      Row row = rows[r];
      switch (c.source()) {
        case SCALAR:
          stage.add(row.get(field));
          break;
        case ARRAY: {
          List<Object> list = row.getList(field);
          if (list.size() != k) {
            throw lengthError(c, "an array of " + list.size() + " elements", firstRow + r);
          }
          for (int j = 0; j < k; j++) {
            stage.add(list.get(j));
          }
          break;
        }
        case VECTOR:
          addVector(stage, (Vector) row.get(field), c, firstRow + r);
          break;
        default:
          throw new IllegalStateException(String.valueOf(c.source()));
      }
    }
  }

  private void addVector(Stage stage, Vector v, InputColumn c, long row) {
    int k = c.elementsPerRow();
    if (v.size() != k) {
      throw lengthError(c, "a vector of size " + v.size(), row);
    }
    if (v instanceof DenseVector) {
      double[] values = ((DenseVector) v).values();
      for (int j = 0; j < k; j++) {
        stage.addDouble(values[j]);
      }
    } else {
      SparseVector s = (SparseVector) v;
      int[] indices = s.indices();
      double[] values = s.values();
      int p = 0;
      for (int j = 0; j < k; j++) {
        if (p < indices.length && indices[p] == j) {
          stage.addDouble(values[p++]);
        } else {
          stage.addDouble(0.0);
        }
      }
    }
  }

  private SidecarSparkException lengthError(InputColumn c, String found, long row) {
    return new SidecarSparkException("column '" + c.name() + "' holds " + found + " at row "
        + row + " of partition " + partition + "; API '" + plan.api() + "' expects exactly "
        + c.elementsPerRow() + " per row (shape " + c.shape() + ")");
  }
}
