package dev.sidecar.server.internal;

import dev.sidecar.bundle.onnx.ApiBinding.Feed;
import dev.sidecar.bundle.onnx.ApiBinding.Output;
import java.util.List;

/**
 * A request {@link RequestDecoder} checked and decoded: what the batcher and the model need of
 * it, and nothing of the protocol message.
 *
 * @param id the request's id, echoed in the answer
 * @param rows rows of every input
 * @param feeds one per model input, of the plan the request used (API columns or model inputs)
 * @param sources per plan input: a {@code ByteString} of raw fixed-width elements or a
 *     {@code String[]}
 * @param feedDims per feed: the model input's dimensions after the batch dimension
 * @param mergeable whether its rows may share a model call with other requests' rows
 * @param outputs the outputs to answer with, in order
 * @param sourceRegions per plan input: where in shared memory its data lies (its source is then
 *     a view of that range), or null (null: no input is in shared memory)
 * @param targets per output: where in shared memory to write it, or null to answer it in the
 *     response (null: no output goes to shared memory)
 * @param release ends the request's use of the shared-memory regions it names (idempotent)
 */
record DecodedRequest(String id, int rows, List<Feed> feeds, Object[] sources, long[][] feedDims,
    boolean mergeable, List<Output> outputs, ShmRange[] sourceRegions, ShmRange[] targets,
    Runnable release) {
  /** Bytes {@code [offset, offset + byteSize)} of a registered region. */
  record ShmRange(SharedMemoryRegistry.Region region, long offset, long byteSize) {
    /** Whether this range and {@code [at, at + bytes)} of {@code r} share a byte. */
    boolean overlaps(SharedMemoryRegistry.Region r, long at, long bytes) {
      return region == r && offset < at + bytes && at < offset + byteSize;
    }
  }

  DecodedRequest(String id, int rows, List<Feed> feeds, Object[] sources, long[][] feedDims,
      boolean mergeable, List<Output> outputs) {
    this(id, rows, feeds, sources, feedDims, mergeable, outputs, null, null, () -> { });
  }
}
