package dev.sidecar.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.storage.StorageLevel;

/**
 * Scores the same cached DataFrame three ways — {@code runSpark} with a sidecar process,
 * {@code runSpark} in-process, and ONNX Runtime called directly in {@code mapPartitions} — plus
 * SynapseML's {@code ONNXModel} in the {@code -Pscala-2.12} build, for a
 * tiny classifier, a wide MLP and a large tree ensemble, and prints one table: rows/s (median
 * of the repetitions after warm-up), the ratio to the direct baseline, peak memory of the
 * executor JVM and of the sidecar process, and a checksum of all outputs the ways must agree on.
 *
 * <p>Run {@code benchmarks/run.sh SparkBenchmark [--quick] [--reps 3] [--rows N]} (see the
 * module README for every option). Exits 1 when the ways disagree.
 */
public final class SparkBenchmark {
  static final Set<String> VALUED = Set.of("rows", "tiny-rows", "mlp-rows", "trees-rows", "reps",
      "warmups", "partitions", "master", "models", "ways", "chunk-rows", "chunks-in-flight",
      "direct-batch", "direct-threads", "sidecar-threads", "sidecar-jvm-opts", "synapse-batch",
      "work-dir");
  static final Set<String> FLAGS = Set.of("quick", "help", "drop-inputs");

  /** Relative tolerance on checksums: float sums over differently composed batches. */
  static final double CHECKSUM_TOLERANCE = 1e-5;

  /** What to run. {@code models} keys: tiny, mlp, trees. */
  record Config(List<String> models, List<Way> ways, Map<String, Long> rows, int reps, int warmups,
      int partitions, String master, Scorers.Settings settings, Path workDir,
      Function<Path, Map<String, BenchModel>> modelFactory) {
  }

  /** One row of the table. */
  record Result(BenchModel model, Way way, long rows, List<Double> rowsPerSecond, double checksum,
      MemorySampler.Peaks peaks) {
    double median() {
      return Table.median(rowsPerSecond);
    }
  }

  private SparkBenchmark() {}

  public static void main(String[] argv) {
    Args a;
    Config config;
    try {
      a = Args.parse(argv, VALUED, FLAGS);
      if (a.flag("help")) {
        System.out.println(usage());
        return;
      }
      config = config(a);
    } catch (IllegalArgumentException e) {
      System.err.println("SparkBenchmark: " + e.getMessage());
      System.exit(2);
      return;
    }
    SparkSession spark = BenchSpark.session(config.master());
    String versions = versions(spark);
    List<Result> results;
    try {
      results = run(spark, config, System.err);
    } finally {
      spark.stop();
    }
    System.out.println();
    System.out.println(header(config) + "; " + versions);
    System.out.println(table(results));
    List<String> bad = disagreements(results);
    if (!bad.isEmpty()) {
      System.out.println("CHECKSUM MISMATCH: " + String.join("; ", bad));
      System.exit(1);
    }
  }

  static String usage() {
    return String.join("\n",
        "SparkBenchmark [--quick] [--reps 3] [--warmups 1] [--rows N | --tiny-rows N --mlp-rows N --trees-rows N]",
        "               [--models tiny,mlp,trees] [--ways process,inproc,direct] [--partitions 4] [--master local[2]]",
        "               [--chunk-rows N] [--chunks-in-flight N] [--sidecar-threads N] [--sidecar-jvm-opts '-Xmx1g ...']",
        "               [--direct-batch 1024] [--direct-threads 1] [--synapse-batch N (default: --direct-batch)]",
        "               [--drop-inputs (runSpark without the input columns)] [--work-dir DIR]",
        "Ways: direct, process, inproc, and synapseml (SynapseML's ONNXModel) in the -Pscala-2.12 build,",
        "where it is among the defaults: PROFILE=scala-2.12 benchmarks/run.sh SparkBenchmark ...");
  }

