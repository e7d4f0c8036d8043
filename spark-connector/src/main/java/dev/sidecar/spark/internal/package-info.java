/**
 * The connector's machinery behind {@code Sidecar.runSpark}: driver-side schema planning and
 * bundle shipping, the column-wise tensor conversion, the per-JVM sidecar registry and the
 * streaming client. Not an API: may change without notice.
 */
package dev.sidecar.spark.internal;
