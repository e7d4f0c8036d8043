package dev.sidecar.bench;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.bundle.BundleArchive;
import dev.sidecar.bundle.BundleBuilder;
import dev.sidecar.bundle.files.FileTrees;
import dev.sidecar.proto.stats.SidecarStatsServiceGrpc;
import dev.sidecar.proto.stats.StatsRequest;
import dev.sidecar.proto.stats.StatsResponse;
import dev.sidecar.spark.RunOptions;
import dev.sidecar.spark.tools.SidecarLaunch;
import dev.sidecar.testkit.OnnxModels;
import dev.sidecar.wire.SidecarChannels;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * The figures beside throughput: sidecar cold start (process start to its ready line, median
 * of 5, per model), the second job on the same bundle (what it unpacked and which sidecar it
 * used), executor and sidecar memory at two partition sizes (tiny model, one partition), and
 * bundle pack/unpack throughput next to {@code tar -czf}/{@code tar -xzf} on the same large
 * model file. Prints one table per section.
 *
 * <p>Run {@code benchmarks/run.sh SystemBenchmark [--quick] [--sections coldstart,secondjob,memory,archive]}.
 */
public final class SystemBenchmark {
  static final Set<String> VALUED = Set.of("sections", "cold-starts", "small-rows", "large-rows",
      "archive-mb", "master", "work-dir", "tar-timeout-s");
  static final Set<String> FLAGS = Set.of("quick", "help");

  private SystemBenchmark() {}

