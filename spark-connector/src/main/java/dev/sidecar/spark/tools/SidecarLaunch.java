package dev.sidecar.spark.tools;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.spark.RunOptions;
import dev.sidecar.spark.internal.SidecarProcess;

/**
 * A sidecar process started exactly as an executor starts one for {@code runSpark}: the same
 * JVM options, trimmed class path, scratch directory, Unix socket and log, from the options'
 * {@code sidecarJvmOptions} and {@code sidecarIntraOpThreads}. {@link #start} returns once the
 * process has printed its ready line, so timing it times what a task waits for. For sidecar's
 * benchmarks.
 */
public final class SidecarLaunch implements AutoCloseable {
  private final SidecarProcess process;

  private SidecarLaunch(SidecarProcess process) {
    this.process = process;
  }

  /** Starts a sidecar for an unpacked bundle and waits for its ready line. */
  public static SidecarLaunch start(Bundle bundle, RunOptions options) {
    return new SidecarLaunch(SidecarProcess.start(bundle, options));
  }

  /** Where it listens: {@code unix:///path.sock} or {@code 127.0.0.1:PORT}. */
  public String target() {
    return process.target();
  }

  /** Its process id. */
  public long pid() {
    return process.pid();
  }

  /** Stops it (SIGTERM, then SIGKILL) and deletes its scratch directory; idempotent. */
  @Override
  public void close() {
    process.close();
  }
}
