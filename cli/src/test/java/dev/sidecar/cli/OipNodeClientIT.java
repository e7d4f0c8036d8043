package dev.sidecar.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Interoperability: {@code interop/oip-node/check.sh} serves the iris bundle with
 * {@code sidecar serve} and drives it with a Node.js client generated from an independently
 * written Open Inference Protocol proto (metadata discovery, raw and typed ModelInfer, both
 * APIs, a bad datatype). Skipped (not passed) where node/npm or the npm registry are missing:
 * the script exits 77 then.
 */
class OipNodeClientIT {
  static final Path CHECK = Path.of("..", "interop", "oip-node", "check.sh").toAbsolutePath()
      .normalize();

  @TempDir
  Path tmp;

  @Test
  void aNodeClientThatKnowsOnlyOipScoresIrisThroughSidecarServe() throws Exception {
    Path log = tmp.resolve("check.log");
    ProcessBuilder pb = new ProcessBuilder("bash", CHECK.toString())
        .redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().put("TMPDIR", tmp.toString());
    Process p = pb.start();
    if (!p.waitFor(5, TimeUnit.MINUTES)) {
      p.destroyForcibly();
      throw new AssertionError("check.sh did not finish in 5 minutes:\n"
          + Files.readString(log, StandardCharsets.UTF_8));
    }
    String out = Files.readString(log, StandardCharsets.UTF_8);
    assumeTrue(p.exitValue() != 77, () -> "interop check cannot run here:\n" + out);
    assertEquals(0, p.exitValue(), out);
    assertTrue(out.contains(" 0 failed"), out);
  }
}
