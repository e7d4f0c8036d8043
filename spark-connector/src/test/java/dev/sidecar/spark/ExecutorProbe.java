package dev.sidecar.spark;

import dev.sidecar.proto.stats.ApiStats;
import dev.sidecar.proto.stats.StatsResponse;
import dev.sidecar.spark.internal.ConnectorRuntime;
import dev.sidecar.spark.internal.SidecarCache;
import dev.sidecar.spark.internal.SidecarKey;
import dev.sidecar.spark.internal.SidecarRegistry;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import org.apache.spark.SparkEnv;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * A task that reports, from inside an executor, what that executor's sidecar registry and bundle
 * cache hold: the sidecar's own Stats (instance id, pid, rows served, streams), how many sidecars
 * the registry started, how many times this JVM unpacked the bundle, where its sidecar cache is
 * and its first Spark local directory. Starts nothing.
 */
public final class ExecutorProbe implements MapPartitionsFunction<Row, Row> {
  private static final long serialVersionUID = 1L;
  static final StructType SCHEMA = new StructType()
      .add("executor", DataTypes.StringType)
      .add("instance_id", DataTypes.StringType)
      .add("pid", DataTypes.LongType)
      .add("rows", DataTypes.LongType)
      .add("streams", DataTypes.LongType)
      .add("starts", DataTypes.IntegerType)
      .add("unpacks", DataTypes.IntegerType)
      .add("jvm_pid", DataTypes.LongType)
      .add("fetches", DataTypes.IntegerType)
      .add("cache_root", DataTypes.StringType)
      .add("local_dir", DataTypes.StringType);

  private final SidecarKey key;

  ExecutorProbe(SidecarKey key) {
    this.key = key;
  }

  /** One probe row per task of a job of {@code tasks} tasks (several per executor). */
  static List<Row> run(SparkSession spark, SidecarKey key, int tasks) {
    Dataset<Row> seeds = spark.range(0, tasks, 1, tasks).toDF();
    return seeds.mapPartitions(new ExecutorProbe(key), Encoders.row(SCHEMA)).collectAsList();
  }

  @Override
  public Iterator<Row> call(Iterator<Row> input) throws Exception {
    Thread.sleep(300); // spread the probe's tasks over every executor
    Optional<StatsResponse> stats = SidecarRegistry.get().stats(key);
    long rows = stats.map(s -> s.getApisList().stream().mapToLong(ApiStats::getRows).sum()).orElse(-1L);
    return List.of(RowFactory.create(SparkEnv.get().executorId(),
        stats.map(StatsResponse::getInstanceId).orElse(""),
        stats.map(StatsResponse::getPid).orElse(-1L), rows,
        stats.map(StatsResponse::getStreamsOpened).orElse(-1L),
        SidecarRegistry.get().starts(key), ConnectorRuntime.get().bundles().unpacks(key.bundleDigest()),
        ProcessHandle.current().pid(), ConnectorRuntime.get().bundles().fetches(), SidecarCache.root().toString(),
        SparkEnv.get().blockManager().diskBlockManager().localDirs()[0].getAbsolutePath()))
        .iterator();
  }
}
