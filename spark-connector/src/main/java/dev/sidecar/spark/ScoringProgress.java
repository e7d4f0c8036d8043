package dev.sidecar.spark;

/**
 * How far the scoring of one {@link Sidecar#runSpark} result has come, summed over all its tasks
 * on every executor: what a {@link Listener} given to
 * {@link RunOptions.Builder#progressListener} receives on the driver.
 *
 * <p>The counts travel to the driver as Spark accumulators: a finished task's counts arrive with
 * its result, a running task's with its executor's heartbeats (every
 * {@code spark.executor.heartbeatInterval}, 10 s by default). So the counts grow while tasks run,
 * and a task attempt that fails stops counting (its rows are scored again by the next attempt):
 * {@code rowsScored} can go down when that happens. Every computation of the result counts:
 * each action on it, and each micro-batch of a streaming query.
 *
 * @param rowsScored rows the sidecars have answered
 * @param chunksThroughSharedMemory chunks of rows passed to a sidecar through shared memory
 * @param chunksStreamed chunks of rows sent as bytes on the gRPC stream (string columns, no
 *     {@code /dev/shm}, a sidecar that refused the region, or {@code sharedMemory(false)})
 * @param maxChunksInFlight the most requests one task had unanswered at once (at most
 *     {@link RunOptions#chunksInFlight()})
 * @param maxRowsHeld the most input rows one task held at once: what bounds a task's memory (at
 *     most {@code chunksInFlight + 1} chunks of rows, whatever the partition size)
 */
public record ScoringProgress(long rowsScored, long chunksThroughSharedMemory,
    long chunksStreamed, long maxChunksInFlight, long maxRowsHeld) {

  /**
   * Receives {@link ScoringProgress} on the driver, on Spark's listener thread, each time the
   * counts change: return quickly, and do not call Spark from it.
   */
  @FunctionalInterface
  public interface Listener {
    /** The counts as they are now. */
    void onProgress(ScoringProgress progress);
  }
}
