package dev.sidecar.bench;

import dev.sidecar.testkit.OnnxModels;
import java.nio.file.Path;

/** The large model for the archive benchmark, written by the testkit. */
final class LargeModel {
  private LargeModel() {}

  /** Writes a model of about {@code bytes} bytes to {@code file}. */
  static void write(Path file, long bytes) {
    OnnxModels.largeModel(file, bytes, BenchModels.SEED);
  }

  /** A bundle.yaml whose one API exposes the model as is (inputs and outputs taken from the model). */
  static String bundleYaml(String bundleName, String fileName) {
    return "name: " + bundleName + "\n"
        + "models:\n  - name: large\n    path: " + fileName + "\n"
        + "apis:\n  - name: predict\n    input: {kind: tensor, column: x, model_input: x}\n";
  }

  static String describe() {
    return "testkit OnnxModels.largeModel, seeded random float32 weights";
  }
}
