/**
 * Benchmarks: {@link dev.sidecar.bench.SparkBenchmark} scores the same cached DataFrame with
 * {@code runSpark} (process and in-process sidecar) and with ONNX Runtime called directly in
 * {@code mapPartitions}; {@link dev.sidecar.bench.SystemBenchmark} measures cold start, the
 * second job, memory against partition size and bundle pack/unpack throughput;
 * {@link dev.sidecar.bench.ServerBenchmark} measures the server's adaptive batcher with 1 to 64
 * concurrent callers, batching on and off, and one chunked stream.
 */
package dev.sidecar.bench;
