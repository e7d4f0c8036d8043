package dev.sidecar.bench;

import dev.sidecar.spark.RunOptions;
import dev.sidecar.spark.Sidecar;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * Turns (model, way) into the scored DataFrame: the one place that calls the connector (and,
 * through {@link SynapseScorer}, SynapseML's ONNXModel).
 */
final class Scorers {
  /**
   * Knobs of the ways: connector chunking, the direct baseline's batch and threads, and
   * SynapseML's mini-batch size ({@code synapseBatchRows}; 0: the same as the direct batch), and
   * whether {@code runSpark} drops the input columns ({@code dropInputs}: its output is then the
   * outputs alone, where by default it passes every input column through, the 1 KiB
   * {@code features} included, as SynapseML does; the direct way returns {@code id} and the outputs).
   */
  record Settings(int chunkRows, int chunksInFlight, int directBatchRows, int directThreads,
      int sidecarThreads, List<String> sidecarJvmOptions, int synapseBatchRows,
      boolean dropInputs) {
    Settings {
      sidecarJvmOptions = sidecarJvmOptions == null ? null : List.copyOf(sidecarJvmOptions);
      synapseBatchRows = synapseBatchRows > 0 ? synapseBatchRows : directBatchRows;
    }

    /**
     * Connector defaults (0 / null: not set), direct batches of 1024 rows on one intra-op
     * thread, SynapseML mini-batches of 1024 rows.
     */
    static Settings defaults() {
      return new Settings(0, 0, 1024, 1, 0, null, 0, false);
    }
  }

  private Scorers() {}

  static Dataset<Row> score(SparkSession spark, BenchModel model, Way way, Dataset<Row> df, Settings s) {
    return switch (way) {
      case DIRECT -> DirectScorer.score(spark, model, df, s.directBatchRows(), s.directThreads());
      case PROCESS, PROCESS_STREAM, IN_PROCESS -> Sidecar.runSpark(model.archive(), model.api(), df, options(way, s));
      case SYNAPSEML -> SynapseScorer.score(model, df, s.synapseBatchRows());
    };
  }

  private static RunOptions options(Way way, Settings s) {
    RunOptions.Builder b = RunOptions.builder()
        .sidecarMode(way == Way.IN_PROCESS ? RunOptions.SidecarMode.IN_PROCESS
            : RunOptions.SidecarMode.PROCESS)
        .sharedMemory(way != Way.PROCESS_STREAM)
        .keepInputColumns(!s.dropInputs());
    if (s.chunkRows() > 0) {
      b.chunkRows(s.chunkRows());
    }
    if (s.chunksInFlight() > 0) {
      b.chunksInFlight(s.chunksInFlight());
    }
    if (s.sidecarThreads() > 0) {
      b.sidecarIntraOpThreads(s.sidecarThreads());
    }
    if (s.sidecarJvmOptions() != null) {
      b.sidecarJvmOptions(s.sidecarJvmOptions());
    }
    return b.build();
  }
}
