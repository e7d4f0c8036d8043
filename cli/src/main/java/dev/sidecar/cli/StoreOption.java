package dev.sidecar.cli;

import dev.sidecar.bundle.BundleStore;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The {@code --home} option shared by the commands that use the local bundle store. */
final class StoreOption {
  @Option(names = "--home", paramLabel = "DIR",
      description = "The bundle store directory. Default: $SIDECAR_HOME, else ~/.sidecar.")
  Path home;

  BundleStore store() {
    return home != null ? BundleStore.open(home) : BundleStore.defaultStore();
  }
}