  public static void main(String[] argv) throws Exception {
    Args a;
    try {
      a = Args.parse(argv, VALUED, FLAGS);
    } catch (IllegalArgumentException e) {
      System.err.println("SystemBenchmark: " + e.getMessage());
      System.exit(2);
      return;
    }
    if (a.flag("help")) {
      System.out.println("SystemBenchmark [--quick] [--sections coldstart,secondjob,memory,archive]"
          + " [--cold-starts 5] [--small-rows 1m] [--large-rows 10m] [--archive-mb 500]"
          + " [--master local[2]] [--work-dir DIR] [--tar-timeout-s 600]");
      return;
    }
    boolean quick = a.flag("quick");
    List<String> sections = Arrays.stream(a.string("sections", "coldstart,secondjob,memory,archive")
        .split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
    for (String s : sections) {
      if (!List.of("coldstart", "secondjob", "memory", "archive").contains(s)) {
        throw new IllegalArgumentException("--sections: unknown section '" + s
            + "', expected coldstart, secondjob, memory, archive");
      }
    }
    Path work = Path.of(a.string("work-dir", "benchmarks/target/bench-work")).toAbsolutePath();
    Files.createDirectories(work);
    PrintStream log = System.err;
    Map<String, String> tables = new LinkedHashMap<>();
    Map<String, BenchModel> models = new LinkedHashMap<>();
    if (sections.contains("coldstart") || sections.contains("secondjob") || sections.contains("memory")) {
      models.put("tiny", BenchModels.tiny(work));
      if (sections.contains("coldstart")) {
        models.put("mlp", BenchModels.mlp(work));
        models.put("trees", BenchModels.trees(work));
      }
    }
    if (sections.contains("coldstart")) {
      tables.put("Sidecar cold start", coldStart(models, a.intValue("cold-starts", quick ? 2 : 5), work, log));
    }
    if (sections.contains("secondjob") || sections.contains("memory")) {
      SparkSession spark = BenchSpark.session(a.string("master", "local[2]"));
      try {
        if (sections.contains("secondjob")) {
          tables.put("Second job on the same bundle", secondJob(spark, models.get("tiny"), log));
        }
        if (sections.contains("memory")) {
          tables.put("Memory against partition size (tiny model, one partition)",
              memory(spark, models.get("tiny"), a.longValue("small-rows", quick ? 100_000 : 1_000_000),
                  a.longValue("large-rows", quick ? 1_000_000 : 10_000_000), log));
        }
      } finally {
        spark.stop();
      }
    }
    if (sections.contains("archive")) {
      tables.put("Bundle pack/unpack against tar",
          archive(work, a.longValue("archive-mb", quick ? 50 : 500), a.longValue("tar-timeout-s", 600), log));
    }
    System.out.println();
    System.out.println("SystemBenchmark " + java.time.Instant.now() + "; " + BenchSpark.machine());
    for (Map.Entry<String, String> e : tables.entrySet()) {
      System.out.println();
      System.out.println("### " + e.getKey());
      System.out.println();
      System.out.println(e.getValue());
    }
  }

  // ------------------------------------------------------------------ cold start

  static String coldStart(Map<String, BenchModel> models, int runs, Path work, PrintStream log)
      throws IOException {
    Table t = new Table("model", "bundle MB", "spawn → READY ms (median)", "min–max ms",
        "server build → ready ms (Stats)", "runs").right(1, 2, 3, 4, 5);
    RunOptions options = RunOptions.defaults();
    for (BenchModel m : models.values()) {
      Path dir = work.resolve("coldstart-" + m.key());
      FileTrees.deleteRecursively(dir);
      Bundle bundle = BundleArchive.unpack(m.archive(), dir);
      List<Double> spawn = new ArrayList<>();
      List<Double> stats = new ArrayList<>();
      for (int i = 0; i < runs; i++) {
        long t0 = System.nanoTime();
        try (SidecarLaunch s = SidecarLaunch.start(bundle, options)) {
          double ms = (System.nanoTime() - t0) / 1e6;
          spawn.add(ms);
          StatsResponse r = stats(s.target());
          stats.add((double) (r.getReadyAtUnixMs() - r.getStartedAtUnixMs()));
          log.printf(Locale.ROOT, "[coldstart/%s] run %d: spawn→READY %.0f ms, Stats ready−started %d ms%n",
              m.key(), i + 1, ms, r.getReadyAtUnixMs() - r.getStartedAtUnixMs());
        }
      }
      t.add(m.description(), Table.fixed(Files.size(m.archive()) / 1048576.0, 1),
          Table.fixed(Table.median(spawn), 0),
          Table.fixed(spawn.stream().mapToDouble(Double::doubleValue).min().orElse(0), 0) + "–"
              + Table.fixed(spawn.stream().mapToDouble(Double::doubleValue).max().orElse(0), 0),
          Table.fixed(Table.median(stats), 0), runs);
    }
    return t.render() + "\nStarted exactly as an executor starts one (the connector's"
        + " SidecarLaunch, default"
        + " RunOptions: " + String.join(" ", RunOptions.DEFAULT_SIDECAR_JVM_OPTIONS) + ", the trimmed sidecar class"
        + " path); spawn → READY is the time the starting task waits, from the launch to the ready line;"
        + " Stats gives ready_at − started_at as the server reports them (started_at = when the server began"
        + " loading the bundle's models, after JVM start and class loading).\n";
  }

  static StatsResponse stats(String target) {
    ManagedChannel ch = SidecarChannels.forTarget(target);
    try {
      return SidecarStatsServiceGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS)
          .stats(StatsRequest.getDefaultInstance());
    } finally {
      ch.shutdownNow();
    }
  }

  // ------------------------------------------------------------------ second job

  static String secondJob(SparkSession spark, BenchModel tiny, PrintStream log) throws IOException {
    Dataset<Row> df = BenchData.features(spark, 200_000, tiny.features(), 2);
    Table t = new Table("job", "seconds", "sidecar pid", "sidecar instance", "streams opened (total)",
        "rows inferred (total)").right(1, 2, 4, 5);
    String firstInstance = null;
    long firstPid = -1;
    String second = "";
    for (int job = 1; job <= 2; job++) {
      long t0 = System.nanoTime();
      BenchData.checksum(Scorers.score(spark, tiny, Way.PROCESS, df, Scorers.Settings.defaults()),
          tiny.outputs());
      double secs = (System.nanoTime() - t0) / 1e9;
      ProcessHandle sc = busiestSidecar();
      StatsResponse r = stats(sidecarTarget(sc));
      long rows = r.getApisList().stream().mapToLong(x -> x.getRows()).sum();
      t.add(job == 1 ? "first" : "second", Table.fixed(secs, 2), sc.pid(), r.getInstanceId(),
          r.getStreamsOpened(), String.format(Locale.ROOT, "%,d", rows));
      log.printf(Locale.ROOT, "[secondjob] job %d: %.2f s, sidecar pid %d%n", job, secs, sc.pid());
      if (job == 1) {
        firstInstance = r.getInstanceId();
        firstPid = sc.pid();
      } else {
        second = r.getInstanceId().equals(firstInstance) && sc.pid() == firstPid
            ? "The second job used the same sidecar process (same pid and instance id)."
            : "The second job used a DIFFERENT sidecar (pid " + firstPid + " → " + sc.pid() + ").";
      }
    }
    return t.render() + "\n" + second + "\n";
  }

