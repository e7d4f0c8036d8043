package dev.sidecar.bundle;

import java.util.List;

/**
 * One output column of an API: the ONNX model output it comes from, that output's dtype, and
 * the full shape with {@code -1} for the batch dimension ({@code [-1]} gives a scalar column,
 * {@code [-1, k]} an array column). With class labels, an integer output is an index into
 * {@link #classLabels()} and the column holds the label strings.
 */
public record OutputSpec(String name, String modelOutput, DType dtype, List<Long> shape,
    List<String> classLabels) {
  public OutputSpec {
    shape = List.copyOf(shape);
    classLabels = classLabels == null ? List.of() : List.copyOf(classLabels);
  }

  /** The dtype of the column users see: {@link DType#STRING} when class labels apply. */
  public DType columnDType() {
    return classLabels.isEmpty() ? dtype : DType.STRING;
  }

  /** Elements per row: 1 for a scalar column, k for {@code [-1, k]}. */
  public long elementsPerRow() {
    long n = 1;
    for (int i = 1; i < shape.size(); i++) {
      n *= shape.get(i);
    }
    return n;
  }
}
