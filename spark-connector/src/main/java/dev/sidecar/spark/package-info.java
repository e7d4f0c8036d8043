/**
 * Scoring Spark DataFrames with sidecar bundles: {@link dev.sidecar.spark.Sidecar#runSpark} and
 * its {@link dev.sidecar.spark.RunOptions}, the {@link dev.sidecar.spark.ScoringProgress} a
 * listener hears on the driver, and {@link dev.sidecar.spark.RemoteBundles} for archives at URIs
 * outside a job. Everything else lives in the internal package, private to the connector.
 */
package dev.sidecar.spark;
