package dev.sidecar.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.bundle.BundleBuilder;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code sidecar serve} as a process: SIGTERM drains it and it exits 0, as documented. */
class ServeSignalIT {
  @TempDir
  Path tmp;

  @Test
  @Timeout(value = 3, unit = TimeUnit.MINUTES)
  void sigtermStopsServeWithExitCode0() throws Exception {
    Path archive = tmp.resolve("iris.bundle");
    BundleBuilder.fromSpec(Launcher.IRIS_YAML).build(archive);
    Path out = tmp.resolve("out.txt");
    Path err = tmp.resolve("err.txt");
    Process p = Launcher.command(tmp.resolve("home"), "-Xmx256m", "serve", archive.toString(),
        "--port", "0").redirectOutput(out.toFile()).redirectError(err.toFile()).start();
    try {
      // Ready once it prints where it listens (the launcher exec's java: p is the JVM).
      while (!Launcher.read(out).startsWith("serving iris_classifier:1.0.0 ")) {
        assertTrue(p.isAlive(), "serve ended before it was ready: " + Launcher.read(err));
        Thread.sleep(50);
      }
      p.destroy(); // SIGTERM
      assertTrue(p.waitFor(60, TimeUnit.SECONDS), "serve did not stop within 60 s of SIGTERM");
      assertEquals(0, p.exitValue(), Launcher.read(err));
      assertTrue(Launcher.read(out).lines().anyMatch(l -> l.startsWith("stopped (requests")),
          Launcher.read(out));
    } finally {
      p.destroyForcibly();
    }
  }
}