  /** The configuration from the command line; {@code --quick} shrinks sizes and repetitions for a smoke run. */
  static Config config(Args a) {
    boolean quick = a.flag("quick");
    Map<String, Long> rows = new LinkedHashMap<>();
    long all = a.longValue("rows", -1);
    rows.put("tiny", all > 0 ? all : a.longValue("tiny-rows", quick ? 100_000 : 4_000_000));
    rows.put("mlp", all > 0 ? all : a.longValue("mlp-rows", quick ? 5_000 : 100_000));
    rows.put("trees", all > 0 ? all : a.longValue("trees-rows", quick ? 5_000 : 100_000));
    List<String> models = Arrays.stream(a.string("models", "tiny,mlp,trees").split(","))
        .map(String::trim).filter(s -> !s.isEmpty()).toList();
    for (String m : models) {
      if (!rows.containsKey(m)) {
        throw new IllegalArgumentException("--models: unknown model '" + m + "', expected tiny, mlp or trees");
      }
    }
    String defaultWays = "direct,process,inproc" + (SynapseScorer.available() ? ",synapseml" : "");
    List<Way> ways = Arrays.stream(a.string("ways", defaultWays).split(","))
        .map(String::trim).filter(s -> !s.isEmpty()).map(Way::parse).toList();
    if (ways.contains(Way.SYNAPSEML) && !SynapseScorer.available()) {
      throw new IllegalArgumentException("--ways synapseml: " + SynapseScorer.HOW);
    }
    String jvmOpts = a.string("sidecar-jvm-opts", null);
    Scorers.Settings settings = new Scorers.Settings(a.intValue("chunk-rows", 0),
        a.intValue("chunks-in-flight", 0), a.intValue("direct-batch", 1024),
        a.intValue("direct-threads", 1), a.intValue("sidecar-threads", 0),
        jvmOpts == null ? null : Arrays.stream(jvmOpts.trim().split("\\s+")).toList(),
        a.intValue("synapse-batch", 0), a.flag("drop-inputs"));
    Path work = Path.of(a.string("work-dir", "benchmarks/target/bench-work")).toAbsolutePath();
    return new Config(models, ways, rows, a.intValue("reps", quick ? 1 : 3),
        a.intValue("warmups", 1), a.intValue("partitions", 4), a.string("master", "local[2]"),
        settings, work, SparkBenchmark::fullSizeModels);
  }

  /** The three models at their benchmark sizes. */
  static Map<String, BenchModel> fullSizeModels(Path dir) {
    Map<String, BenchModel> m = new LinkedHashMap<>();
    m.put("tiny", BenchModels.tiny(dir));
    m.put("mlp", BenchModels.mlp(dir));
    m.put("trees", BenchModels.trees(dir));
    return m;
  }

  /** Runs every (model, way) of {@code config} on {@code spark}; progress goes to {@code log}. */
  static List<Result> run(SparkSession spark, Config config, PrintStream log) {
    try {
      Files.createDirectories(config.workDir());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create " + config.workDir(), e);
    }
    long t0 = System.nanoTime();
    Map<String, BenchModel> all = config.modelFactory().apply(config.workDir());
    log.printf(Locale.ROOT, "models and bundles built in %.1f s under %s%n",
        (System.nanoTime() - t0) / 1e9, config.workDir());
    List<Result> results = new ArrayList<>();
    for (String key : config.models()) {
      BenchModel model = all.get(key);
      if (model == null) {
        throw new IllegalArgumentException("no model '" + key + "' among " + all.keySet());
      }
      long rows = config.rows().get(key);
      Dataset<Row> df = BenchData.features(spark, rows, model.features(), config.partitions())
          .persist(StorageLevel.MEMORY_ONLY());
      long counted = df.count();
      if (counted != rows) {
        throw new IllegalStateException("cached " + counted + " rows, expected " + rows);
      }
      try {
        results.addAll(measure(spark, model, config.ways(), df, rows, config, log));
      } finally {
        df.unpersist(true);
      }
    }
    return results;
  }

  /**
   * Measures every way on one model. The ways take turns, one repetition each per round, so
   * that the drift of a shared machine (its speed wanders by a fifth over minutes) falls on all
   * of them alike instead of on whichever way ran last.
   */
  private static List<Result> measure(SparkSession spark, BenchModel model, List<Way> ways,
      Dataset<Row> df, long rows, Config config, PrintStream log) {
    int n = ways.size();
    List<Dataset<Row>> scored = new ArrayList<>();
    double[] checksum = new double[n];
    List<List<Double>> rates = new ArrayList<>();
    MemorySampler.Peaks[] peaks = new MemorySampler.Peaks[n];
    for (int w = 0; w < n; w++) {
      Way way = ways.get(w);
      scored.add(Scorers.score(spark, model, way, df, config.settings()));
      rates.add(new ArrayList<>());
      checksum[w] = Double.NaN;
      for (int i = 0; i < config.warmups(); i++) {
        long t = System.nanoTime();
        checksum[w] = BenchData.checksum(scored.get(w), model.outputs());
        log.printf(Locale.ROOT, "[%s/%s] warm-up %d: %.2f s%n", model.key(), way.id, i + 1,
            (System.nanoTime() - t) / 1e9);
      }
    }
    for (int i = 0; i < config.reps(); i++) {
      for (int w = 0; w < n; w++) {
        Way way = ways.get(w);
        double sum;
        double secs;
        try (MemorySampler sampler = MemorySampler.start()) {
          long t = System.nanoTime();
          sum = BenchData.checksum(scored.get(w), model.outputs());
          secs = (System.nanoTime() - t) / 1e9;
          MemorySampler.Peaks p = sampler.stop();
          peaks[w] = MemorySampler.Peaks.max(peaks[w], sidecarProcess(way) ? p : p.withoutSidecar());
        }
        if (!Double.isNaN(checksum[w]) && !agree(sum, checksum[w])) {
          throw new IllegalStateException(model.key() + "/" + way.id
              + ": checksum changed between runs: " + checksum[w] + " then " + sum);
        }
        checksum[w] = sum;
        rates.get(w).add(rows / secs);
        log.printf(Locale.ROOT, "[%s/%s] rep %d: %.2f s, %s rows/s%n", model.key(), way.id,
            i + 1, secs, Table.rate(rows / secs));
      }
    }
    List<Result> out = new ArrayList<>();
    for (int w = 0; w < n; w++) {
      out.add(new Result(model, ways.get(w), rows, rates.get(w), checksum[w], peaks[w]));
    }
    return out;
  }

