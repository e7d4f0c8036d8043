package dev.sidecar.spark.internal;

import dev.sidecar.server.ServerOptions;
import dev.sidecar.spark.RunOptions;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkEnv;

/**
 * How many tasks this executor runs at once: the sidecar runs that many batches at once, so
 * that a sidecar serving all of an executor's tasks can use the cores they would have used.
 */
final class ExecutorSlots {
  private ExecutorSlots() {
  }

  static int count() {
    int cpus = Runtime.getRuntime().availableProcessors();
    SparkEnv env = SparkEnv.get();
    if (env == null) {
      return cpus;
    }
    return Math.max(1, Math.min(cpus, fromConf(env.conf(), cpus)));
  }

  /** {@code spark.executor.cores}, else the N of a {@code local[N]} master, else all cores. */
  static int fromConf(SparkConf conf, int cpus) {
    if (conf.contains("spark.executor.cores")) {
      return conf.getInt("spark.executor.cores", cpus);
    }
    String master = conf.get("spark.master", "");
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("local\\[(\\d+)(,\\d+)?]")
        .matcher(master);
    return m.matches() ? Integer.parseInt(m.group(1)) : cpus;
  }

  /**
   * The server options of a sidecar the connector starts, in or out of process: one inference
   * worker per task slot, a queue sized by {@link #maxQueuedRows}, and the intra-op threads the
   * options ask for (0 = ONNX Runtime's choice).
   */
  static ServerOptions serverOptions(RunOptions options) {
    return ServerOptions.defaults()
        .withInferenceWorkers(count())
        .withMaxQueuedRows(maxQueuedRows(options))
        .withIntraOpThreads(options.sidecarIntraOpThreads());
  }

  /**
   * How many rows the sidecar may queue per API: what every task slot of this executor can
   * have in flight with the largest chunks these options (or the defaults, for another job
   * sharing the sidecar) can produce, twice over (for two jobs sharing the sidecar). The
   * connector's own streams are bounded by construction, so the sidecar's overload guard must
   * never refuse them. Chunks are sized by {@link RunOptions#chunkRowsFor} alone, here as in
   * the task.
   */
  private static int maxQueuedRows(RunOptions options) {
    long chunk = Math.max(options.largestChunkRows(), RunOptions.defaults().largestChunkRows());
    long rows = 2L * count() * options.chunksInFlight() * chunk;
    return (int) Math.min(Integer.MAX_VALUE, rows);
  }
}
