package dev.sidecar.bench;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.sidecar.spark.tools.InternalFrames;
import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.util.ArrayData;
import org.apache.spark.sql.catalyst.expressions.UnsafeArrayData;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.Platform;

/**
 * The in-JVM limit: ONNX Runtime called directly inside {@code mapPartitions}, one session per
 * model per JVM (a static holder), batches of {@code batchRows} rows copied from Spark's
 * internal rows into one direct buffer per partition, outputs as Spark internal rows. No
 * per-row conversion to external {@code Row}s, so this is what a careful hand-written UDF
 * reaches on the same ONNX Runtime.
 */
final class DirectScorer {
  private static final Map<String, OrtSession> SESSIONS = new ConcurrentHashMap<>();

  private DirectScorer() {}

  /** {@code id} plus the model's output columns, for every row of {@code df} (columns {@code id}, {@code features}). */
  static Dataset<Row> score(SparkSession spark, BenchModel model, Dataset<Row> df, int batchRows,
      int intraOpThreads) {
    RDD<InternalRow> in = df.select("id", BenchModel.FEATURES).queryExecution().toRdd();
    PartitionScorer fn = new PartitionScorer(model.onnx().toAbsolutePath().toString(),
        model.modelInput(), model.features(), model.outputs(), batchRows, intraOpThreads);
    RDD<InternalRow> out = in.toJavaRDD().mapPartitions(fn).rdd();
    return InternalFrames.create(spark, out, schema(model));
  }

  /** The output schema: {@code id} then each output as float/long or array of float. */
  static StructType schema(BenchModel model) {
    List<StructField> fields = new ArrayList<>();
    fields.add(DataTypes.createStructField("id", DataTypes.LongType, false));
    for (BenchModel.Output o : model.outputs()) {
      if (o.scalar()) {
        fields.add(DataTypes.createStructField(o.column(),
            o.int64() ? DataTypes.LongType : DataTypes.FloatType, false));
      } else {
        if (o.int64()) {
          throw new IllegalArgumentException("output " + o.column() + ": int64 array outputs are"
              + " not used by the benchmark models");
        }
        fields.add(DataTypes.createStructField(o.column(),
            DataTypes.createArrayType(DataTypes.FloatType, false), false));
      }
    }
    return DataTypes.createStructType(fields);
  }

  /** The JVM's one session for this model file (created on first use by any task). */
  static OrtSession session(String onnxPath, int intraOpThreads) {
    return SESSIONS.computeIfAbsent(onnxPath + "#" + intraOpThreads, k -> {
      try {
        OrtSession.SessionOptions opts = new OrtSession.SessionOptions();
        opts.setIntraOpNumThreads(intraOpThreads);
        opts.setInterOpNumThreads(1);
        return OrtEnvironment.getEnvironment().createSession(onnxPath, opts);
      } catch (OrtException e) {
        throw new IllegalStateException("ONNX Runtime cannot load " + onnxPath + ": " + e.getMessage(), e);
      }
    });
  }

  /** Scores one partition lazily, one batch at a time. */
  static final class PartitionScorer implements FlatMapFunction<Iterator<InternalRow>, InternalRow>, Serializable {
    private static final long serialVersionUID = 1L;
    private final String onnxPath;
    private final String modelInput;
    private final int features;
    private final List<BenchModel.Output> outputs;
    private final int batchRows;
    private final int intraOpThreads;

    PartitionScorer(String onnxPath, String modelInput, int features, List<BenchModel.Output> outputs,
        int batchRows, int intraOpThreads) {
      this.onnxPath = onnxPath;
      this.modelInput = modelInput;
      this.features = features;
      this.outputs = new ArrayList<>(outputs);
      this.batchRows = batchRows;
      this.intraOpThreads = intraOpThreads;
    }

    @Override
    public Iterator<InternalRow> call(Iterator<InternalRow> rows) {
      return new BatchIterator(rows, session(onnxPath, intraOpThreads), this);
    }
  }

