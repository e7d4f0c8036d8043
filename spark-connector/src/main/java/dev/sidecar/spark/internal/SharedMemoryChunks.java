package dev.sidecar.spark.internal;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.sidecar.proto.inference.GRPCInferenceServiceGrpc;
import dev.sidecar.proto.inference.InferParameter;
import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.proto.inference.SystemSharedMemoryRegisterRequest;
import dev.sidecar.proto.inference.SystemSharedMemoryUnregisterRequest;
import dev.sidecar.proto.inference.SystemSharedMemoryUnregisterResponse;
import dev.sidecar.wire.SharedMemoryFiles;
import io.grpc.Channel;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The shared-memory regions of one partition scorer: one region per chunk in flight, each
 * holding a chunk's fixed-width input columns and fixed-width outputs at fixed offsets. A region
 * is created 0600 under an unguessable name, mapped here, registered with the sidecar (which
 * maps it too), and its name unlinked at once: from then on it lives only in the two mappings
 * and vanishes with them, however either process ends. {@link #close()} unregisters the regions
 * and unmaps them here at once. Strings (inputs and outputs) still travel on the stream.
 */
final class SharedMemoryChunks implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(SharedMemoryChunks.class);
  private static final int ALIGN = 64;

  /** One region: the memory of one chunk in flight. */
  static final class Slot {
    final String name;
    final MappedByteBuffer memory;

    Slot(String name, MappedByteBuffer memory) {
      this.name = name;
      this.memory = memory;
    }
  }

  private final ScoringPlan plan;
  private final Channel channel;
  private final long[] inputOffsets;
  private final long[] inputBytes;
  private final long[] outputOffsets;
  private final long[] outputBytes;
  private final long slotBytes;
  private final List<Slot> slots = new ArrayList<>();
  private final ArrayDeque<Slot> free = new ArrayDeque<>();
  private boolean closed;

  private SharedMemoryChunks(ScoringPlan plan, int chunkRows, Channel channel) {
    this.plan = plan;
    this.channel = channel;
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
   * The regions for {@code slots} chunks of {@code chunkRows} rows, registered with the sidecar
   * on {@code channel}; null when shared memory cannot be used here or the sidecar refuses it
   * (the scorer then sends bytes).
   */
  static SharedMemoryChunks open(ScoringPlan plan, int chunkRows, int slots, Channel channel) {
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
    SharedMemoryChunks shm = new SharedMemoryChunks(plan, chunkRows, channel);
    boolean any = false;
    for (long b : shm.inputBytes) {
      any |= b > 0;
    }
    if (!any || shm.slotBytes > Integer.MAX_VALUE) {
      return null;
    }
    try {
      for (int i = 0; i < slots; i++) {
        shm.addSlot();
      }
      return shm;
    } catch (IOException | RuntimeException e) {
      LOG.info("not using shared memory with the sidecar ({}); sending rows on the stream",
          e.getMessage());
      shm.close();
      return null;
    }
  }

  private void addSlot() throws IOException {
    String key = SharedMemoryFiles.create(slotBytes);
    String name = key.substring(1);
    MappedByteBuffer m = null;
    try {
      m = SharedMemoryFiles.map(key, 0, slotBytes);
      GRPCInferenceServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
          .systemSharedMemoryRegister(SystemSharedMemoryRegisterRequest.newBuilder()
              .setName(name).setKey(key).setOffset(0).setByteSize(slotBytes).build());
      Slot s = new Slot(name, m);
      slots.add(s);
      free.add(s);
      m = null;
    } finally {
      SharedMemoryFiles.unlink(key);
      SharedMemoryFiles.unmap(m);
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
    java.util.Map<String, InferParameter> p = new java.util.HashMap<>();
    p.put("shared_memory_region", InferParameter.newBuilder().setStringParam(s.name).build());
    p.put("shared_memory_offset", InferParameter.newBuilder().setInt64Param(offset).build());
    p.put("shared_memory_byte_size", InferParameter.newBuilder().setInt64Param(bytes).build());
    return p;
  }

  private static ByteBuffer view(Slot s, long offset, long bytes) {
    ByteBuffer b = s.memory.duplicate();
    b.limit((int) (offset + bytes)).position((int) offset);
    return b.slice().order(ByteOrder.LITTLE_ENDIAN);
  }

  /**
   * Unregisters every region with the sidecar (without waiting: the sidecar unmaps its side once
   * no request uses it) and unmaps them here now. Idempotent.
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    GRPCInferenceServiceGrpc.GRPCInferenceServiceStub stub =
        GRPCInferenceServiceGrpc.newStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    for (Slot s : slots) {
      try {
        stub.systemSharedMemoryUnregister(SystemSharedMemoryUnregisterRequest.newBuilder()
            .setName(s.name).build(), IGNORE);
      } catch (RuntimeException e) {
        LOG.debug("unregistering shared-memory region {} failed", s.name, e);
      }
      SharedMemoryFiles.unmap(s.memory);
    }
    slots.clear();
    free.clear();
  }

  private static final StreamObserver<SystemSharedMemoryUnregisterResponse> IGNORE =
      new StreamObserver<>() {
        @Override
        public void onNext(SystemSharedMemoryUnregisterResponse value) {
        }

        @Override
        public void onError(Throwable t) {
        }

        @Override
        public void onCompleted() {
        }
      };
}
