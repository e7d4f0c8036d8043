package dev.sidecar.spark.internal;

import dev.sidecar.proto.inference.GRPCInferenceServiceGrpc;
import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.proto.inference.ModelInferResponse;
import dev.sidecar.proto.inference.ModelStreamInferResponse;
import dev.sidecar.spark.SidecarSparkException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.expressions.JoinedRow;
import org.apache.spark.sql.types.DataType;

/**
 * Scores one partition: an iterator over output rows that pulls input rows only as it needs
 * them. Rows are grouped into chunks, each chunk encoded column-wise into one request on a
 * single {@code ModelStreamInfer} stream, with at most {@code chunksInFlight} requests
 * unanswered; answers come back in request order and are joined to their input rows. At most
 * {@code chunksInFlight + 1} chunks of rows are held at any time, whatever the partition size.
 * The sidecar is leased lazily, so an empty partition starts nothing. Rows are Spark's internal
 * rows throughout: input rows are copied once (Spark reuses them), kept columns pass through
 * untouched, and each output row is the input row joined to the row of its outputs (and, with
 * lineage columns, the chunk's lineage values, taken when its answer arrived).
 */
public final class PartitionScorer implements Iterator<InternalRow>, AutoCloseable {
  private final ScoringPlan plan;
  private final Iterator<InternalRow> input;
  /** Kept input fields are 0..n-1 in order: an input row of n fields is joined as it is. */
  private final boolean keepsPrefix;
  private final DataType[] keptTypes;
  private final Supplier<SidecarRegistry.Lease> leases;
  private final int partition;
  private final ScoringCounters counters;
  private final int chunkRows;
  private final int maxInFlight;
  private final long timeoutMs;
  private final ChunkEncoder encoder;
  private final ChunkDecoder decoder;
  private final ArrayDeque<Chunk> sent = new ArrayDeque<>();
  private final ArrayDeque<ChunkEncoder.Buffers> freeBuffers = new ArrayDeque<>();
  private final ConcurrentLinkedQueue<Chunk> awaiting = new ConcurrentLinkedQueue<>();

  private SidecarRegistry.Lease lease;
  /** The chunks' shared-memory regions; null when rows go as bytes on the stream. */
  private SharedMemoryChunks shm;
  private ClientCallStreamObserver<ModelInferRequest> requests;
  private volatile Throwable streamFailure;
  private long nextChunk;
  private long rowsRead;
  private long rowsHeld;
  private Chunk current;
  private int position;
  private boolean finished;

  /** One chunk of input rows, its request's buffers, and (once answered) its outputs. */
  private static final class Chunk {
    final long seq;
    final long firstRow;
    final InternalRow[] rows;
    final boolean[] valid;
    int count;
    int validCount;
    ChunkEncoder.Buffers buffers;
    SharedMemoryChunks.Slot slot;
    final CompletableFuture<ModelStreamInferResponse> answer = new CompletableFuture<>();
    Object[][] outputs;
    /** The lineage columns' values, when the plan has them. */
    Object[] lineage;
    int nextValid;

    Chunk(long seq, long firstRow, int size) {
      this.seq = seq;
      this.firstRow = firstRow;
      this.rows = new InternalRow[size];
      this.valid = new boolean[size];
    }
  }

  public PartitionScorer(ScoringPlan plan, Iterator<InternalRow> input,
      Supplier<SidecarRegistry.Lease> leases, int partition, ScoringCounters counters) {
    this.plan = plan;
    this.input = input;
    int[] kept = plan.keptFields();
    boolean prefix = true;
    for (int i = 0; i < kept.length && prefix; i++) {
      prefix = kept[i] == i;
    }
    this.keepsPrefix = prefix;
    // Kept fields come first in the output schema, with their input types.
    this.keptTypes = new DataType[kept.length];
    for (int i = 0; i < kept.length; i++) {
      keptTypes[i] = plan.outputSchema().fields()[i].dataType();
    }
    this.leases = leases;
    this.partition = partition;
    this.counters = counters;
    this.chunkRows = plan.options().chunkRowsFor(bytesPerRow(plan));
    this.maxInFlight = plan.options().chunksInFlight();
    this.timeoutMs = plan.options().requestTimeout().toMillis();
    this.encoder = new ChunkEncoder(plan, partition);
    this.decoder = new ChunkDecoder(plan);
  }