  static boolean sidecarProcess(Way way) {
    return way == Way.PROCESS || way == Way.PROCESS_STREAM;
  }

  static boolean agree(double a, double b) {
    return Math.abs(a - b) <= CHECKSUM_TOLERANCE * Math.max(1.0, Math.max(Math.abs(a), Math.abs(b)));
  }

  /** Ways whose checksum differs from the first way measured on the same model. */
  static List<String> disagreements(List<Result> results) {
    List<String> bad = new ArrayList<>();
    Map<String, Result> first = new LinkedHashMap<>();
    for (Result r : results) {
      Result f = first.putIfAbsent(r.model().key(), r);
      if (f != null && !agree(f.checksum(), r.checksum())) {
        bad.add(r.model().key() + ": " + r.way().id + " " + r.checksum() + " vs " + f.way().id
            + " " + f.checksum());
      }
    }
    return bad;
  }

  static String header(Config c) {
    String synapse = c.ways().contains(Way.SYNAPSEML)
        ? String.format(Locale.ROOT, " SynapseML ONNXModel: mini-batch %d, ORT default session options;",
            c.settings().synapseBatchRows())
        : SynapseScorer.available() ? "" : " (no synapseml way: not the -Pscala-2.12 build);";
    return String.format(Locale.ROOT,
        "SparkBenchmark %s, master %s, %d partitions, median of %d reps after %d warm-up(s);"
            + " direct: batch %d, %d intra-op thread(s); runSpark: chunk rows %s, chunks in flight %s,"
            + " sidecar threads %s, input columns %s;%s %s",
        Instant.now(), c.master(), c.partitions(), c.reps(), c.warmups(),
        c.settings().directBatchRows(), c.settings().directThreads(),
        orDefault(c.settings().chunkRows()), orDefault(c.settings().chunksInFlight()),
        orDefault(c.settings().sidecarThreads()),
        c.settings().dropInputs() ? "dropped" : "kept", synapse, BenchSpark.machine());
  }

  /** Spark, Scala and ONNX Runtime versions of this run (one ONNX Runtime serves every way). */
  static String versions(SparkSession spark) {
    String ort = ai.onnxruntime.OrtEnvironment.class.getPackage().getImplementationVersion();
    return String.format(Locale.ROOT, "Spark %s, Scala %s, ONNX Runtime %s", spark.version(),
        scala.util.Properties.versionNumberString(), ort == null ? "?" : ort);
  }

  private static String orDefault(int v) {
    return v > 0 ? Integer.toString(v) : "default";
  }

  /**
   * CPU time per scored row over the measured repetitions, µs (from /proc: utime + stime of the
   * whole process; the executor JVM in local mode is also Spark's driver).
   */
  private static String cpuPerRow(long nanos, Result r) {
    if (nanos < 0 || r.rowsPerSecond().isEmpty()) {
      return "—";
    }
    return Table.fixed(nanos / 1e3 / ((double) r.rows() * r.rowsPerSecond().size()), 2);
  }

  /** The results table: one row per model and way. */
  static String table(List<Result> results) {
    Table t = new Table("model", "way", "rows", "rows/s (median)", "min–max rows/s", "× direct",
        "exec RSS MB", "exec heap MB", "exec heap after GC MB", "sidecar RSS MB",
        "exec CPU µs/row", "sidecar CPU µs/row", "checksum")
        .right(2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
    Map<String, Double> direct = new LinkedHashMap<>();
    for (Result r : results) {
      if (r.way() == Way.DIRECT) {
        direct.put(r.model().key(), r.median());
      }
    }
    for (Result r : results) {
      Double d = direct.get(r.model().key());
      double min = r.rowsPerSecond().stream().mapToDouble(Double::doubleValue).min().orElse(0);
      double max = r.rowsPerSecond().stream().mapToDouble(Double::doubleValue).max().orElse(0);
      MemorySampler.Peaks p = r.peaks();
      t.add(r.model().description(), r.way().label, String.format(Locale.ROOT, "%,d", r.rows()),
          Table.rate(r.median()), Table.rate(min) + "–" + Table.rate(max),
          d == null ? "—" : Table.fixed(r.median() / d, 2),
          Table.mb(p.rss()), Table.mb(p.heapUsed()), Table.mb(p.heapAfterGc()),
          sidecarProcess(r.way()) ? Table.mb(p.sidecarRss()) : "—",
          cpuPerRow(p.selfCpuNanos(), r),
          sidecarProcess(r.way()) ? cpuPerRow(p.sidecarCpuNanos(), r) : "—",
          String.format(Locale.ROOT, "%.6g", r.checksum()));
    }
    return t.render();
  }
}
