package dev.sidecar.spark.internal;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.bundle.BundleArchive;
import dev.sidecar.spark.RunOptions;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A JVM for {@link ConnectorRuntimeIT} that leases a sidecar process from its runtime, prints
 * {@code SIDECAR <pid> <log>}, and exits (with the lease still held) once a line arrives on its
 * stdin: only the runtime's shutdown hook can then stop the sidecar and delete its files.
 */
public final class RuntimeExitChild {
  private RuntimeExitChild() {
  }

  public static void main(String[] args) throws IOException {
    Bundle bundle = BundleArchive.unpackCached(Path.of(args[0]), SidecarCache.root()).bundle();
    RunOptions options = RunOptions.defaults();
    SidecarRegistry.Lease lease = ConnectorRuntime.get().sidecars()
        .acquire(SidecarKey.of(bundle.digest(), options), () -> bundle, options);
    SidecarProcess sidecar = (SidecarProcess) lease.handle();
    System.out.println("SIDECAR " + sidecar.pid() + " " + sidecar.log());
    System.out.flush();
    new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
    System.exit(0);
  }
}