  @Override
  public boolean hasNext() {
    if (current != null && position < current.count) {
      return true;
    }
    if (finished) {
      return false;
    }
    if (current != null) {
      rowsHeld -= current.count;
      current = null;
    }
    fill();
    if (sent.isEmpty()) {
      finish();
      return false;
    }
    Chunk head = sent.poll();
    awaitAnswer(head);
    fill();
    current = head;
    position = 0;
    return true;
  }

  @Override
  public InternalRow next() {
    if (!hasNext()) {
      throw new NoSuchElementException();
    }
    Chunk c = current;
    int r = position++;
    InternalRow in = c.rows[r];
    c.rows[r] = null;
    int n = plan.outputs().size();
    Object[] outputs = new Object[n + (c.lineage == null ? 0 : c.lineage.length)];
    if (c.valid[r]) {
      int v = c.nextValid++;
      for (int o = 0; o < n; o++) {
        outputs[o] = c.outputs[o][v];
      }
    }
    if (c.lineage != null) {
      System.arraycopy(c.lineage, 0, outputs, n, c.lineage.length);
    }
    InternalRow out = new GenericInternalRow(outputs);
    int[] kept = plan.keptFields();
    if (kept.length == 0) {
      return out;
    }
    if (keepsPrefix && in.numFields() == kept.length) {
      return new JoinedRow(in, out);
    }
    Object[] values = new Object[kept.length];
    for (int i = 0; i < kept.length; i++) {
      values[i] = in.get(kept[i], keptTypes[i]);
    }
    return new JoinedRow(new GenericInternalRow(values), out);
  }

  /** Input bytes per row as sent (strings counted at 32 bytes). */
  static long bytesPerRow(ScoringPlan plan) {
    long bytes = 0;
    for (InputColumn c : plan.inputs()) {
      bytes += (long) c.elementsPerRow() * (c.dtype().isFixedWidth() ? c.dtype().byteSize() : 32);
    }
    return bytes;
  }

  /** Sends chunks until {@code chunksInFlight} are unanswered or the input is exhausted. */
  private void fill() {
    while (sent.size() < maxInFlight && input.hasNext()) {
      Chunk c = new Chunk(nextChunk++, rowsRead, chunkRows);
      while (c.count < chunkRows && input.hasNext()) {
        c.rows[c.count++] = input.next().copy();
      }
      rowsRead += c.count;
      rowsHeld += c.count;
      counters.rowsHeld(rowsHeld);
      c.validCount = encoder.markValid(c.rows, c.count, c.valid, c.firstRow);
      sent.add(c);
      if (c.validCount == 0) {
        c.answer.complete(null);
        continue;
      }
      if (requests == null) {
        openStream();
      }
      c.buffers = freeBuffers.isEmpty()
          ? new ChunkEncoder.Buffers(plan.inputs().size()) : freeBuffers.poll();
      c.slot = shm == null ? null : shm.take();
      ModelInferRequest request = encoder.encode(c.rows, c.count, c.valid, c.validCount,
          c.buffers, shm, c.slot, Long.toString(c.seq), c.firstRow);
      counters.sent(shm != null);
      send(c, request);
    }
  }

  private void send(Chunk c, ModelInferRequest request) {
    if (requests == null) {
      openStream();
    }
    awaiting.add(c);
    counters.inFlight(awaiting.size());
    Throwable failed = streamFailure;
    if (failed != null) {
      throw failure("the stream to the sidecar failed", failed);
    }
    requests.onNext(request);
  }

