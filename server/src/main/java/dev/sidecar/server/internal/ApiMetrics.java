package dev.sidecar.server.internal;

import dev.sidecar.proto.stats.ApiStats;
import io.grpc.Status;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/** Counters and latency histograms of one API, read by the Stats call. */
final class ApiMetrics {
  private final String api;
  private final LongAdder requests = new LongAdder();
  private final LongAdder answered = new LongAdder();
  private final LongAdder rows = new LongAdder();
  private final LongAdder batches = new LongAdder();
  private final LongAdder batchRows = new LongAdder();
  private final AtomicLong maxBatchRows = new AtomicLong();
  private final LongAdder shmInputsInPlace = new LongAdder();
  private final LongAdder shmInputsCopied = new LongAdder();
  private final LongAdder shmOutputsInPlace = new LongAdder();
  private final LongAdder shmOutputsCopied = new LongAdder();
  private final Map<String, LongAdder> errors = new ConcurrentHashMap<>();
  private final Histogram latency = new Histogram();
  private final Histogram inference = new Histogram();
  private final Histogram queueWait = new Histogram();

  ApiMetrics(String api) {
    this.api = api;
  }

  void request() {
    requests.increment();
  }

  void answered(int n, double latencyMs) {
    answered.increment();
    rows.add(n);
    latency.record(latencyMs);
  }

  void error(Status.Code code) {
    errors.computeIfAbsent(code.name(), k -> new LongAdder()).increment();
  }

  void batch(int n, double inferenceMs) {
    batches.increment();
    batchRows.add(n);
    maxBatchRows.accumulateAndGet(n, Math::max);
    inference.record(inferenceMs);
  }

  /**
   * A model input of a batch with rows from shared memory: read by ONNX Runtime where it lies
   * ({@code inPlace}), or copied into the batch's tensor.
   */
  void shmInput(boolean inPlace) {
    (inPlace ? shmInputsInPlace : shmInputsCopied).increment();
  }

  /**
   * One slice's output bound for shared memory: written there by ONNX Runtime itself
   * ({@code inPlace}), or copied there once from the model's result.
   */
  void shmOutput(boolean inPlace) {
    (inPlace ? shmOutputsInPlace : shmOutputsCopied).increment();
  }

  /** A slice of a request started its model call {@code ms} after the request arrived. */
  void waited(double ms) {
    queueWait.record(ms);
  }

  long requests() {
    return requests.sum();
  }

  long answered() {
    return answered.sum();
  }

  ApiStats snapshot(int queueDepth, LatencyModel model) {
    long b = batches.sum();
    ApiStats.Builder s = ApiStats.newBuilder()
        .setApi(api)
        .setRequests(requests.sum())
        .setRows(rows.sum())
        .setBatches(b)
        .setLatencyP50Ms(latency.quantile(0.50))
        .setLatencyP95Ms(latency.quantile(0.95))
        .setLatencyP99Ms(latency.quantile(0.99))
        .setMeanBatchRows(b == 0 ? 0 : (double) batchRows.sum() / b)
        .setMaxBatchRows(maxBatchRows.get())
        .setQueueDepth(queueDepth)
        .setInferenceP50Ms(inference.quantile(0.50))
        .setInferenceP99Ms(inference.quantile(0.99))
        .setQueueWaitP50Ms(queueWait.quantile(0.50))
        .setQueueWaitP95Ms(queueWait.quantile(0.95))
        .setQueueWaitP99Ms(queueWait.quantile(0.99))
        .setFittedFixedMs(model.fixedMs())
        .setFittedPerRowMs(model.perRowMs())
        .setShmInputsInPlace(shmInputsInPlace.sum())
        .setShmInputsCopied(shmInputsCopied.sum())
        .setShmOutputsInPlace(shmOutputsInPlace.sum())
        .setShmOutputsCopied(shmOutputsCopied.sum());
    errors.forEach((k, v) -> s.putErrorsByCode(k, v.sum()));
    return s.build();
  }
}
