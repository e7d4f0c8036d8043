package dev.sidecar.bundle;

import java.util.List;

/**
 * How an API's input columns reach the model (BentoML's IO descriptors, for ONNX).
 *
 * <ul>
 *   <li>{@link Kind#TENSOR}: one column of fixed-shape numbers; its shape is the model input's.
 *   <li>{@link Kind#SERIES}: one scalar column, fed to a 1-D model input.
 *   <li>{@link Kind#DATAFRAME}: named, typed scalar columns; each feeds its own model input, or,
 *       when {@link #packedInput()} is set, all are packed in the declared order into that one
 *       2-D model input of shape {@code [-1, columns]}.
 * </ul>
 */
public record InputDescriptor(Kind kind, List<ColumnSpec> columns, String packedInput) {
  public enum Kind {
    TENSOR, DATAFRAME, SERIES;

    public String id() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  public InputDescriptor {
    columns = List.copyOf(columns);
  }

  public boolean packed() {
    return packedInput != null;
  }
}
