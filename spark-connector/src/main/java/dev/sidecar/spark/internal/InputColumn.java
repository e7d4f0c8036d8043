package dev.sidecar.spark.internal;

import dev.sidecar.bundle.DType;
import java.io.Serializable;
import java.util.List;
import org.apache.spark.sql.types.DataType;

/**
 * One input column of the API bound to a field of the DataFrame: where to read it, how
 * ({@code source}, {@code elementType}) and what to send ({@code dtype}, {@code shape}).
 *
 * @param name the descriptor column (and the DataFrame field, and the request's tensor name)
 * @param fieldIndex index of the field in the input rows
 * @param dtype the dtype sent
 * @param shape the descriptor shape, {@code -1} first
 * @param elementsPerRow elements each row contributes
 * @param source scalar, array or ML vector
 * @param elementType Spark type of each value read
 * @param elementsMayBeNull true for arrays whose elements may be null
 */
public record InputColumn(String name, int fieldIndex, DType dtype, List<Long> shape,
    int elementsPerRow, SparkTypes.Source source, DataType elementType,
    boolean elementsMayBeNull) implements Serializable {
  public InputColumn {
    shape = List.copyOf(shape);
  }
}
