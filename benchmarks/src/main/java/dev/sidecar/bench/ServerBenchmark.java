package dev.sidecar.bench;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.bundle.BundleArchive;
import dev.sidecar.bundle.BundleBuilder;
import dev.sidecar.bundle.files.FileTrees;
import dev.sidecar.proto.inference.GRPCInferenceServiceGrpc;
import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.proto.inference.ModelStreamInferResponse;
import dev.sidecar.proto.stats.ApiStats;
import dev.sidecar.proto.stats.SidecarStatsServiceGrpc;
import dev.sidecar.proto.stats.StatsRequest;
import dev.sidecar.server.ModelServer;
import dev.sidecar.server.ServerOptions;
import dev.sidecar.tensor.RawCodec;
import dev.sidecar.testkit.OnnxModels;
import dev.sidecar.wire.SidecarChannels;
import io.grpc.ManagedChannel;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.io.IOException;
import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Measures the adaptive batcher: 1, 4, 16 and 64 concurrent callers each sending single-row
 * unary requests in a closed loop, against the same model served with batching on and off,
 * plus one chunked stream; prints throughput and latency percentiles as a Markdown table.
 * Bounded in time: every cell runs a warm-up then a fixed measuring window.
 *
 * <pre>
 * benchmarks/run.sh ServerBenchmark --seconds 4 --model mlp --transport tcp
 * </pre>
 *
 * Every cell gets a server of its own (so the server's own figures, the queue wait and the model
 * time, are the cell's), after a JIT warm-up of the whole path (unary calls at up to 16
 * callers in both modes, then the stream) that lasts until the compiler is quiet.
 *
 * <p>Options: {@code --seconds S} measuring window per cell (default 4), {@code --warmup S}
 * per cell (default 1), {@code --jit-warmup S} at least, before the cells, until the JIT
 * compiler is quiet (default 12),
 * {@code --model mlp|wide|large|linear} (mlp = 256-512-512-16 MLP, the default; linear = a
 * 64-feature, 8-class logistic regression; wide = a 1024-2048-2048-16 MLP whose 25 MB of weights
 * make a model call's fixed cost large; large = a 2048-4096-4096-16 MLP, 100 MB of weights, whose
 * calls cost far more than an RPC), {@code --transport tcp|uds} (default tcp),
 * {@code --callers 1,4,16,64}, {@code --max-latency-ms N} (default 5), {@code --max-batch N}
 * (default 64), {@code --chunk N} rows per stream message (default 256), {@code --intra-op-threads
 * N} (default 1), {@code --inference-workers N} per API (default 1).
 */
public final class ServerBenchmark {
  /** Input width of each {@code --model}. */
  private static final Map<String, Integer> FEATURES =
      Map.of("mlp", 256, "wide", 1024, "large", 2048, "linear", 64);

  private ServerBenchmark() {
  }

  private record Config(double seconds, double warmup, double jitWarmup, String model,
      String transport, int[] callers, int maxLatencyMs, int maxBatch, int chunk, int intraOp,
      int workers) {
  }

  private record Cell(String mode, String load, long requests, long rows, double seconds,
      double[] latMs, double meanBatch, double serverP99, double waitP99, double modelP50,
      double modelP99) {
    double pct(double q) {
      if (latMs.length == 0) {
        return 0;
      }
      int i = (int) Math.ceil(q * latMs.length) - 1;
      return latMs[Math.max(0, Math.min(latMs.length - 1, i))];
    }
  }

