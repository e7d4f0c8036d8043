package dev.sidecar.spark.internal;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.sidecar.proto.inference.InferParameter;
import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.wire.SharedMemoryFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The shared-memory regions of one partition scorer: one region per chunk in flight, each
 * holding a chunk's fixed-width input columns and fixed-width outputs at fixed offsets. The
 * regions are borrowed from the sidecar's {@link SharedMemoryPool} (registered once, kept per
 * executor and sidecar) and {@link #close()} gives them back: those whose chunks were answered
 * go back to the pool for the next task, those of chunks still unanswered (the task failed or
 * was cancelled; the sidecar may still write their outputs) are discarded. Strings (inputs and
 * outputs) still travel on the stream.
 */
final class SharedMemoryChunks implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(SharedMemoryChunks.class);
  private static final int ALIGN = 64;

  /** One region: the memory of one chunk in flight. */
  static final class Slot {
    final SharedMemoryPool.Slot region;
    /** The parameter naming this region, built once (offset and size are built per use). */
    final InferParameter regionName;

    Slot(SharedMemoryPool.Slot region) {
      this.region = region;
      this.regionName = InferParameter.newBuilder().setStringParam(region.name).build();
    }
  }

  private final ScoringPlan plan;
  private final SharedMemoryPool pool;
  private final long[] inputOffsets;
  private final long[] inputBytes;
  private final long[] outputOffsets;
  private final long[] outputBytes;
  private final long slotBytes;
  private final List<Slot> slots = new ArrayList<>();
  private final ArrayDeque<Slot> free = new ArrayDeque<>();
  private boolean closed;

  private SharedMemoryChunks(ScoringPlan plan, int chunkRows, SharedMemoryPool pool) {
    this.plan = plan;
    this.pool = pool;
    int ni = plan.inputs().size();
    int no = plan.outputs().size();
    inputOffsets = new long[ni];
    inputBytes = new long[ni];
    outputOffsets = new long[no];
    outputBytes = new long[no];
    long at = 0;
    for (int i = 0; i < ni; i++) {
      InputColumn c = plan.inputs().get(i);
      inputOffsets[i] = -1;
      if (c.dtype().isFixedWidth()) {
        inputOffsets[i] = at;
        inputBytes[i] = (long) chunkRows * c.elementsPerRow() * c.dtype().byteSize();
        at = align(at + inputBytes[i]);
      }
    }
    for (int o = 0; o < no; o++) {
      OutputColumn c = plan.outputs().get(o);
      outputOffsets[o] = -1;
      if (c.dtype().isFixedWidth()) {
        outputOffsets[o] = at;
        outputBytes[o] = (long) chunkRows * c.elementsPerRow() * c.dtype().byteSize();
        at = align(at + outputBytes[o]);
      }
    }
    slotBytes = at;
  }

  private static long align(long n) {
    return (n + ALIGN - 1) / ALIGN * ALIGN;
  }

  /**
   * The regions for {@code slots} chunks of {@code chunkRows} rows, borrowed from {@code pool}
   * (the sidecar's); null when shared memory cannot be used here or the sidecar refuses it (the
   * scorer then sends bytes).
   */
  static SharedMemoryChunks open(ScoringPlan plan, int chunkRows, int slots,
      SharedMemoryPool pool) {
    if (!plan.options().sharedMemory() || !SharedMemoryFiles.available()) {
      return null;
    }
    if (ConnectorRuntime.get().firstSharedMemoryUse()) {
      int n = SharedMemoryFiles.sweep();
      if (n > 0) {
        LOG.info("deleted {} shared-memory region(s) left in {} by ended processes", n,
            SharedMemoryFiles.ROOT);
      }
    }
    SharedMemoryChunks shm = new SharedMemoryChunks(plan, chunkRows, pool);
    boolean any = false;
    for (long b : shm.inputBytes) {
      any |= b > 0;
    }
    if (!any || shm.slotBytes > Integer.MAX_VALUE) {
      return null;
    }
    try {
      for (SharedMemoryPool.Slot r : pool.borrow(shm.slotBytes, slots)) {
        Slot s = new Slot(r);
        shm.slots.add(s);
        shm.free.add(s);
      }
      return shm;
    } catch (IOException | RuntimeException e) {
      LOG.info("not using shared memory with the sidecar ({}); sending rows on the stream",
          e.getMessage());
      return null;
    }
  }

  /** A free region for the next chunk (there is one per chunk in flight). */
  Slot take() {
    Slot s = free.poll();
    if (s == null) {
      throw new IllegalStateException("more chunks in flight than shared-memory regions");
    }
    return s;
  }

  /** Gives back a region whose chunk was answered and decoded. */
  void give(Slot s) {
    free.add(s);
  }

  /** Whether input column {@code i} goes through shared memory. */
  boolean carries(int input) {
    return inputOffsets[input] >= 0;
  }

  /** Input column {@code i}'s part of the region, little-endian, empty, to write a chunk into. */
  ByteBuffer input(Slot s, int input) {
    return view(s, inputOffsets[input], inputBytes[input]);
  }

  /** Names the region part holding {@code bytes} of input column {@code i} on its tensor. */
  void describeInput(ModelInferRequest.InferInputTensor.Builder t, Slot s, int input,
      long bytes) {
    t.putAllParameters(params(s, inputOffsets[input], bytes));
  }

  /** The outputs to ask for: every output, those of fixed width into the region. */
  void requestOutputs(ModelInferRequest.Builder request, Slot s) {
    for (int o = 0; o < outputOffsets.length; o++) {
      ModelInferRequest.InferRequestedOutputTensor.Builder t =
          ModelInferRequest.InferRequestedOutputTensor.newBuilder()
              .setName(plan.outputs().get(o).tensorName());
      if (outputOffsets[o] >= 0) {
        t.putAllParameters(params(s, outputOffsets[o], outputBytes[o]));
      }
      request.addOutputs(t);
    }
  }

  /**
   * The outputs of a chunk of {@code rows} rows that the sidecar wrote into the region (null for
   * those answered on the stream); views, valid until the region is given back.
   */
  ByteString[] outputs(Slot s, int rows) {
    ByteString[] out = new ByteString[outputOffsets.length];
    for (int o = 0; o < out.length; o++) {
      if (outputOffsets[o] >= 0) {
        OutputColumn c = plan.outputs().get(o);
        long bytes = (long) rows * c.elementsPerRow() * c.dtype().byteSize();
        out[o] = UnsafeByteOperations.unsafeWrap(view(s, outputOffsets[o], bytes));
      }
    }
    return out;
  }

  private static java.util.Map<String, InferParameter> params(Slot s, long offset, long bytes) {
    java.util.Map<String, InferParameter> p = new java.util.HashMap<>(8);
    p.put("shared_memory_region", s.regionName);
    p.put("shared_memory_offset", InferParameter.newBuilder().setInt64Param(offset).build());
    p.put("shared_memory_byte_size", InferParameter.newBuilder().setInt64Param(bytes).build());
    return p;
  }

  private static ByteBuffer view(Slot s, long offset, long bytes) {
    ByteBuffer b = s.region.memory.duplicate();
    b.limit((int) (offset + bytes)).position((int) offset);
    return b.slice().order(ByteOrder.LITTLE_ENDIAN);
  }

  /**
   * Gives the regions back to the pool: those free here (their chunks were answered) for reuse,
   * the others (chunks sent and not answered: the sidecar may still write them) to be discarded.
   * Idempotent.
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    for (Slot s : slots) {
      if (free.contains(s)) {
        pool.giveBack(s.region);
      } else {
        pool.discard(s.region);
      }
    }
    slots.clear();
    free.clear();
  }
}
