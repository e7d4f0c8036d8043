package dev.sidecar.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sidecar.proto.stats.ApiStats;
import dev.sidecar.proto.stats.SidecarStatsServiceGrpc;
import dev.sidecar.proto.stats.StatsRequest;
import dev.sidecar.proto.stats.StatsResponse;
import dev.sidecar.wire.SidecarChannels;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code sidecar stats}: the counters and latency percentiles of a running server. */
@Command(name = "stats",
    mixinStandardHelpOptions = true,
    description = "Print a running server's per-API counters: requests, rows, batches, batch"
        + " sizes, queue depth, latency p50/p95/p99, errors by gRPC status code, and the"
        + " batcher's fitted cost model (fixed ms + ms per row).")
final class StatsCommand implements Callable<Integer> {
  @Option(names = "--target", required = true, paramLabel = "TARGET",
      description = "Where the server listens: HOST:PORT, unix:///abs/path.sock.")
  String target;

  @Mixin
  TokenOptions tokenOptions;

  @Option(names = "--tls-ca", paramLabel = "FILE",
      description = "Trust this PEM certificate and speak TLS. Default: plaintext.")
  Path tlsCa;

  @Option(names = "--json", description = "Print JSON instead of a table. Default: table.")
  boolean json;

  @Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws InterruptedException {
    String secret = tokenOptions.resolve();
    ManagedChannel ch = SidecarChannels.forTarget(target, secret, tlsCa);
    StatsResponse s;
    try {
      s = SidecarStatsServiceGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS)
          .stats(StatsRequest.getDefaultInstance());
    } catch (StatusRuntimeException e) {
      throw new IllegalArgumentException("cannot read stats from " + target + ": "
          + e.getStatus().getCode() + (e.getStatus().getDescription() == null ? ""
          : " (" + e.getStatus().getDescription() + ")"), e);
    } finally {
      ch.shutdownNow();
      ch.awaitTermination(5, TimeUnit.SECONDS);
    }
    PrintWriter out = spec.commandLine().getOut();
    out.println(json ? json(s) : table(s));
    out.flush();
    return 0;
  }

  static String table(StatsResponse s) {
    StringBuilder b = new StringBuilder();
    b.append(String.format(Locale.ROOT, "%s:%s (%s) pid %d, up since %s, ready after %d ms,"
            + " %d streams opened%n", s.getBundleName(), s.getBundleVersion(),
        s.getBundleDigest(), s.getPid(), Instant.ofEpochMilli(s.getStartedAtUnixMs()),
        s.getReadyAtUnixMs() - s.getStartedAtUnixMs(), s.getStreamsOpened()));
    String head = "%-18s %9s %10s %8s %9s %9s %6s %9s %9s %9s %9s %9s %9s %16s  %s%n";
    b.append(String.format(Locale.ROOT, head, "API", "requests", "rows", "batches",
        "meanbatch", "maxbatch", "queue", "p50 ms", "p95 ms", "p99 ms", "wait99", "infer50",
        "infer99", "fit ms+ms/row",
        "errors"));
    for (ApiStats a : s.getApisList()) {
      String errors = a.getErrorsByCodeCount() == 0 ? "-" : new TreeMap<>(a.getErrorsByCodeMap())
          .entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
          .collect(Collectors.joining(","));
      b.append(String.format(Locale.ROOT,
          "%-18s %9d %10d %8d %9.1f %9d %6d %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %16s  %s%n",
          a.getApi(), a.getRequests(), a.getRows(), a.getBatches(), a.getMeanBatchRows(),
          a.getMaxBatchRows(), a.getQueueDepth(), a.getLatencyP50Ms(), a.getLatencyP95Ms(),
          a.getLatencyP99Ms(), a.getQueueWaitP99Ms(), a.getInferenceP50Ms(),
          a.getInferenceP99Ms(), String.format(Locale.ROOT, "%.3f+%.4f",
              a.getFittedFixedMs(), a.getFittedPerRowMs()), errors));
    }
    return b.toString().stripTrailing();
  }

  static String json(StatsResponse s) {
    ObjectMapper m = new ObjectMapper();
    ObjectNode root = m.createObjectNode();
    root.put("instance_id", s.getInstanceId());
    root.put("pid", s.getPid());
    root.put("started_at_unix_ms", s.getStartedAtUnixMs());
    root.put("ready_at_unix_ms", s.getReadyAtUnixMs());
    root.put("bundle", s.getBundleName() + ":" + s.getBundleVersion());
    root.put("bundle_digest", s.getBundleDigest());
    root.put("streams_opened", s.getStreamsOpened());
    ArrayNode apis = root.putArray("apis");
    for (ApiStats a : s.getApisList()) {
      ObjectNode n = apis.addObject();
      n.put("api", a.getApi());
      n.put("requests", a.getRequests());
      n.put("rows", a.getRows());
      n.put("batches", a.getBatches());
      n.put("mean_batch_rows", a.getMeanBatchRows());
      n.put("max_batch_rows", a.getMaxBatchRows());
      n.put("queue_depth", a.getQueueDepth());
      n.put("latency_p50_ms", a.getLatencyP50Ms());
      n.put("latency_p95_ms", a.getLatencyP95Ms());
      n.put("latency_p99_ms", a.getLatencyP99Ms());
      n.put("inference_p50_ms", a.getInferenceP50Ms());
      n.put("inference_p99_ms", a.getInferenceP99Ms());
      n.put("queue_wait_p50_ms", a.getQueueWaitP50Ms());
      n.put("queue_wait_p95_ms", a.getQueueWaitP95Ms());
      n.put("queue_wait_p99_ms", a.getQueueWaitP99Ms());
      n.put("fitted_fixed_ms", a.getFittedFixedMs());
      n.put("fitted_per_row_ms", a.getFittedPerRowMs());
      n.put("shm_inputs_in_place", a.getShmInputsInPlace());
      n.put("shm_inputs_copied", a.getShmInputsCopied());
      n.put("shm_outputs_in_place", a.getShmOutputsInPlace());
      n.put("shm_outputs_copied", a.getShmOutputsCopied());
      ObjectNode errors = n.putObject("errors_by_code");
      for (Map.Entry<String, Long> e : new TreeMap<>(a.getErrorsByCodeMap()).entrySet()) {
        errors.put(e.getKey(), e.getValue());
      }
    }
    return BundleCommand.json(root);
  }
}