  public static void main(String[] argv) throws Exception {
    Config cfg = parse(argv);
    Path work = Files.createTempDirectory("sidecar-bench");
    int features = FEATURES.get(cfg.model());
    // The MLPs are features -> 2 features -> 2 features -> 16.
    byte[] onnx = cfg.model().equals("linear")
        ? OnnxModels.linearClassifier("x", features, 8, 1)
        : OnnxModels.mlp(features, new int[] {2 * features, 2 * features}, 16, 1);
    String outputs = cfg.model().equals("linear")
        ? "      - {name: label, from: label}\n      - {name: probabilities, from: probabilities,"
            + " shape: [-1, 8]}\n"
        : "      - {name: y, from: y, shape: [-1, 16]}\n";
    String api = "    model: m\n    input: {kind: tensor, column: x, model_input: x, dtype: float32,"
        + " shape: [-1, " + features + "]}\n    outputs:\n" + outputs;
    String yaml = "name: bench\nversion: \"1\"\nmodels:\n  - {name: m, path: m.onnx}\napis:\n"
        + "  - name: batched\n" + api + "    batching: {enabled: true, max_batch_size: "
        + cfg.maxBatch() + ", max_latency_ms: " + cfg.maxLatencyMs() + "}\n"
        + "  - name: unbatched\n" + api + "    batching: {enabled: false}\n";
    Path src = Files.createDirectories(work.resolve("src"));
    Files.write(src.resolve("m.onnx"), onnx);
    Files.writeString(src.resolve("bundle.yaml"), yaml);
    BundleBuilder.fromSpec(src.resolve("bundle.yaml")).build(work.resolve("b.bundle"));
    Bundle bundle = BundleArchive.unpack(work.resolve("b.bundle"), work.resolve("b"));

    System.err.printf(Locale.ROOT, "model %s over %s, %.0f s per cell after %.0f s%n",
        cfg.model(), cfg.transport(), cfg.seconds(), cfg.warmup());
    warmJit(bundle, cfg, work, features);
    List<Cell> cells = new ArrayList<>();
    for (int c : cfg.callers()) {
      for (String mode : List.of("unbatched", "batched")) {
        Cell cell = onServer(bundle, cfg, work, ch -> unary(ch, mode, c, features, cfg));
        cells.add(cell);
        System.err.println(row(cell));
      }
    }
    Cell s = onServer(bundle, cfg, work, ch -> stream(ch, "batched", features, cfg));
    cells.add(s);
    System.err.println(row(s));
    System.out.println("| mode | load | requests/s | rows/s | p50 ms | p95 ms | p99 ms |"
        + " mean batch rows | wait p99 ms | model p50 ms | model p99 ms |");
    System.out.println("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        + " ---: |");
    for (Cell c : cells) {
      System.out.println(row(c));
    }
    for (int c : cfg.callers()) {
      Cell off = cells.stream().filter(x -> x.mode().equals("unbatched")
          && x.load().equals(c + " callers")).findFirst().orElseThrow();
      Cell on = cells.stream().filter(x -> x.mode().equals("batched")
          && x.load().equals(c + " callers")).findFirst().orElseThrow();
      double bound = cfg.maxLatencyMs() + on.modelP99();
      System.out.printf(Locale.ROOT, "%d callers: batching gives %.2fx the throughput; batched"
          + " p99 %.1f ms at the callers, %.1f ms in the server, against max_latency_ms + one"
          + " inference (p99) %d + %.1f = %.1f ms: %s%n", c,
          (on.requests() / on.seconds()) / (off.requests() / off.seconds()), on.pct(0.99),
          on.serverP99(), cfg.maxLatencyMs(), on.modelP99(), bound,
          on.pct(0.99) <= bound ? "within" : on.serverP99() <= bound ? "within in the server"
              : "over");
    }
    FileTrees.deleteRecursively(work);
  }

  /**
   * The JVM compiles gRPC, Netty and protobuf for tens of seconds on two cores (one C2 thread),
   * and a cell measured beside the compiler pays for it. Runs the whole path (unary calls in
   * both modes, then the stream) in rounds until a round's compile time is under 5% of its
   * length, for at least {@code --jit-warmup} seconds and at most 120.
   */
  private static void warmJit(Bundle bundle, Config cfg, Path work, int features)
      throws Exception {
    CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
    int callers = Math.min(16, Arrays.stream(cfg.callers()).max().orElse(16));
    long start = System.nanoTime();
    onServer(bundle, cfg, work, ch -> {
      ExecutorService pool = Executors.newFixedThreadPool(callers);
      try {
        while (true) {
          long compiled = jit.getTotalCompilationTime();
          long t0 = System.nanoTime();
          for (String mode : List.of("unbatched", "batched")) {
            run(pool, ch, mode, callers, features, 2, false);
          }
          streamFor(ch, "batched", features, cfg.chunk(), 1);
          double roundMs = (System.nanoTime() - t0) / 1e6;
          double busy = (jit.getTotalCompilationTime() - compiled) / roundMs;
          double total = (System.nanoTime() - start) / 1e9;
          if ((busy < 0.05 && total >= cfg.jitWarmup()) || total >= 120) {
            System.err.printf(Locale.ROOT, "JIT warm-up: %.0f s, the compiler busy %.0f%% of"
                + " the last round%n", total, 100 * busy);
            return null;
          }
        }
      } finally {
        pool.shutdownNow();
      }
    });
  }

  /** Runs {@code task} against a server of its own, so that every figure it reads is its own. */
  private static <T> T onServer(Bundle bundle, Config cfg, Path work, Measure<T> task)
      throws Exception {
    ModelServer.Builder sb = ModelServer.builder(bundle)
        .options(ServerOptions.defaults().withIntraOpThreads(cfg.intraOp())
            .withInferenceWorkers(cfg.workers()));
    if (cfg.transport().equals("uds")) {
      Path sock = work.resolve("bench.sock");
      Files.deleteIfExists(sock);
      sb.unixSocket(sock);
    } else {
      sb.tcp("127.0.0.1", 0);
    }
    try (ModelServer server = sb.start()) {
      ManagedChannel ch = SidecarChannels.forTarget(server.target());
      try {
        return task.run(ch);
      } finally {
        ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  /** One measurement on a channel to a fresh server. */
  private interface Measure<T> {
    T run(ManagedChannel ch) throws Exception;
  }

  private static String row(Cell c) {
    return String.format(Locale.ROOT, "| %s | %s | %.0f | %.0f | %.2f | %.2f | %.2f | %.1f |"
        + " %.2f | %.2f | %.2f |", c.mode(), c.load(), c.requests() / c.seconds(),
        c.rows() / c.seconds(), c.pct(0.50), c.pct(0.95), c.pct(0.99), c.meanBatch(), c.waitP99(),
        c.modelP50(), c.modelP99());
  }

  /**
   * Runs the model once at a few batch sizes through the other API, so that ONNX Runtime's first,
   * slower calls on a new session stay out of the measured API's figures.
   */
  private static void prime(ManagedChannel ch, String otherApi, int features, int maxBatch) {
    GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub stub =
        GRPCInferenceServiceGrpc.newBlockingStub(ch);
    for (int rows : new int[] {1, Math.min(16, maxBatch), 1, Math.min(16, maxBatch)}) {
      stub.modelInfer(request(otherApi, OnnxModels.randomFloats(rows * features, rows), rows,
          features));
    }
  }

  private static ModelInferRequest request(String api, float[] x, int rows, int features) {
    return ModelInferRequest.newBuilder().setModelName(api)
        .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("x")
            .setDatatype("FP32").addShape(rows).addShape(features))
        .addRawInputContents(RawCodec.encodeFloats(x, 0, x.length)).build();
  }

  private static Cell cell(String mode, String load, long requests, long rows, double secs,
      double[] latMs, ApiStats before, ApiStats after) {
    long batches = after.getBatches() - before.getBatches();
    long batchedRows = after.getRows() - before.getRows();
    return new Cell(mode, load, requests, rows, secs, latMs,
        batches == 0 ? 0 : (double) batchedRows / batches, after.getLatencyP99Ms(),
        after.getQueueWaitP99Ms(), after.getInferenceP50Ms(), after.getInferenceP99Ms());
  }

  private static ApiStats stats(ManagedChannel ch, String api) {
    return SidecarStatsServiceGrpc.newBlockingStub(ch).stats(StatsRequest.getDefaultInstance())
        .getApisList().stream().filter(a -> a.getApi().equals(api)).findFirst().orElseThrow();
  }

  /** {@code callers} threads, each sending single-row requests back to back. */
  private static Cell unary(ManagedChannel ch, String api, int callers, int features,
      Config cfg) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(callers);
    try {
      prime(ch, api.equals("batched") ? "unbatched" : "batched", features, cfg.maxBatch());
      run(pool, ch, api, callers, features, cfg.warmup(), false);
      ApiStats before = stats(ch, api);
      long t0 = System.nanoTime();
      List<double[]> lat = run(pool, ch, api, callers, features, cfg.seconds(), true);
      double secs = (System.nanoTime() - t0) / 1e9;
      ApiStats after = stats(ch, api);
      double[] all = lat.stream().flatMapToDouble(Arrays::stream).sorted().toArray();
      return cell(api, callers + " callers", all.length, all.length, secs, all, before, after);
    } finally {
      pool.shutdownNow();
    }
  }

  private static List<double[]> run(ExecutorService pool, ManagedChannel ch, String api,
      int callers, int features, double seconds, boolean keep) throws Exception {
    long end = System.nanoTime() + (long) (seconds * 1e9);
    CountDownLatch go = new CountDownLatch(1);
    List<Future<double[]>> fs = new ArrayList<>();
    for (int c = 0; c < callers; c++) {
      int caller = c;
      fs.add(pool.submit(() -> {
        ModelInferRequest req = request(api, OnnxModels.randomFloats(features, caller), 1,
            features);
        GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub stub =
            GRPCInferenceServiceGrpc.newBlockingStub(ch);
        double[] lat = new double[1024];
        int n = 0;
        go.await();
        while (System.nanoTime() < end) {
          long s = System.nanoTime();
          stub.modelInfer(req);
          double ms = (System.nanoTime() - s) / 1e6;
          if (keep) {
            if (n == lat.length) {
              lat = Arrays.copyOf(lat, n * 2);
            }
            lat[n++] = ms;
          }
        }
        return Arrays.copyOf(lat, n);
      }));
    }
    go.countDown();
    List<double[]> out = new ArrayList<>();
    for (Future<double[]> f : fs) {
      out.add(f.get());
    }
    return out;
  }

  /** One stream sending {@code chunk}-row messages with at most 8 in flight. */
  private static Cell stream(ManagedChannel ch, String api, int features, Config cfg)
      throws Exception {
    prime(ch, "unbatched", features, cfg.maxBatch());
    streamFor(ch, api, features, cfg.chunk(), cfg.warmup());
    ApiStats before = stats(ch, api);
    long t0 = System.nanoTime();
    double[] lat = streamFor(ch, api, features, cfg.chunk(), cfg.seconds());
    double secs = (System.nanoTime() - t0) / 1e9;
    ApiStats after = stats(ch, api);
    Arrays.sort(lat);
    return cell("batched", "1 stream, " + cfg.chunk() + "-row chunks", lat.length,
        (long) lat.length * cfg.chunk(), secs, lat, before, after);
  }

  private static double[] streamFor(ManagedChannel ch, String api, int features, int chunk,
      double seconds) throws InterruptedException {
    ModelInferRequest req = request(api, OnnxModels.randomFloats(chunk * features, 42), chunk,
        features);
    long end = System.nanoTime() + (long) (seconds * 1e9);
    int window = 8;
    long[] sentAt = new long[1 << 20];
    AtomicLong sent = new AtomicLong();
    AtomicLong received = new AtomicLong();
    List<Double> lat = new ArrayList<>();
    CountDownLatch done = new CountDownLatch(1);
    GRPCInferenceServiceGrpc.newStub(ch).modelStreamInfer(
        new ClientResponseObserver<ModelInferRequest, ModelStreamInferResponse>() {
          ClientCallStreamObserver<ModelInferRequest> out;
          boolean closed;

          @Override
          public void beforeStart(ClientCallStreamObserver<ModelInferRequest> s) {
            out = s;
            s.setOnReadyHandler(this::pump);
          }

          synchronized void pump() {
            while (!closed && out.isReady() && sent.get() - received.get() < window) {
              if (System.nanoTime() >= end || sent.get() >= sentAt.length) {
                if (sent.get() == received.get()) {
                  closed = true;
                  out.onCompleted();
                }
                return;
              }
              sentAt[(int) sent.get()] = System.nanoTime();
              sent.incrementAndGet();
              out.onNext(req);
            }
          }

          @Override
          public void onNext(ModelStreamInferResponse r) {
            if (!r.getErrorMessage().isEmpty()) {
              throw new IllegalStateException(r.getErrorMessage());
            }
            long i = received.getAndIncrement();
            synchronized (lat) {
              lat.add((System.nanoTime() - sentAt[(int) i]) / 1e6);
            }
            pump();
          }

          @Override
          public void onError(Throwable t) {
            System.err.println("stream failed: " + t);
            done.countDown();
          }

          @Override
          public void onCompleted() {
            done.countDown();
          }
        });
    done.await((long) seconds + 60, TimeUnit.SECONDS);
    synchronized (lat) {
      return lat.stream().mapToDouble(Double::doubleValue).toArray();
    }
  }

  private static Config parse(String[] argv) {
    double seconds = 4;
    double warmup = 1;
    double jitWarmup = 12;
    String model = "mlp";
    String transport = "tcp";
    int[] callers = {1, 4, 16, 64};
    int maxLatency = 5;
    int maxBatch = 64;
    int chunk = 256;
    int intra = 1;
    int workers = 1;
    for (int i = 0; i + 1 < argv.length; i += 2) {
      String v = argv[i + 1];
      switch (argv[i]) {
        case "--seconds" -> seconds = Double.parseDouble(v);
        case "--warmup" -> warmup = Double.parseDouble(v);
        case "--jit-warmup" -> jitWarmup = Double.parseDouble(v);
        case "--model" -> model = v;
        case "--transport" -> transport = v;
        case "--callers" -> callers = Arrays.stream(v.split(",")).mapToInt(Integer::parseInt)
            .toArray();
        case "--max-latency-ms" -> maxLatency = Integer.parseInt(v);
        case "--max-batch" -> maxBatch = Integer.parseInt(v);
        case "--chunk" -> chunk = Integer.parseInt(v);
        case "--intra-op-threads" -> intra = Integer.parseInt(v);
        case "--inference-workers" -> workers = Integer.parseInt(v);
        default -> throw new IllegalArgumentException("unknown option " + argv[i]);
      }
    }
    if (!FEATURES.containsKey(model)) {
      throw new IllegalArgumentException("--model must be mlp, wide, large or linear, got '"
          + model + "'");
    }
    return new Config(seconds, warmup, jitWarmup, model, transport, callers, maxLatency, maxBatch,
        chunk, intra, workers);
  }
}
