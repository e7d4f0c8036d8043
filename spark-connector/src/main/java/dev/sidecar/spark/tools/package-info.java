/**
 * For sidecar's own modules, not a user API (no compatibility promise): what the benchmarks
 * share with the connector. {@link dev.sidecar.spark.tools.InternalFrames} makes a DataFrame of
 * Spark's internal rows (the connector's result, and the benchmarks' hand-written baseline);
 * {@link dev.sidecar.spark.tools.SidecarLaunch} starts a sidecar process as an executor does.
 */
package dev.sidecar.spark.tools;
