package dev.sidecar.spark.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.server.ServerOptions;
import dev.sidecar.spark.RunOptions;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The sidecar's queue bound comes from the same chunk sizing as the tasks' requests, so the
 * connector's own streams always fit in it, and the options reach the sidecar's command line.
 */
class ExecutorSlotsTest {
  private static final List<RunOptions> OPTIONS = List.of(RunOptions.defaults(),
      RunOptions.builder().chunkRows(10).build(),
      RunOptions.builder().chunkRows(200_000).chunksInFlight(7).build(),
      RunOptions.builder().sidecarIntraOpThreads(3).build());

  @Test
  void everyTaskSlotsRequestsFitTheQueueTwiceOver() {
    for (RunOptions o : OPTIONS) {
      long queued = ExecutorSlots.serverOptions(o).maxQueuedRows();
      for (long bytesPerRow : new long[] {1, 16, 1024, 1 << 20, 1L << 40}) {
        long job = (long) ExecutorSlots.count() * o.chunksInFlight() * o.chunkRowsFor(bytesPerRow);
        long otherDefaultJob = (long) ExecutorSlots.count() * RunOptions.DEFAULT_CHUNKS_IN_FLIGHT
            * RunOptions.defaults().chunkRowsFor(bytesPerRow);
        assertTrue(2 * job <= queued && job + otherDefaultJob <= queued,
            o.chunkRows() + " rows/chunk, " + bytesPerRow + " bytes/row: " + queued);
      }
    }
  }

  @Test
  void largestChunkIsTheNarrowRowsChunk() {
    assertEquals(RunOptions.MAX_AUTO_CHUNK_ROWS, RunOptions.defaults().largestChunkRows());
    assertEquals(10, RunOptions.builder().chunkRows(10).build().largestChunkRows());
  }

  @Test
  void theSidecarReadsBackTheOptionsTheConnectorWrites() {
    for (RunOptions o : OPTIONS) {
      ServerOptions s = ExecutorSlots.serverOptions(o);
      assertEquals(s, ServerOptions.parseArgs(s.toArgs(), (f, v) -> {
        throw new IllegalArgumentException("unknown argument '" + f + "'");
      }));
    }
    assertEquals(3, ServerOptions.parseArgs(ExecutorSlots.serverOptions(OPTIONS.get(3)).toArgs(),
        (f, v) -> { }).intraOpThreads());
  }

  @Test
  void zeroIntraOpThreadsMeansOnnxRuntimesChoiceForTheConnectorToo() {
    assertEquals(ServerOptions.DEFAULT_INTRA_OP_THREADS,
        ExecutorSlots.serverOptions(RunOptions.defaults()).intraOpThreads());
    ServerOptions ortChoice =
        ExecutorSlots.serverOptions(RunOptions.builder().sidecarIntraOpThreads(0).build());
    assertEquals(0, ortChoice.intraOpThreads());
    assertTrue(String.join(" ", ortChoice.toArgs()).contains("--intra-op-threads 0"));
  }
}
