package dev.sidecar.spark;

import static org.apache.spark.sql.functions.col;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.proto.stats.ApiStats;
import dev.sidecar.proto.stats.StatsResponse;
import dev.sidecar.spark.RunOptions.SidecarMode;
import dev.sidecar.spark.internal.SidecarKey;
import dev.sidecar.spark.internal.SidecarRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeoutException;
import org.apache.spark.api.java.function.VoidFunction2;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.streaming.StreamingQuery;
import org.apache.spark.sql.streaming.StreamingQueryException;
import org.apache.spark.sql.streaming.StreamingQueryProgress;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code runSpark} on a streaming DataFrame: CSV files dropped into a directory, one file per
 * micro-batch, scored into a Parquet sink with a checkpoint. A query stopped after some batches
 * and restarted from its checkpoint leaves every input row in the sink exactly once, with the
 * expected predictions; the archive is shipped once and one sidecar serves every micro-batch of
 * both runs. Also the README's {@code foreachBatch} example, the options that shape the output
 * (keepInputColumns, allowNulls, lineage columns) on a stream, and a schema mismatch refused
 * on the driver with the batch path's message.
 */
@Timeout(240)
@EveryLine
class StreamingTest {
  /** 150 iris rows as 6 files of 25. */
  private static final int FILES = 6;
  private static final int ROWS_PER_FILE = 25;
  static final StructType CSV_SCHEMA = new StructType()
      .add("id", DataTypes.LongType, false)
      .add("sepal_length", DataTypes.DoubleType)
      .add("sepal_width", DataTypes.DoubleType)
      .add("petal_length", DataTypes.DoubleType)
      .add("petal_width", DataTypes.DoubleType)
      .add("species", DataTypes.StringType);
  private static SparkSession spark;
  private static TestBundles.Built iris;

