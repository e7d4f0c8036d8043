package dev.sidecar.spark.internal;

import io.grpc.ManagedChannel;

/** A running sidecar for one bundle in this JVM, and the one channel every task talks through. */
interface SidecarHandle extends AutoCloseable {
  /** The shared channel; owned by the handle and shut down by {@link #close()}. */
  ManagedChannel channel();

  /** {@code unix:///path.sock}, {@code 127.0.0.1:PORT} or an in-process name. */
  String target();

  /** Process id of the server (this JVM's for an in-process server). */
  long pid();

  /** False once the server is known to be gone. */
  boolean isAlive();

  /** What a user needs to know after a failure: pid, target, exit code, stderr tail. */
  String diagnostics();

  /** Stops the server and frees its channel, socket and files; idempotent. */
  @Override
  void close();
}
