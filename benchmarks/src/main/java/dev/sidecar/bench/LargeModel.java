package dev.sidecar.bench;

import dev.sidecar.testkit.OnnxModels;
import java.nio.file.Path;

/** The large model for the archive benchmark: the testkit's one big float initializer, streamed to disk. */
final class LargeModel {
  private LargeModel() {}

  /** Writes a model of about {@code bytes} bytes to {@code file}, in constant memory. */
  static void write(Path file, long bytes) {
    OnnxModels.writeLargeModel(file, bytes, BenchModels.SEED);
  }

  /** A bundle.yaml whose one API feeds an int64 {@code index} column to the model's Gather. */
  static String bundleYaml(String bundleName, String fileName) {
    return "name: " + bundleName + "\n"
        + "models:\n  - name: large\n    path: " + fileName + "\n"
        + "apis:\n  - name: lookup\n    input: {kind: series, column: index, model_input: index, dtype: int64}\n";
  }

  static String describe() {
    return "testkit OnnxModels.writeLargeModel: one float32 initializer of hashed values in [-1, 1)";
  }
}