  @BeforeAll
  static void start() {
    spark = TestSpark.local("local[2]", "StreamingTest");
    iris = TestBundles.iris();
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  @Test
  void aQueryRestartedFromItsCheckpointScoresEveryRowExactlyOnce() throws Exception {
    // chunkRows 13: a sidecar key no other test of this JVM uses, so its stats are this test's.
    RunOptions options = RunOptions.builder().sidecarMode(SidecarMode.IN_PROCESS).chunkRows(13)
        .build();
    Path dir = freshDir("restart");
    Path input = Files.createDirectories(dir.resolve("in"));
    String sink = dir.resolve("out").toString();
    String checkpoint = dir.resolve("checkpoint").toString();

    // First run: half the files, then the query is stopped with more input still to come.
    writeIrisFiles(input, 0, 3);
    StreamingQuery first = startParquetQuery(input, sink, checkpoint, options);
    first.processAllAvailable();
    first.stop();
    assertEquals(3 * ROWS_PER_FILE, spark.read().parquet(sink).count(), "rows after the first run");
    int firstBatches = batchesWithRows(first);
    assertEquals(3, firstBatches, "one file per micro-batch");

    // Second run: a new query from the same checkpoint (as a restarted application would define
    // it), the other half of the files.
    writeIrisFiles(input, 3, FILES);
    StreamingQuery second = startParquetQuery(input, sink, checkpoint, options);
    second.processAllAvailable();
    second.stop();
    assertEquals(3, batchesWithRows(second), "the restart reads only the files not yet committed");

    Dataset<Row> out = spark.read().parquet(sink);
    assertEquals(FILES * ROWS_PER_FILE, out.select("id").distinct().count(), "distinct ids");
    Iris.assertMatchesExpected(out, ""); // 150 rows, each with its expected label and scores

    assertEquals(1, shippedCount("iris_classifier"), "the archive is added to Spark once, not"
        + " per runSpark call nor per micro-batch");
    SidecarKey key = SidecarKey.of(iris.digest(), options);
    assertEquals(1, SidecarRegistry.get().starts(key), "one sidecar for both runs");
    StatsResponse stats = SidecarRegistry.get().stats(key).orElseThrow();
    ApiStats classify = stats.getApisList().stream().filter(a -> a.getApi().equals("classify"))
        .findFirst().orElseThrow();
    assertEquals(FILES * ROWS_PER_FILE, classify.getRows(),
        "that sidecar scored every row of every micro-batch of both runs");
    assertTrue(stats.getStreamsOpened() >= FILES, "a stream per non-empty task: " + stats);
  }

  /** The README's foreachBatch example, as it is there but for the paths and the options. */
  @Test
  void foreachBatchExampleWritesEachMicroBatchOnce() throws Exception {
    Path dir = freshDir("foreach");
    Path input = Files.createDirectories(dir.resolve("in"));
    writeIrisFiles(input, 0, FILES);
    String out = dir.resolve("out").toString();
    String checkpoint = dir.resolve("checkpoint").toString();
    RunOptions options = RunOptions.builder().sidecarMode(SidecarMode.IN_PROCESS)
        .lineageColumns(true).build();

    // --- README: foreachBatch (Java) ---
    Dataset<Row> events = spark.readStream().schema(CSV_SCHEMA).option("maxFilesPerTrigger", 2)
        .csv(input.toString());
    Dataset<Row> scored = Sidecar.runSpark(iris.archive(), "classify", events, options);
    StreamingQuery query = scored.writeStream()
        .option("checkpointLocation", checkpoint)
        .foreachBatch((VoidFunction2<Dataset<Row>, Long>) (batch, batchId) ->
            // One directory per batch id, overwritten if a failed batch is run again.
            batch.write().mode("overwrite").parquet(out + "/batch_id=" + batchId))
        .start();
    // --- end ---
    query.processAllAvailable();
    query.stop();

    Dataset<Row> written = spark.read().parquet(out);
    assertEquals(FILES / 2, written.select("batch_id").distinct().count(), "3 micro-batches");
    assertEquals(FILES * ROWS_PER_FILE, written.select("id").distinct().count(), "distinct ids");
    Iris.assertMatchesExpected(written, "");
    for (Row r : written.select("sidecar_bundle", "sidecar_digest", "sidecar_api",
        "sidecar_scored_at").collectAsList()) {
      assertEquals("iris_classifier", r.getString(0));
      assertEquals(iris.digest(), r.getString(1));
      assertEquals("classify", r.getString(2));
      assertFalse(r.isNullAt(3));
    }
  }

  @Test
  void withoutInputColumnsAndWithNullsAllowed() throws Exception {
    Path dir = freshDir("nulls");
    Path input = Files.createDirectories(dir.resolve("in"));
    Files.writeString(input.resolve("part-0.csv"), "0,5.1,3.5,1.4,0.2,setosa\n"
        + "1,5.1,,1.4,0.2,setosa\n2,6.3,3.3,6.0,2.5,virginica\n");
    RunOptions options = RunOptions.builder().sidecarMode(SidecarMode.IN_PROCESS)
        .keepInputColumns(false).allowNulls(true).lineageColumns(true).outputPrefix("p_")
        .build();
    Dataset<Row> scored = Sidecar.runSpark(iris.archive(), "classify",
        spark.readStream().schema(CSV_SCHEMA).csv(input.toString()), options);
    assertTrue(scored.isStreaming());
    List<String> names = Arrays.asList(scored.columns());
    assertEquals(List.of("p_label", "p_probabilities", "p_sidecar_bundle", "p_sidecar_version",
        "p_sidecar_digest", "p_sidecar_api", "p_sidecar_scored_at"), names);

    List<Row> rows = collectOnce(scored, dir);
    assertEquals(3, rows.size());
    List<String> labels = new ArrayList<>();
    for (Row r : rows) {
      labels.add(r.getString(0));
      assertEquals("1.0.0", r.getString(3));
      assertEquals("classify", r.getString(5));
      assertTrue(r.get(6) instanceof Timestamp);
    }
    labels.sort(java.util.Comparator.nullsFirst(java.util.Comparator.naturalOrder()));
    assertEquals(Arrays.asList(null, "setosa", "virginica"), labels,
        "the row with a null input gets null outputs");
  }

  /** Duplicate and dotted column names, metadata and nullability come out as in batch. */
  @Test
  void aStreamGivesTheBatchPathsSchemaAndRows() throws Exception {
    Path dir = freshDir("parity");
    Path input = Files.createDirectories(dir.resolve("in"));
    writeIrisFiles(input, 0, 2);
    RunOptions options = RunOptions.builder().sidecarMode(SidecarMode.IN_PROCESS)
        .outputPrefix("p.").build();
    org.apache.spark.sql.types.Metadata meta = new org.apache.spark.sql.types.MetadataBuilder()
        .putString("comment", "measured in cm").build();
    java.util.function.Function<Dataset<Row>, Dataset<Row>> shape = df -> df.select(col("*"),
        col("species").as("species"), col("id").as("a.b`c"),
        col("petal_width").as("petal_width_cm", meta));
    Dataset<Row> batch = Sidecar.runSpark(iris.archive(), "classify",
        shape.apply(spark.read().schema(CSV_SCHEMA).csv(input.toString())), options);
    Dataset<Row> stream = Sidecar.runSpark(iris.archive(), "classify",
        shape.apply(spark.readStream().schema(CSV_SCHEMA).csv(input.toString())), options);
    assertEquals(batch.schema(), stream.schema());
    assertEquals(meta, stream.schema().apply("petal_width_cm").metadata());
    assertEquals(List.of("species", "species", "a.b`c", "petal_width_cm", "p.label"),
        Arrays.asList(stream.columns()).subList(5, 10));

    List<String> batchRows = new ArrayList<>();
    batch.collectAsList().forEach(r -> batchRows.add(r.toString()));
    List<String> streamRows = new ArrayList<>();
    collectOnce(stream, dir).forEach(r -> streamRows.add(r.toString()));
    batchRows.sort(null);
    streamRows.sort(null);
    assertEquals(2 * ROWS_PER_FILE, streamRows.size());
    assertEquals(batchRows, streamRows);
  }

  @Test
  void aSchemaMismatchOnAStreamFailsOnTheDriverAsInBatch() throws Exception {
    Path input = Files.createDirectories(freshDir("mismatch").resolve("in"));
    StructType renamed = new StructType(Arrays.stream(CSV_SCHEMA.fields())
        .map(f -> f.name().equals("petal_width")
            ? new StructField("Petal_Width", f.dataType(), f.nullable(), f.metadata()) : f)
        .toArray(StructField[]::new));
    Dataset<Row> stream = spark.readStream().schema(renamed).csv(input.toString());
    Dataset<Row> batch = spark.read().schema(renamed).csv(input.toString());
    RunOptions options = RunOptions.builder().sidecarMode(SidecarMode.IN_PROCESS).build();

    SidecarSparkException streaming = assertThrows(SidecarSparkException.class,
        () -> Sidecar.runSpark(iris.archive(), "classify", stream, options));
    SidecarSparkException batched = assertThrows(SidecarSparkException.class,
        () -> Sidecar.runSpark(iris.archive(), "classify", batch, options));
    assertEquals(batched.getMessage(), streaming.getMessage());
    assertTrue(streaming.getMessage().contains("missing column 'petal_width'"),
        streaming.getMessage());
    assertTrue(streaming.getMessage().contains("'Petal_Width'"), streaming.getMessage());
  }

  private static StreamingQuery startParquetQuery(Path input, String sink, String checkpoint,
      RunOptions options) throws TimeoutException {
    Dataset<Row> events = spark.readStream().schema(CSV_SCHEMA).option("maxFilesPerTrigger", 1)
        .csv(input.toString());
    Dataset<Row> scored = Sidecar.runSpark(iris.archive(), "classify", events, options);
    assertTrue(scored.isStreaming(), "a streaming DataFrame in, a streaming DataFrame out");
    return scored.writeStream().format("parquet").option("path", sink)
        .option("checkpointLocation", checkpoint).start();
  }

  /** Rows of every micro-batch of a query over the files already there, via a memory sink. */
  private static List<Row> collectOnce(Dataset<Row> scored, Path dir)
      throws TimeoutException, StreamingQueryException {
    String name = "streaming_test_" + Long.toHexString(System.nanoTime());
    StreamingQuery q = scored.writeStream().format("memory").queryName(name)
        .option("checkpointLocation", dir.resolve("checkpoint").toString()).start();
    try {
      q.processAllAvailable();
    } finally {
      q.stop();
    }
    return spark.table(name).collectAsList();
  }

  private static int batchesWithRows(StreamingQuery q) {
    int n = 0;
    for (StreamingQueryProgress p : q.recentProgress()) {
      if (p.numInputRows() > 0) {
        n++;
      }
    }
    return n;
  }

  /** Files added to the SparkContext whose name starts with {@code bundleName}. */
  private static long shippedCount(String bundleName) {
    long n = 0;
    scala.collection.Iterator<String> files = spark.sparkContext().listFiles().iterator();
    while (files.hasNext()) {
      String f = files.next();
      if (f.substring(f.lastIndexOf('/') + 1).startsWith(bundleName)) {
        n++;
      }
    }
    return n;
  }

  /** Files {@code from..to-1} of iris as CSV (id first), each written whole then moved in. */
  static void writeIrisFiles(Path input, int from, int to) throws IOException {
    List<String> lines = Files.readAllLines(TestBundles.irisDir().resolve("iris.csv"));
    for (int f = from; f < to; f++) {
      StringBuilder csv = new StringBuilder();
      for (int i = f * ROWS_PER_FILE; i < (f + 1) * ROWS_PER_FILE; i++) {
        csv.append(i).append(',').append(lines.get(i + 1)).append('\n');
      }
      Path tmp = input.resolveSibling("part-" + f + ".csv.tmp");
      Files.writeString(tmp, csv);
      Files.move(tmp, input.resolve("part-" + f + ".csv"));
    }
  }

  private static Path freshDir(String name) throws IOException {
    Path root = Files.createDirectories(Path.of("target", "streaming-test").toAbsolutePath());
    return Files.createTempDirectory(root, name + "-");
  }
}
