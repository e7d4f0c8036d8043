package dev.sidecar.spark.internal;

import dev.sidecar.bundle.DType;
import java.io.Serializable;
import java.util.List;

/**
 * One output column of the API: the tensor name in responses, the DataFrame column it becomes,
 * the dtype of its values and how many per row ({@code array} for {@code [-1, k]} shapes). A
 * map column (a ZipMap output declared {@code as: map}) has {@code mapKeys}, the class keys of
 * its {@code k} values in order, of {@code mapKeyType} (INT64 keys in decimal); else they are
 * null.
 */
public record OutputColumn(String tensorName, String columnName, DType dtype,
    int elementsPerRow, boolean array, DType mapKeyType, List<String> mapKeys)
    implements Serializable {
  public OutputColumn {
    mapKeys = mapKeys == null ? null : List.copyOf(mapKeys);
    if (mapKeys != null && (mapKeys.size() != elementsPerRow || dtype != DType.FLOAT32)) {
      throw new IllegalArgumentException("map column '" + columnName + "' needs "
          + elementsPerRow + " keys of float32 values, got " + mapKeys + " of " + dtype);
    }
  }

  /** A column that is not a map. */
  public OutputColumn(String tensorName, String columnName, DType dtype, int elementsPerRow,
      boolean array) {
    this(tensorName, columnName, dtype, elementsPerRow, array, null, null);
  }
}
