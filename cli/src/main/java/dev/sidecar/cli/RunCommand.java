package dev.sidecar.cli;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.to_json;

import dev.sidecar.bundle.BundleRef;
import dev.sidecar.spark.RunOptions;
import dev.sidecar.spark.Sidecar;
import dev.sidecar.spark.SidecarSparkException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.spark.TaskFailedReason;
import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.MapType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code sidecar run}: scores a CSV, Parquet or JSON file with one API of a bundle on an embedded
 * local Spark (loopback only, no UI) and writes the input columns plus the outputs, Parquet by
 * default. Progress (rows, rows/s) and a summary go to stderr.
 */
@Command(name = "run", mixinStandardHelpOptions = true,
    description = {"Score a file with an API of a bundle on an embedded local Spark, through a"
        + " sidecar, and write the input columns plus the API's outputs.",
        "Progress and a summary are printed on stderr."})
final class RunCommand extends StoreCommand {
  /** File formats of --input-format and --output-format. */
  enum Format {
    csv, parquet, json;

    static Format fromPath(Path p) {
      String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
      if (n.endsWith(".parquet")) {
        return parquet;
      }
      if (n.endsWith(".json") || n.endsWith(".jsonl")) {
        return json;
      }
      return csv;
    }
  }

  @Parameters(index = "0", paramLabel = "BUNDLE",
      description = "A store tag (name, name:version, name:ALIAS) or a .bundle file."
          + BundleSources.REF_HELP + " From a URI, Spark's executors read the archive"
          + " themselves.")
  String bundle;

  @Option(names = BundleSources.EXPECTED_DIGEST_OPTION, paramLabel = "DIGEST",
      description = BundleSources.EXPECTED_DIGEST_HELP)
  String expectedDigest;

  @Option(names = "--api", required = true, paramLabel = "API",
      description = "The API of the bundle to run.")
  String api;

  @Option(names = "--input", required = true, paramLabel = "PATH",
      description = "The input file or directory.")
  Path input;

  @Option(names = "--output", required = true, paramLabel = "PATH",
      description = "The output directory (Spark writes a directory of part files).")
  Path output;

  @Option(names = "--input-format", paramLabel = "FORMAT",
      description = "csv (header row, types inferred), parquet or json (one object per line)."
          + " Default: from the input's extension, else csv.")
  Format inputFormat;

  @Option(names = "--output-format", paramLabel = "FORMAT", defaultValue = "parquet",
      description = "parquet, csv or json. CSV cannot hold arrays: array and vector columns are"
          + " written as JSON text, e.g. [0.1,0.9]. Default: ${DEFAULT-VALUE}.")
  Format outputFormat;

  /** Four attempts per task, as on a cluster: a task whose sidecar died is retried on a new one. */
  static final String DEFAULT_MASTER = "local[*,4]";

  @Option(names = "--master", paramLabel = "MASTER", defaultValue = DEFAULT_MASTER,
      description = "The Spark master of the embedded session. The default runs a task up to"
          + " 4 times, so a task whose sidecar died is retried on a fresh one."
          + " Default: ${DEFAULT-VALUE}.")
  String master;

  @Option(names = "--sidecar-mode", paramLabel = "MODE", defaultValue = "process",
      description = "process (a sidecar JVM beside the executor) or in-process."
          + " Default: ${DEFAULT-VALUE}.")
  String sidecarMode;

  @Option(names = "--chunk-rows", paramLabel = "N",
      description = "Rows per request to the sidecar. Default: about 4 MiB of input per request"
          + " (1,024 to 65,536 rows).")
  Integer chunkRows;

  @Option(names = "--allow-nulls",
      description = "Rows with a null input get null outputs. Default: a null input fails the"
          + " run, naming the column.")
  boolean allowNulls;

  @Option(names = "--lineage",
      description = "Add the columns sidecar_bundle, sidecar_version, sidecar_digest,"
          + " sidecar_api and sidecar_scored_at (when the row was scored) to every row."
          + " Default: outputs only.")
  boolean lineage;

