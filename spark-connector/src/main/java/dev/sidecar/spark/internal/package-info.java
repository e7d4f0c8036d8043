/**
 * The connector's machinery behind {@code Sidecar.runSpark}: driver-side schema planning and
 * bundle shipping, the column-wise tensor conversion, the per-JVM sidecar registry, the
 * streaming client and its progress counters. Not an API: may change without notice, and
 * private to the connector (a build test refuses any other module naming it).
 */
package dev.sidecar.spark.internal;
