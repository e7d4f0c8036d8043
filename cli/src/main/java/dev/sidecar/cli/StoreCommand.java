package dev.sidecar.cli;

import dev.sidecar.bundle.BundleStore;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Spec;

/**
 * The base of the commands that use the local bundle store: the {@code --home} option and the
 * command's own output stream (picocli injects both into subclasses).
 */
abstract class StoreCommand implements Callable<Integer> {
  @Mixin
  StoreOption storeOption;

  @Spec
  CommandLine.Model.CommandSpec spec;

  BundleStore store() {
    return storeOption.store();
  }

  PrintWriter out() {
    return spec.commandLine().getOut();
  }

  /** Prints one line on stdout and flushes it. */
  void say(String line) {
    PrintWriter out = out();
    out.println(line);
    out.flush();
  }
}