  @Option(names = "--overwrite", description = "Replace the output if it exists (only once the"
      + " run has succeeded). Default: fail.")
  boolean overwrite;

  /** Rows written by finished tasks. */
  private final AtomicLong written = new AtomicLong();
  /** Rows the sidecars have answered so far, as the connector's progress reports them. */
  private final AtomicLong scoredRows = new AtomicLong();
  private final FailedTasks failedTasks = new FailedTasks();

  @Override
  public Integer call() throws Exception {
    PrintWriter err = spec.commandLine().getErr();
    BundleRef ref = BundleSources.ref(bundle, expectedDigest);
    // A local bundle is found (and its pin checked) before Spark starts; a remote one by Spark.
    String archive = BundleSources.isRemote(ref) ? ref.toString()
        : BundleSources.local(ref, store()).toAbsolutePath() + (ref.expectedDigest() == null ? ""
            : "#" + ref.expectedDigest());
    if (!Files.exists(input)) {
      throw new IllegalArgumentException("no input at " + input);
    }
    RunOptions.Builder ob = RunOptions.builder().sidecarMode(mode(sidecarMode))
        .allowNulls(allowNulls).lineageColumns(lineage)
        .progressListener(p -> scoredRows.set(p.rowsScored()));
    if (chunkRows != null) {
      ob.chunkRows(chunkRows);
    }
    RunOptions options = ob.build();
    Format in = inputFormat != null ? inputFormat : Format.fromPath(input);
    long start = System.nanoTime();
    try (StagedOutput staged = StagedOutput.create(output, overwrite)) {
      score(archive, in, options, staged.staging(), err, start);
      staged.commit();
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    long rows = written.get();
    err.printf((System.console() != null ? "\r" : "")
        + "scored %,d rows in %.1f s (%,.0f rows/s) -> %s (%s)%n", rows, seconds,
        rows / Math.max(seconds, 1e-3), output, outputFormat);
    if (failedTasks.count.get() > 0) {
      err.println("sidecar: warning: " + failedTasks.count.get() + " task attempt(s) failed and"
          + " were retried; the first: " + failedTasks.first.get());
    }
    err.flush();
    say(output.toString());
    return 0;
  }

  /** Runs the job on an embedded Spark and writes its result into {@code dir}. */
  private void score(String archive, Format in, RunOptions options, Path dir, PrintWriter err,
      long start) {
    SparkSession spark = SparkSession.builder()
        .master(master)
        .appName("sidecar run " + bundle + " " + api)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "8")
        // Running tasks report their progress with their executor's heartbeat: once a second,
        // as often as the progress line is rewritten on a terminal.
        .config("spark.executor.heartbeatInterval", "1s")
        .getOrCreate();
    // The same Hadoop configuration as bundle import/push: a bundle URI (hdfs://, s3a://...) and
    // the input and output paths are read with $HADOOP_CONF_DIR's settings and credentials.
    BundleSources.addHadoopConfDir(spark.sparkContext().hadoopConfiguration());
    // A failed task makes Spark log pages of stack traces; the failure's reason is printed once,
    // below, instead. --verbose brings the logs back.
    spark.sparkContext().setLogLevel(SidecarCli.verbose(spec) ? "WARN" : "OFF");
    spark.sparkContext().addSparkListener(new SparkListener() {
      @Override
      public void onTaskEnd(SparkListenerTaskEnd end) {
        if (end.taskMetrics() != null) {
          written.addAndGet(end.taskMetrics().outputMetrics().recordsWritten());
        }
        if (end.reason() instanceof TaskFailedReason failed) {
          failedTasks.add(failed);
        }
      }
    });
    ScheduledExecutorService progress = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "sidecar-run-progress");
      t.setDaemon(true);
      return t;
    });
    try {
      Dataset<Row> df = read(spark, in, input);
      Dataset<Row> scored = Sidecar.runSpark(archive, api, df, options);
      if (outputFormat == Format.csv) {
        scored = flattenForCsv(scored);
      }
      // On a terminal one line rewritten in place; in a log one line per change, every 5 s.
      boolean tty = System.console() != null;
      AtomicLong shown = new AtomicLong();
      progress.scheduleAtFixedRate(() -> {
        long rows = scoredRows.get();
        if (rows == shown.getAndSet(rows)) {
          return;
        }
        double s = (System.nanoTime() - start) / 1e9;
        err.printf(tty ? "\rscored %,d rows (%,.0f rows/s)" : "scored %,d rows (%,.0f rows/s)%n",
            rows, rows / Math.max(s, 1e-3));
        err.flush();
      }, 1, tty ? 1 : 5, TimeUnit.SECONDS);
      // The staging directory exists and is empty: append into it.
      scored.write().mode(SaveMode.Append).format(outputFormat.name()).option("header", "true")
          .save(dir.toString());
    } catch (IllegalArgumentException e) {
      throw e;
    } catch (Exception e) {
      // Spark wraps a task's failure in a SparkException (checked, though Java is not told).
      throw new IllegalStateException(reason(e), e);
    } finally {
      progress.shutdownNow();
      spark.stop();
    }
  }

  /** Task attempts that failed (Spark retried them, or gave up): how many, and the first. */
  private static final class FailedTasks {
    final AtomicLong count = new AtomicLong();
    final AtomicReference<String> first = new AtomicReference<>();

    void add(TaskFailedReason failed) {
      count.incrementAndGet();
      first.compareAndSet(null, forTheCommandLine(failed.toErrorString()));
    }
  }

  private static RunOptions.SidecarMode mode(String m) {
    switch (m.toLowerCase(Locale.ROOT)) {
      case "process": return RunOptions.SidecarMode.PROCESS;
      case "in-process": case "in_process": case "inprocess": return RunOptions.SidecarMode.IN_PROCESS;
      default:
        throw new IllegalArgumentException("unknown --sidecar-mode '" + m
            + "', expected one of [process, in-process]");
    }
  }

  private static Dataset<Row> read(SparkSession spark, Format f, Path p) {
    switch (f) {
      case parquet: return spark.read().parquet(p.toString());
      case json: return spark.read().json(p.toString());
      default:
        return spark.read().option("header", "true").option("inferSchema", "true").csv(p.toString());
    }
  }

  /** CSV holds no arrays, vectors, structs or maps: such columns become their JSON text. */
  static Dataset<Row> flattenForCsv(Dataset<Row> df) {
    StructType schema = df.schema();
    Column[] cols = new Column[schema.fields().length];
    for (int i = 0; i < cols.length; i++) {
      StructField f = schema.fields()[i];
      DataType t = f.dataType();
      Column c = col("`" + f.name() + "`");
      if (SQLDataTypes.VectorType().equals(t)) {
        c = to_json(org.apache.spark.ml.functions.vector_to_array(c, "float64"));
      } else if (t instanceof ArrayType || t instanceof MapType || t instanceof StructType) {
        c = to_json(c);
      }
      cols[i] = c.as(f.name());
    }
    return df.select(cols);
  }

  /** The sidecar's own message when a task failed with one, else Spark's first line. */
  private static String reason(Exception e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof SidecarSparkException) {
        return forTheCommandLine(t.getMessage());
      }
    }
    return forTheCommandLine(e.getMessage() == null ? e.toString() : e.getMessage());
  }

  /**
   * The first line of a failure's text, from the connector's own message on when it holds one,
   * with the connector's options named as this command's flags.
   */
  static String forTheCommandLine(String m) {
    String prefix = SidecarSparkException.class.getName() + ": ";
    int at = m.indexOf(prefix);
    String s = at >= 0 ? m.substring(at + prefix.length()) : m;
    int nl = s.indexOf('\n');
    return (nl >= 0 ? s.substring(0, nl) : s).strip()
        .replace("RunOptions.allowNulls(true)", "--allow-nulls");
  }
}
