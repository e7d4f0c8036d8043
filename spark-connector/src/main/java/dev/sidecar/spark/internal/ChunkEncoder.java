package dev.sidecar.spark.internal;

import com.google.protobuf.UnsafeByteOperations;
import dev.sidecar.bundle.DType;
import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.spark.SidecarSparkException;
import dev.sidecar.tensor.Float16;
import dev.sidecar.tensor.RawCodec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.SpecializedGetters;
import org.apache.spark.sql.catalyst.expressions.UnsafeArrayData;
import org.apache.spark.sql.catalyst.util.ArrayData;
import org.apache.spark.sql.types.ByteType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.DecimalType;
import org.apache.spark.sql.types.DoubleType;
import org.apache.spark.sql.types.FloatType;
import org.apache.spark.sql.types.IntegerType;
import org.apache.spark.sql.types.LongType;
import org.apache.spark.sql.types.ShortType;
import org.apache.spark.unsafe.Platform;
import org.apache.spark.unsafe.bitset.BitSetMethods;

/**
 * The one place that turns Spark rows into raw input tensors. A chunk of rows becomes one
 * {@link ModelInferRequest}, column by column: each column's values are read from Spark's
 * internal rows (no Java objects per value), cast to the declared dtype, into a primitive array
 * reused from chunk to chunk, then written by
 * {@link RawCodec} into a direct buffer that belongs to the request until it is answered, or
 * into the chunk's shared-memory region. Float arrays bound for a region as float32 skip the
 * primitive array: each row's values are copied from Spark's binary array into the region in
 * one block. Rows
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

    void addLong(long v) {
      switch (dtype) {
        case FLOAT32: case FLOAT16: floats[size++] = v; break;
        case FLOAT64: doubles[size++] = v; break;
        case INT64: longs[size++] = v; break;
        default: ints[size++] = (int) v;
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

    /** Element {@code i} of {@code g} (a row or an array), of Spark type {@code t}. */
    void add(SpecializedGetters g, int i, DataType t) {
      if (dtype == DType.BOOL) {
        bools[size++] = g.getBoolean(i);
      } else if (dtype == DType.STRING) {
        strings[size++] = g.getUTF8String(i).toString();
      } else if (t instanceof FloatType) {
        if (dtype == DType.FLOAT32 || dtype == DType.FLOAT16) {
          floats[size++] = g.getFloat(i);
        } else {
          addDouble(g.getFloat(i));
        }
      } else if (t instanceof DoubleType) {
        addDouble(g.getDouble(i));
      } else if (t instanceof IntegerType) {
        addLong(g.getInt(i));
      } else if (t instanceof LongType) {
        addLong(g.getLong(i));
      } else if (t instanceof ShortType) {
        addLong(g.getShort(i));
      } else if (t instanceof ByteType) {
        addLong(g.getByte(i));
      } else if (t instanceof DecimalType) {
        DecimalType d = (DecimalType) t;
        addDouble(g.getDecimal(i, d.precision(), d.scale()).toDouble());
      } else {
        throw new IllegalStateException("no reader for Spark type " + t + " into " + dtype);
      }
    }

    /**
     * All {@code k} elements of {@code a}. Float arrays into float32 and double arrays into
     * float64 are copied in one block when Spark hands over its own binary array (the common
     * case), else in a tight loop.
     */
    void addAll(ArrayData a, int k, DataType t) {
      if (t instanceof FloatType && (dtype == DType.FLOAT32 || dtype == DType.FLOAT16)) {
        if (!copyBlock(a, k, floats, Platform.FLOAT_ARRAY_OFFSET, 4)) {
          for (int j = 0; j < k; j++) {
            floats[size++] = a.getFloat(j);
          }
        }
      } else if (t instanceof DoubleType && dtype == DType.FLOAT64) {
        if (!copyBlock(a, k, doubles, Platform.DOUBLE_ARRAY_OFFSET, 8)) {
          for (int j = 0; j < k; j++) {
            doubles[size++] = a.getDouble(j);
          }
        }
      } else {
        for (int j = 0; j < k; j++) {
          add(a, j, t);
        }
      }
    }

    /**
     * Appends the {@code k} elements of {@code width} bytes of Spark's binary array {@code a} to
     * {@code staged} in one copy; false (nothing copied) when {@code a} is not one.
     */
    private boolean copyBlock(ArrayData a, int k, Object staged, long stagedBase, int width) {
      if (!(a instanceof UnsafeArrayData u)) {
        return false;
      }
      long elements = u.getBaseOffset() + UnsafeArrayData.calculateHeaderPortionInBytes(k);
      Platform.copyMemory(u.getBaseObject(), elements, staged, stagedBase + (long) width * size,
          (long) width * k);
      size += k;
      return true;
    }

    long byteLength() {
      return dtype == DType.STRING ? RawCodec.byteLength(strings, 0, size)
          : RawCodec.byteLength(dtype, size);
    }

    void writeTo(ByteBuffer b) {
      switch (dtype) {
        case FLOAT32: RawCodec.writeFloats(b, floats, 0, size); break;
        case FLOAT16: Float16.write(b, floats, 0, size); break;
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
  int markValid(InternalRow[] rows, int count, boolean[] valid, long firstRow) {
    int validCount = 0;
    for (int r = 0; r < count; r++) {
      InternalRow row = rows[r];
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

  private static boolean hasNullElement(InternalRow row, InputColumn c) {
    ArrayData a = row.getArray(c.fieldIndex());
    int n = a.numElements();
    if (a instanceof UnsafeArrayData u) {
      // Spark's binary array: 8 bytes of length, then a null bit per element in whole words.
      return BitSetMethods.anySet(u.getBaseObject(), u.getBaseOffset() + 8, (n + 63) / 64);
    }
    for (int i = 0; i < n; i++) {
      if (a.isNullAt(i)) {
        return true;
      }
    }
    return false;
  }

  /** Encodes the valid rows of a chunk into a request whose raw contents live in {@code buffers}. */
  ModelInferRequest encode(InternalRow[] rows, int count, boolean[] valid, int validCount, Buffers buffers,
      String id, long firstRow) {
    return encode(rows, count, valid, validCount, buffers, null, null, id, firstRow);
  }

  /**
   * Encodes the valid rows of a chunk: the columns {@code shm} carries into the chunk's region
   * {@code slot} (the request names where), the others as raw contents in {@code buffers}; with
   * {@code shm}, the request asks for every output, those of fixed width into the region.
   */
  ModelInferRequest encode(InternalRow[] rows, int count, boolean[] valid, int validCount,
      Buffers buffers, SharedMemoryChunks shm, SharedMemoryChunks.Slot slot, String id,
      long firstRow) {
    ModelInferRequest.Builder request = ModelInferRequest.newBuilder()
        .setModelName(plan.api())
        .setId(id);
    List<InputColumn> inputs = plan.inputs();
    for (int ci = 0; ci < inputs.size(); ci++) {
      InputColumn c = inputs.get(ci);
      Stage stage = stages[ci];
      boolean inShm = shm != null && shm.carries(ci);
      ByteBuffer raw = inShm && copiesRaw(c) ? shm.input(slot, ci) : null;
      gather(c, stage, raw, rows, count, valid, validCount, firstRow);
      ByteBuffer buf = raw;
      if (buf == null) {
        buf = inShm ? shm.input(slot, ci) : buffers.reset(ci, stage.byteLength());
        stage.writeTo(buf);
      }
      buf.flip();
      ModelInferRequest.InferInputTensor.Builder tensor = ModelInferRequest.InferInputTensor
          .newBuilder().setName(c.name()).setDatatype(c.dtype().oipName()).addShape(validCount);
      for (int d = 1; d < c.shape().size(); d++) {
        tensor.addShape(c.shape().get(d));
      }
      if (inShm) {
        shm.describeInput(tensor, slot, ci, buf.remaining());
      } else {
        request.addRawInputContents(UnsafeByteOperations.unsafeWrap(buf));
      }
      request.addInputs(tensor);
    }
    if (shm != null) {
      shm.requestOutputs(request, slot);
    }
    return request.build();
  }

  /**
   * Whether column {@code c} is copied from Spark's arrays straight into its region: a float
   * array into float32 on a little-endian machine (Spark's binary arrays hold native-order
   * values, the region little-endian ones), with no staging array.
   */
  private static boolean copiesRaw(InputColumn c) {
    return c.source() == SparkTypes.Source.ARRAY && c.elementType() instanceof FloatType
        && c.dtype() == DType.FLOAT32 && ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN;
  }

  /**
   * Appends float array {@code a} of {@code k} elements to {@code raw} (see {@link #copiesRaw}):
   * one block copy from Spark's binary array, element by element from any other array.
   */
  private static void putRaw(ByteBuffer raw, ArrayData a, int k) {
    if (a instanceof UnsafeArrayData u && u.getBaseObject() instanceof byte[] bytes) {
      long from = u.getBaseOffset() + UnsafeArrayData.calculateHeaderPortionInBytes(k)
          - Platform.BYTE_ARRAY_OFFSET;
      raw.put(bytes, (int) from, k * 4);
    } else {
      for (int j = 0; j < k; j++) {
        raw.putFloat(a.getFloat(j));
      }
    }
  }

  /**
   * Reads column {@code c} of the valid rows into {@code stage}, or, when {@code raw} is given
   * (see {@link #copiesRaw}), its float arrays straight into {@code raw} from its position.
   */
  private void gather(InputColumn c, Stage stage, ByteBuffer raw, InternalRow[] rows, int count,
      boolean[] valid, int validCount, long firstRow) {
    int field = c.fieldIndex();
    int k = c.elementsPerRow();
    DataType t = c.elementType();
    if (raw == null) {
      stage.reset(validCount * k);
    }
    for (int r = 0; r < count; r++) {
      if (!valid[r]) {
        continue;
      }
      InternalRow row = rows[r];
      switch (c.source()) {
        case SCALAR:
          stage.add(row, field, t);
          break;
        case ARRAY: {
          ArrayData a = row.getArray(field);
          if (a.numElements() != k) {
            throw lengthError(c, "an array of " + a.numElements() + " elements", firstRow + r);
          }
          if (raw != null) {
            putRaw(raw, a, k);
          } else {
            stage.addAll(a, k, t);
          }
          break;
        }
        case VECTOR:
          addVector(stage, row.getStruct(field, VECTOR_FIELDS), c, firstRow + r);
          break;
        default:
          throw new IllegalStateException(String.valueOf(c.source()));
      }
    }
  }

  /**
   * Spark ML's VectorUDT stores a vector as {@code struct<type: byte, size: int,
   * indices: array<int>, values: array<double>>}: type 1 is dense (values only), 0 sparse.
   */
  private static final int VECTOR_FIELDS = 4;

  private void addVector(Stage stage, InternalRow v, InputColumn c, long row) {
    int k = c.elementsPerRow();
    ArrayData values = v.getArray(3);
    boolean dense = v.getByte(0) == 1;
    int size = dense ? values.numElements() : v.getInt(1);
    if (size != k) {
      throw lengthError(c, "a vector of size " + size, row);
    }
    if (dense) {
      stage.addAll(values, k, DataTypes.DoubleType);
      return;
    }
    ArrayData indices = v.getArray(2);
    int n = indices.numElements();
    int p = 0;
    for (int j = 0; j < k; j++) {
      if (p < n && indices.getInt(p) == j) {
        stage.addDouble(values.getDouble(p++));
      } else {
        stage.addDouble(0.0);
      }
    }
  }

  private SidecarSparkException lengthError(InputColumn c, String found, long row) {
    return new SidecarSparkException("column '" + c.name() + "' holds " + found + " at row "
        + row + " of partition " + partition + "; API '" + plan.api() + "' expects exactly "
        + c.elementsPerRow() + " per row (shape " + c.shape() + ")");
  }
}
