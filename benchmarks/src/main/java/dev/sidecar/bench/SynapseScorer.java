package dev.sidecar.bench;

import static org.apache.spark.sql.functions.col;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import org.apache.spark.ml.Transformer;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;

/**
 * The peer: SynapseML's {@code ONNXModel} on the same {@code .onnx} bytes, the same
 * {@code features} column and the same ONNX Runtime (the project's, see the benchmarks pom).
 *
 * <p>SynapseML 1.1.0 exists for Spark 3.5 / Scala 2.12 only and is on the classpath only under
 * {@code -Pscala-2.12}; the default build (Spark 4.1 / Scala 2.13) compiles this class without
 * it, so {@code ONNXModel} is loaded by name and configured through its Java-typed setters
 * ({@code setModelPayload(byte[])}, {@code setFeedDict(HashMap)}, {@code setFetchDict(HashMap)},
 * {@code setMiniBatchSize(int)}, {@code setDeviceType(String)}); the rest is Spark ML's
 * {@link Transformer#transform}.
 *
 * <p>What ONNXModel does with that, as measured: it groups {@code miniBatchSize} rows into one
 * row of arrays ({@code FixedMiniBatchTransformer}; SynapseML's default is 10 rows, the benchmark
 * sets the direct way's batch, 1024, unless {@code --synapse-batch}), creates one
 * {@code OrtSession} per partition from a broadcast of the model bytes with ONNX Runtime's default
 * session options (no intra-op thread setting: ORT's default, one thread per physical core, in
 * each of the concurrent tasks), converts each batch through Scala collections into a tensor,
 * and flattens the batches back into rows ({@code FlattenBatch}).
 */
final class SynapseScorer {
  static final String ONNX_MODEL = "com.microsoft.azure.synapse.ml.onnx.ONNXModel";

  /** How to get SynapseML onto the classpath, for messages. */
  static final String HOW = "SynapseML (synapseml-deep-learning_2.12 1.1.0) is only on the benchmark"
      + " classpath of the Spark 3.5 / Scala 2.12 build: run PROFILE=scala-2.12 benchmarks/run.sh"
      + " SparkBenchmark ...";

  private SynapseScorer() {}

  /** Whether SynapseML's ONNXModel is on the classpath (the {@code -Pscala-2.12} build). */
  static boolean available() {
    try {
      Class.forName(ONNX_MODEL, false, SynapseScorer.class.getClassLoader());
      return true;
    } catch (ClassNotFoundException | LinkageError e) {
      return false;
    }
  }

  /**
   * {@code id} plus the model's output columns, scored by an ONNXModel with feed dict
   * {@code modelInput → features} and fetch dict {@code column → model output}. A scalar output
   * that the model gives as {@code [N, 1]} comes out of ONNXModel as a one-element array and is
   * unwrapped to the same scalar column the other ways produce.
   */
  static Dataset<Row> score(BenchModel model, Dataset<Row> df, int batchRows) {
    if (batchRows < 1) {
      throw new IllegalArgumentException("--synapse-batch must be at least 1, got " + batchRows);
    }
    Transformer onnx = newOnnxModel();
    byte[] payload;
    try {
      payload = Files.readAllBytes(model.onnx());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the " + model.key() + " model " + model.onnx(), e);
    }
    HashMap<String, String> feed = new HashMap<>();
    feed.put(model.modelInput(), BenchModel.FEATURES);
    HashMap<String, String> fetch = new HashMap<>();
    for (BenchModel.Output o : model.outputs()) {
      fetch.put(o.column(), o.modelOutput());
    }
    call(onnx, "setModelPayload", byte[].class, payload);
    call(onnx, "setFeedDict", HashMap.class, feed);
    call(onnx, "setFetchDict", HashMap.class, fetch);
    call(onnx, "setMiniBatchSize", int.class, batchRows);
    call(onnx, "setDeviceType", String.class, "CPU");
    Dataset<Row> scored = onnx.transform(df.select("id", BenchModel.FEATURES));
    List<Column> cols = new ArrayList<>();
    cols.add(col("id"));
    for (BenchModel.Output o : model.outputs()) {
      DataType t = scored.schema().apply(o.column()).dataType();
      cols.add(o.scalar() && t instanceof ArrayType ? col(o.column()).getItem(0).as(o.column()) : col(o.column()));
    }
    return scored.select(cols.toArray(Column[]::new));
  }

  private static Transformer newOnnxModel() {
    if (!available()) {
      throw new IllegalStateException("the synapseml way needs " + ONNX_MODEL + ". " + HOW);
    }
    try {
      return (Transformer) Class.forName(ONNX_MODEL).getConstructor().newInstance();
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("cannot create SynapseML's " + ONNX_MODEL + ": " + e, e);
    }
  }

  private static void call(Transformer onnx, String setter, Class<?> type, Object value) {
    Method m;
    try {
      m = onnx.getClass().getMethod(setter, type);
    } catch (NoSuchMethodException e) {
      throw new IllegalStateException(ONNX_MODEL + " has no " + setter + "(" + type.getSimpleName()
          + "): not the SynapseML 1.1.0 API this benchmark was written for", e);
    }
    try {
      m.invoke(onnx, value);
    } catch (InvocationTargetException e) {
      Throwable cause = e.getCause();
      throw new IllegalStateException(ONNX_MODEL + "." + setter + " failed: " + cause, cause);
    } catch (IllegalAccessException e) {
      throw new IllegalStateException("cannot call " + ONNX_MODEL + "." + setter + ": " + e, e);
    }
  }
}
