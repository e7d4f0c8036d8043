/**
 * Scoring Spark DataFrames with sidecar bundles: {@link dev.sidecar.spark.Sidecar#runSpark} and
 * its {@link dev.sidecar.spark.RunOptions}. Everything else lives in the internal package.
 */
package dev.sidecar.spark;
