package dev.sidecar.bundle;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.sidecar.bundle.files.FileTrees;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Any text given as a bundle.yaml either parses or is refused with a {@link BundleException}
 * whose message names the file: no other exception (no NullPointerException, no
 * InvalidPathException, no StackOverflowError), in bounded time (SnakeYAML's alias, nesting
 * and size limits). Seeds and kept regression inputs:
 * {@code src/test/resources/dev/sidecar/bundle/SpecParserFuzzTestInputs/parseOrRefuse/}.
 */
class SpecParserFuzzTest {
  @FuzzTest(maxDuration = "50s")
  void parseOrRefuse(byte[] yaml) throws IOException {
    Path dir = Files.createTempDirectory("spec-fuzz");
    try {
      Path file = Files.write(dir.resolve("bundle.yaml"), yaml);
      try {
        BundleSpec spec = BundleSpec.parse(file);
        assertNotNull(spec.name());
        assertTrue(!spec.models().isEmpty() && !spec.apis().isEmpty());
      } catch (BundleException e) {
        assertNotNull(e.getMessage());
        assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
      }
    } finally {
      FileTrees.deleteRecursively(dir);
    }
  }
}