  /** The sidecar started by this JVM that used the most CPU. */
  static ProcessHandle busiestSidecar() {
    return ProcStatus.sidecars().stream().max(Comparator.comparingLong(ProcStatus::cpuNanos))
        .orElseThrow(() -> new IllegalStateException("no sidecar process is running under this JVM"));
  }

  /** {@code unix://<socket>} or {@code 127.0.0.1:<port>} from the sidecar's command line. */
  static String sidecarTarget(ProcessHandle p) throws IOException {
    byte[] raw = Files.readAllBytes(Path.of("/proc/" + p.pid() + "/cmdline"));
    List<String> args = Arrays.asList(new String(raw, StandardCharsets.UTF_8).split("\0"));
    int s = args.indexOf("--socket");
    if (s >= 0) {
      return "unix://" + Path.of(args.get(s + 1)).toAbsolutePath();
    }
    int port = args.indexOf("--port");
    if (port >= 0 && !args.get(port + 1).equals("0")) {
      return "127.0.0.1:" + args.get(port + 1);
    }
    throw new IllegalStateException("cannot tell where sidecar " + p.pid() + " listens from its"
        + " command line " + args);
  }

  // ------------------------------------------------------------------ memory

  static String memory(SparkSession spark, BenchModel tiny, long small, long large, PrintStream log) {
    Table t = new Table("rows in the partition", "way", "seconds", "rows/s", "exec RSS MB",
        "exec heap MB", "exec heap after GC MB", "sidecar RSS MB").right(0, 2, 3, 4, 5, 6, 7);
    for (Way way : List.of(Way.PROCESS, Way.IN_PROCESS, Way.DIRECT)) {
      for (long rows : List.of(small, large)) {
        Dataset<Row> df = BenchData.features(spark, rows, tiny.features(), 1);
        Dataset<Row> scored = Scorers.score(spark, tiny, way, df, Scorers.Settings.defaults());
        // a small warm-up starts the sidecar outside the measured window
        BenchData.checksum(Scorers.score(spark, tiny, way, BenchData.features(spark, 10_000, tiny.features(), 1),
            Scorers.Settings.defaults()), tiny.outputs());
        System.gc();
        MemorySampler.Peaks p;
        long t0 = System.nanoTime();
        try (MemorySampler sampler = MemorySampler.start()) {
          BenchData.checksum(scored, tiny.outputs());
          p = sampler.stop();
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        log.printf(Locale.ROOT, "[memory/%s] %,d rows: %.2f s%n", way.id, rows, secs);
        t.add(String.format(Locale.ROOT, "%,d", rows), way.label, Table.fixed(secs, 2), Table.rate(rows / secs),
            Table.mb(p.rss()), Table.mb(p.heapUsed()), Table.mb(p.heapAfterGc()),
            way == Way.PROCESS ? Table.mb(p.sidecarRss()) : "—");
      }
    }
    return t.render() + "\nExecutor = this JVM (local mode, max heap " + (Runtime.getRuntime().maxMemory() >> 20)
        + " MB); RSS of a JVM rarely shrinks, so the heap left after each GC (the live set) is the"
        + " figure that shows whether memory grows with the partition.\n";
  }

  // ------------------------------------------------------------------ archive

  static String archive(Path work, long targetMb, long tarTimeoutS, PrintStream log)
      throws IOException, InterruptedException {
    Path dir = work.resolve("archive");
    FileTrees.deleteRecursively(dir);
    Files.createDirectories(dir);
    Path model = dir.resolve("large.onnx");
    long t0 = System.nanoTime();
    OnnxModels.writeLargeModel(model, targetMb << 20, BenchModels.SEED);
    long bytes = Files.size(model);
    double mb = bytes / 1048576.0;
    log.printf(Locale.ROOT, "[archive] wrote %s (%.0f MB) in %.1f s%n", model, mb, (System.nanoTime() - t0) / 1e9);
    Path yaml = dir.resolve("bundle.yaml");
    // One API feeding an int64 index column to the large model's Gather.
    Files.writeString(yaml, "name: bench_large\n"
        + "models:\n  - name: large\n    path: large.onnx\n"
        + "apis:\n  - name: lookup\n    input: {kind: series, column: index, model_input: index,"
        + " dtype: int64}\n");

    Table t = new Table("step", "seconds", "MB/s of model", "output MB").right(1, 2, 3);
    Path archive = dir.resolve("bench_large.bundle");
    t0 = System.nanoTime();
    BundleBuilder.fromSpec(yaml).version("1").build(archive);
    double pack = (System.nanoTime() - t0) / 1e9;
    t.add("bundle pack (BundleBuilder.build: validate, hash, tar+gzip)", Table.fixed(pack, 2),
        Table.fixed(mb / pack, 1), Table.fixed(Files.size(archive) / 1048576.0, 0));
    log.printf(Locale.ROOT, "[archive] pack %.2f s%n", pack);

    Path unpacked = dir.resolve("unpacked");
    t0 = System.nanoTime();
    BundleArchive.unpack(archive, unpacked);
    double unpack = (System.nanoTime() - t0) / 1e9;
    t.add("bundle unpack (BundleArchive.unpack: gunzip, untar, verify SHA-256)", Table.fixed(unpack, 2),
        Table.fixed(mb / unpack, 1), Table.fixed(treeSize(unpacked) / 1048576.0, 0));
    log.printf(Locale.ROOT, "[archive] unpack %.2f s%n", unpack);

    Path tgz = dir.resolve("large.tar.gz");
    double tarC = run(List.of("tar", "-czf", tgz.toString(), "-C", dir.toString(), "large.onnx"), tarTimeoutS);
    t.add("tar -czf (same model file)", Table.fixed(tarC, 2), Table.fixed(mb / tarC, 1),
        Table.fixed(Files.size(tgz) / 1048576.0, 0));
    Path untar = Files.createDirectories(dir.resolve("untar"));
    double tarX = run(List.of("tar", "-xzf", tgz.toString(), "-C", untar.toString()), tarTimeoutS);
    t.add("tar -xzf", Table.fixed(tarX, 2), Table.fixed(mb / tarX, 1),
        Table.fixed(treeSize(untar) / 1048576.0, 0));
    log.printf(Locale.ROOT, "[archive] tar -czf %.2f s, tar -xzf %.2f s%n", tarC, tarX);
    String note = String.format(Locale.ROOT, "%nModel file: %.0f MB (%s). MB/s = model MB / seconds.%n",
        mb, "testkit OnnxModels.writeLargeModel: one float32 initializer of hashed values in [-1, 1)");
    FileTrees.deleteRecursively(dir);
    return t.render() + note;
  }

  /** Runs a command, bounded by {@code timeoutS}; returns its wall time in seconds. */
  static double run(List<String> cmd, long timeoutS) throws IOException, InterruptedException {
    long t0 = System.nanoTime();
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    if (!p.waitFor(timeoutS, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IllegalStateException(String.join(" ", cmd) + " took longer than " + timeoutS + " s");
    }
    if (p.exitValue() != 0) {
      throw new IllegalStateException(String.join(" ", cmd) + " exited with " + p.exitValue());
    }
    return (System.nanoTime() - t0) / 1e9;
  }

  static long treeSize(Path dir) throws IOException {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(Files::isRegularFile).mapToLong(p -> {
        try {
          return Files.size(p);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      }).sum();
    }
  }

  static String tail(Path file) {
    try {
      List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
    } catch (IOException e) {
      return "(unreadable: " + e.getMessage() + ")";
    }
  }
}
