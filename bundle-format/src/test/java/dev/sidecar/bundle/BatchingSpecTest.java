package dev.sidecar.bundle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.bundle.internal.ManifestJson;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Batching settings are checked once, by {@link BatchingSpec}'s constructor: a bad value gets the
 * same message whether it comes from code, a bundle.yaml or a manifest.json.
 */
class BatchingSpecTest {
  @TempDir
  Path tmp;

  @ParameterizedTest
  @CsvSource({
      "max_batch_size, 0, 'max_batch_size must be in [1, 16777216] rows, found 0'",
      "max_batch_size, -1, 'max_batch_size must be in [1, 16777216] rows, found -1'",
      "max_batch_size, 16777217, 'max_batch_size must be in [1, 16777216] rows, found 16777217'",
      "max_latency_ms, -1, 'max_latency_ms must be in [0, 600000] milliseconds, found -1'",
      "max_latency_ms, 600001, 'max_latency_ms must be in [0, 600000] milliseconds, found 600001'",
  })
  void aBadValueGetsOneMessageWhicheverWayItArrives(String field, int value, String expected)
      throws Exception {
    boolean size = field.equals("max_batch_size");
    String direct = assertThrows(IllegalArgumentException.class, () -> new BatchingSpec(true,
        size ? value : BatchingSpec.DEFAULT_MAX_BATCH_SIZE,
        size ? BatchingSpec.DEFAULT_MAX_LATENCY_MS : value)).getMessage();
    assertEquals(expected, direct);

    Path yaml = tmp.resolve("bundle.yaml");
    Files.writeString(yaml, "name: iris\nmodels:\n  - {name: c, path: m.onnx}\napis:\n"
        + "  - name: a\n    input: {kind: series, column: x}\n"
        + "    batching: {" + field + ": " + value + "}\n");
    String fromYaml = assertThrows(BundleException.class, () -> BundleSpec.parse(yaml))
        .getMessage();
    assertTrue(fromYaml.matches(".*bundle\\.yaml:7:\\d+: apis\\[0\\]\\.batching: \\Q"
        + expected + "\\E"), fromYaml);

    String json = new String(TestBundles.manifest(Manifest.FORMAT_VERSION, List.of()),
        StandardCharsets.UTF_8);
    String bad = json.replaceFirst("\"" + field + "\" : \\d+", "\"" + field + "\" : " + value);
    assertTrue(!bad.equals(json), "the manifest holds " + field);
    String fromJson = assertThrows(BundleException.class,
        () -> ManifestJson.read(bad.getBytes(StandardCharsets.UTF_8), "test.sidecar"))
        .getMessage();
    assertEquals("test.sidecar: manifest.json apis[0].batching: " + expected, fromJson);
  }

  @ParameterizedTest
  @CsvSource({"1, 0", "16777216, 600000"})
  void theLimitsThemselvesAreAccepted(int maxBatchSize, int maxLatencyMs) {
    BatchingSpec s = new BatchingSpec(true, maxBatchSize, maxLatencyMs);
    assertEquals(maxBatchSize, s.maxBatchSize());
    assertEquals(maxLatencyMs, s.maxLatencyMs());
  }
}