  private void openStream() {
    lease = leases.get();
    shm = SharedMemoryChunks.open(plan, chunkRows, maxInFlight, lease.regions());
    GRPCInferenceServiceGrpc.GRPCInferenceServiceStub stub =
        GRPCInferenceServiceGrpc.newStub(lease.handle().channel());
    stub.modelStreamInfer(new ClientResponseObserver<ModelInferRequest, ModelStreamInferResponse>() {
      @Override
      public void beforeStart(ClientCallStreamObserver<ModelInferRequest> stream) {
        requests = stream;
      }

      @Override
      public void onNext(ModelStreamInferResponse response) {
        Chunk c = awaiting.poll();
        if (c == null) {
          streamFailure = new IllegalStateException("the sidecar answered a request never sent");
          return;
        }
        c.answer.complete(response);
      }

      @Override
      public void onError(Throwable t) {
        streamFailure = t;
        failAwaiting(t);
      }

      @Override
      public void onCompleted() {
        IllegalStateException e = new IllegalStateException(
            "the sidecar closed the stream with requests unanswered");
        streamFailure = e;
        failAwaiting(e);
      }
    });
  }

  private void failAwaiting(Throwable t) {
    Chunk c;
    while ((c = awaiting.poll()) != null) {
      c.answer.completeExceptionally(t);
    }
  }

  private void awaitAnswer(Chunk c) {
    ModelStreamInferResponse answer;
    try {
      answer = c.answer.get(timeoutMs, TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      throw failure("no answer from the sidecar within " + plan.options().requestTimeout()
          + " for rows " + c.firstRow + ".." + (c.firstRow + c.count - 1), null);
    } catch (ExecutionException e) {
      throw failure("the stream to the sidecar failed", e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw failure("interrupted while waiting for the sidecar", null);
    }
    if (plan.options().lineageColumns()) {
      c.lineage = plan.lineage().values(Instant.now());
    }
    if (answer == null) {
      c.outputs = new Object[plan.outputs().size()][0];
      return;
    }
    if (!answer.getErrorMessage().isEmpty()) {
      abort();
      throw new SidecarSparkException("the sidecar rejected rows " + c.firstRow + ".."
          + (c.firstRow + c.count - 1) + " of partition " + partition + " for API '" + plan.api()
          + "' of bundle " + plan.bundleTag() + ": " + answer.getErrorMessage());
    }
    ModelInferResponse response = answer.getInferResponse();
    if (!response.getId().equals(Long.toString(c.seq))) {
      throw failure("answer out of order: expected request id " + c.seq + ", got '"
          + response.getId() + "'", null);
    }
    try {
      c.outputs = decoder.decode(response, c.validCount,
          c.slot == null ? null : shm.outputs(c.slot, c.validCount));
    } catch (IllegalStateException e) {
      throw new SidecarSparkException("malformed answer from the sidecar for API '" + plan.api()
          + "' of bundle " + plan.bundleTag() + ": " + e.getMessage());
    }
    freeBuffers.add(c.buffers);
    c.buffers = null;
    if (c.slot != null) {
      shm.give(c.slot);
      c.slot = null;
    }
    counters.scored(c.count);
  }

  /** A task-failing error about the transport: says what the sidecar's state and stderr are. */
  private SidecarSparkException failure(String what, Throwable cause) {
    String detail = "";
    if (cause instanceof StatusRuntimeException) {
      Status s = ((StatusRuntimeException) cause).getStatus();
      detail = ": " + s.getCode() + (s.getDescription() == null ? "" : " " + s.getDescription());
    } else if (cause != null) {
      detail = ": " + cause;
    }
    String diagnostics = "";
    if (lease != null) {
      lease.markBroken();
      diagnostics = "; " + lease.handle().diagnostics();
    }
    abort();
    return new SidecarSparkException(what + " while scoring partition " + partition
        + " with API '" + plan.api() + "' of bundle " + plan.bundleTag() + detail + diagnostics);
  }

  private void finish() {
    finished = true;
    if (requests != null) {
      requests.onCompleted();
      requests = null;
    }
    releaseLease();
  }

  private void abort() {
    finished = true;
    if (requests != null) {
      requests.cancel("scoring stopped", null);
      requests = null;
    }
    releaseLease();
  }

  private void releaseLease() {
    if (shm != null) {
      shm.close();
      shm = null;
    }
    if (lease != null) {
      lease.close();
      lease = null;
    }
  }

  /** Ends the stream early (task killed or failed downstream); idempotent. */
  @Override
  public void close() {
    if (!finished) {
      abort();
    }
  }
}
