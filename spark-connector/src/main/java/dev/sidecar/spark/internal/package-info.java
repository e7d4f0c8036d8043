/**
 * The connector's machinery behind {@code Sidecar.runSpark}: driver-side schema planning and
 * bundle shipping, the column-wise tensor conversion, the per-JVM sidecar registry, the
 * streaming client and its progress counters. Not an API: may change without notice, and
 * private to the connector (a build test refuses any other module naming it).
 *
 * <p>State: {@link dev.sidecar.spark.internal.ConnectorRuntime} is the one owner of what the
 * connector keeps in a JVM (sidecars and, per sidecar, the shared-memory regions registered
 * with it and lent to tasks, scratch directories, native-library checks, the sidecar
 * class path, bundle counters, the driver's staged archives and broadcast Hadoop
 * configurations, verified archives); the classes that keep those are its instances, and no
 * other class has a static field that changes. It is created by the first {@code get()} and
 * lives until {@code close()}, which its one JVM shutdown hook calls at exit; a {@code get()}
 * after a close creates a new one.
 */
package dev.sidecar.spark.internal;
