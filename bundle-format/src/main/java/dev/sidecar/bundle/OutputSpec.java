package dev.sidecar.bundle;

import java.util.List;

/**
 * One output column of an API: the ONNX model output it comes from, that output's dtype, and
 * the full shape with {@code -1} for the batch dimension ({@code [-1]} gives a scalar column,
 * {@code [-1, k]} an array column). With class labels, an integer output is an index into
 * {@link #classLabels()} and the column holds the label strings. With a {@link #classMap()},
 * the model output is a sequence of maps (a ZipMap, as converters give classifiers'
 * probabilities); it is served as a FLOAT32 {@code [-1, k]} tensor ordered by the class keys.
 */
public record OutputSpec(String name, String modelOutput, DType dtype, List<Long> shape,
    List<String> classLabels, ClassMap classMap) {
  public OutputSpec {
    shape = List.copyOf(shape);
    classLabels = classLabels == null ? List.of() : List.copyOf(classLabels);
    if (classMap != null && (dtype != DType.FLOAT32 || shape.size() != 2
        || shape.get(1) != classMap.keys().size() || !classLabels.isEmpty())) {
      throw new IllegalArgumentException("output '" + name + "' from a sequence of maps must be"
          + " float32 [-1, " + classMap.keys().size() + "] without labels, not " + dtype.id()
          + " " + shape);
    }
  }

  /** A tensor output (no class map). */
  public OutputSpec(String name, String modelOutput, DType dtype, List<Long> shape,
      List<String> classLabels) {
    this(name, modelOutput, dtype, shape, classLabels, null);
  }

  /**
   * How a model output that is a sequence of maps from class keys to probabilities (an ONNX
   * {@code ZipMap}) becomes a column: the keys' dtype ({@link DType#INT64} or
   * {@link DType#STRING}), the keys in class order (integers in decimal), and whether the
   * column is a map from key to probability ({@code asMap}) or an array of probabilities in key
   * order.
   */
  public record ClassMap(DType keyType, List<String> keys, boolean asMap) {
    public ClassMap {
      keys = List.copyOf(keys);
      if (keyType != DType.INT64 && keyType != DType.STRING) {
        throw new IllegalArgumentException("map keys must be int64 or string, not " + keyType);
      }
      if (keys.isEmpty()) {
        throw new IllegalArgumentException("a class map needs at least one key");
      }
      if (new java.util.HashSet<>(keys).size() != keys.size()) {
        throw new IllegalArgumentException("class map keys " + keys + " list a key twice");
      }
      for (String k : keys) {
        if (keyType == DType.INT64) {
          try {
            Long.parseLong(k);
          } catch (NumberFormatException e) {
            throw new IllegalArgumentException("class map key '" + k + "' is not an int64");
          }
        }
      }
    }
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
