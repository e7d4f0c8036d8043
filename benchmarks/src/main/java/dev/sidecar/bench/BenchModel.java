package dev.sidecar.bench;

import java.nio.file.Path;
import java.util.List;

/**
 * A benchmark model: its ONNX file, the bundle archive built from it, the API that scores a
 * {@code features} array column of {@code features} floats, and the outputs (in API order).
 */
record BenchModel(String key, String description, String bundleName, String api, Path onnx,
    Path archive, String modelInput, int features, List<Output> outputs) {

  /** The input column every benchmark DataFrame carries: {@code array<float>}. */
  static final String FEATURES = "features";

  BenchModel {
    outputs = List.copyOf(outputs);
  }

  /**
   * One output column: name, the ONNX output it comes from, element type (float32 or int64),
   * and its width: 0 for a scalar column from a {@code [N]} or {@code [N,1]} model output, k for
   * an array column from {@code [N,k]}.
   */
  record Output(String column, String modelOutput, boolean int64, int width) implements java.io.Serializable {
    boolean scalar() {
      return width == 0;
    }

    /** Elements per row in the model's output tensor. */
    int elementsPerRow() {
      return Math.max(1, width);
    }
  }
}
