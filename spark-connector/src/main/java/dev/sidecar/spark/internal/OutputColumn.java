package dev.sidecar.spark.internal;

import dev.sidecar.bundle.DType;
import java.io.Serializable;

/**
 * One output column of the API: the tensor name in responses, the DataFrame column it becomes,
 * the dtype of its values and how many per row ({@code array} for {@code [-1, k]} shapes).
 */
public record OutputColumn(String tensorName, String columnName, DType dtype,
    int elementsPerRow, boolean array) implements Serializable {
}
