package dev.sidecar.spark;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.monotonically_increasing_id;

import dev.sidecar.spark.internal.SidecarKey;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * The application {@link SparkSubmitIT} submits with {@code spark-submit --deploy-mode cluster}:
 * what a user's job looks like. Its driver reads iris.csv, scores it with
 * {@code Sidecar.runSpark(bundle, "classify", df)} and writes the predictions as CSV. Then,
 * as test instrumentation only, it runs {@link ExecutorProbe} until every executor answered
 * and writes what each executor's sidecar says of itself (its Stats) to {@code sidecars.csv}.
 *
 * <p>Args: the bundle (a path or URI, passed to {@code runSpark} as given), iris.csv, the output
 * directory, the bundle's sha256 digest (the probe's sidecar key) and the number of executors.
 * It is packaged into a jar by the test with {@link ExecutorProbe}; at run time it sees only
 * that jar, the shaded connector jar ({@code --jars}) and Spark's jars.
 */
public final class SubmitIrisApp {
  private SubmitIrisApp() {
  }

  public static void main(String[] args) throws Exception {
    if (args.length != 5) {
      throw new IllegalArgumentException("usage: SubmitIrisApp <bundle path or URI> <iris.csv> "
          + "<output dir> <bundle sha256> <executors>; got " + List.of(args));
    }
    String bundle = args[0];
    Path out = Path.of(args[2]);
    int executors = Integer.parseInt(args[4]);
    SparkSession spark = SparkSession.builder().appName("SubmitIrisApp").getOrCreate();
    try {
      // One file, one partition: the row number is the id; then spread over every executor.
      Dataset<Row> iris = spark.read().option("header", "true")
          .schema("sepal_length double, sepal_width double, petal_length double, "
              + "petal_width double, species string")
          .csv(args[1]).coalesce(1).withColumn("id", monotonically_increasing_id())
          .repartition(8, col("id"));
      Sidecar.runSpark(bundle, "classify", iris)
          .select(col("id"), col("label"), col("probabilities").getItem(0).as("p0"),
              col("probabilities").getItem(1).as("p1"), col("probabilities").getItem(2).as("p2"))
          .write().option("header", "true").csv(out.resolve("predictions").toString());

      SidecarKey key = SidecarKey.of(args[3], RunOptions.defaults());
      Map<String, Row> byExecutor = new TreeMap<>();
      for (int attempt = 0; attempt < 10 && byExecutor.size() < executors; attempt++) {
        for (Row r : ExecutorProbe.run(spark, key, 4 * executors)) {
          byExecutor.put(r.getString(0), r);
        }
      }
      List<String> report = new ArrayList<>();
      report.add("executor,instance_id,sidecar_pid,rows,streams,starts,executor_pid");
      for (Row r : byExecutor.values()) {
        report.add(String.join(",", r.getString(0), r.getString(1), Long.toString(r.getLong(2)),
            Long.toString(r.getLong(3)), Long.toString(r.getLong(4)), Integer.toString(r.getInt(5)),
            Long.toString(r.getLong(7))));
      }
      Files.write(out.resolve("sidecars.csv"), report, StandardCharsets.UTF_8);
    } finally {
      spark.stop();
    }
  }
}
