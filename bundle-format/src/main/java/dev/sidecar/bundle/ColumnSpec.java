package dev.sidecar.bundle;

import java.util.List;

/**
 * One input column of an API: its name (also the name of the Open Inference Protocol input
 * tensor a client sends), its dtype, its full shape with {@code -1} for the batch dimension
 * ({@code [-1]} for a scalar column, {@code [-1, 4]} for a column of four-element arrays), and
 * the ONNX model input it feeds.
 */
public record ColumnSpec(String name, DType dtype, List<Long> shape, String modelInput) {
  public ColumnSpec {
    shape = List.copyOf(shape);
  }

  /** Elements per row: the product of every dimension after the batch dimension. */
  public long elementsPerRow() {
    long n = 1;
    for (int i = 1; i < shape.size(); i++) {
      n *= shape.get(i);
    }
    return n;
  }
}