  /** Reads up to {@code batchRows} rows, runs the model once, then yields that batch's output rows. */
  private static final class BatchIterator implements Iterator<InternalRow> {
    private final Iterator<InternalRow> in;
    private final OrtSession session;
    private final PartitionScorer p;
    private final FloatBuffer input;
    private final long[] ids;
    private final Set<String> outputNames = new HashSet<>();
    private final Object[][] columns;
    private int size;
    private int next;

    BatchIterator(Iterator<InternalRow> in, OrtSession session, PartitionScorer p) {
      this.in = in;
      this.session = session;
      this.p = p;
      this.input = ByteBuffer.allocateDirect(p.batchRows * p.features * Float.BYTES)
          .order(ByteOrder.nativeOrder()).asFloatBuffer();
      this.ids = new long[p.batchRows];
      this.columns = new Object[p.outputs.size()][];
      for (BenchModel.Output o : p.outputs) {
        outputNames.add(o.modelOutput());
      }
    }

    @Override
    public boolean hasNext() {
      if (next < size) {
        return true;
      }
      if (!in.hasNext()) {
        return false;
      }
      fill();
      return size > 0;
    }

    @Override
    public InternalRow next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      int r = next++;
      Object[] values = new Object[1 + columns.length];
      values[0] = ids[r];
      for (int c = 0; c < columns.length; c++) {
        values[c + 1] = columns[c][r];
      }
      return new GenericInternalRow(values);
    }

    private void fill() {
      input.clear();
      int n = 0;
      int f = p.features;
      while (n < p.batchRows && in.hasNext()) {
        InternalRow row = in.next();   // reused by Spark: copy what we need now
        ids[n] = row.getLong(0);
        ArrayData a = row.getArray(1);
        if (a.numElements() != f) {
          throw new IllegalArgumentException("row id " + ids[n] + ": features has "
              + a.numElements() + " elements, the model input " + p.modelInput + " needs " + f);
        }
        for (int i = 0; i < f; i++) {
          input.put(a.getFloat(i));
        }
        n++;
      }
      input.flip();
      size = n;
      next = 0;
      OrtEnvironment env = OrtEnvironment.getEnvironment();
      try (OnnxTensor x = OnnxTensor.createTensor(env, input, new long[] {n, f});
           OrtSession.Result result = session.run(Collections.singletonMap(p.modelInput, x), outputNames)) {
        for (int c = 0; c < p.outputs.size(); c++) {
          columns[c] = toColumn(p.outputs.get(c), result, n);
        }
      } catch (OrtException e) {
        throw new IllegalStateException("ONNX Runtime failed on " + p.onnxPath + ": " + e.getMessage(), e);
      }
    }

    private static Object[] toColumn(BenchModel.Output o, OrtSession.Result result, int n) {
      OnnxValue v = result.get(o.modelOutput()).orElseThrow(() ->
          new IllegalStateException("the model has no output " + o.modelOutput()));
      OnnxTensor t = (OnnxTensor) v;
      Object[] col = new Object[n];
      if (o.int64()) {
        LongBuffer b = t.getLongBuffer();
        for (int r = 0; r < n; r++) {
          col[r] = b.get(r);
        }
        return col;
      }
      FloatBuffer b = t.getFloatBuffer();
      if (o.scalar()) {
        for (int r = 0; r < n; r++) {
          col[r] = b.get(r);
        }
        return col;
      }
      int k = o.width();
      float[] all = new float[n * k];
      b.get(all);
      for (int r = 0; r < n; r++) {
        // one copy per row, straight from the batch's output array into Spark's array format
        col[r] = UnsafeArrayData.fromPrimitiveArray(all, Platform.FLOAT_ARRAY_OFFSET + r * k * Float.BYTES,
            k, Float.BYTES);
      }
      return col;
    }
  }
}
