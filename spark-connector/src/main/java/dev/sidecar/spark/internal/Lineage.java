package dev.sidecar.spark.internal;

import dev.sidecar.spark.RunOptions;
import java.io.Serializable;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.Metadata;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * The lineage columns ({@link RunOptions#LINEAGE_COLUMNS}) of a plan: the bundle's name, version
 * and digest and the API, the same for every row, and when a row's chunk was scored.
 */
public record Lineage(String bundle, String version, String digest, String api)
    implements Serializable {
  /** The Spark type of each of {@link RunOptions#LINEAGE_COLUMNS}, in that order. */
  private static final DataType[] TYPES = {DataTypes.StringType, DataTypes.StringType,
      DataTypes.StringType, DataTypes.StringType, DataTypes.TimestampType};

  /** The columns' fields, each name after {@code prefix}; never null. */
  List<StructField> fields(String prefix) {
    List<StructField> fields = new ArrayList<>();
    for (int i = 0; i < TYPES.length; i++) {
      fields.add(new StructField(prefix + RunOptions.LINEAGE_COLUMNS.get(i), TYPES[i], false,
          Metadata.empty()));
    }
    return fields;
  }

  /** The columns' values for rows scored at {@code scoredAt}, as Spark's internal values. */
  Object[] values(Instant scoredAt) {
    long micros = Math.addExact(Math.multiplyExact(scoredAt.getEpochSecond(), 1_000_000L),
        scoredAt.getNano() / 1_000);
    return new Object[] {UTF8String.fromString(bundle), UTF8String.fromString(version),
        UTF8String.fromString(digest), UTF8String.fromString(api), micros};
  }
}
