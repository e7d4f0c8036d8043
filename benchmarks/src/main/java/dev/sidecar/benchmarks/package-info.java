/**
 * Benchmark commands, run by hand (not in the test suite): {@link
 * dev.sidecar.benchmarks.ServerBenchmark} measures the server's adaptive batcher.
 */
package dev.sidecar.benchmarks;
