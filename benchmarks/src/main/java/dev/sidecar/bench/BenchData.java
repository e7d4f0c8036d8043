package dev.sidecar.bench;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.expr;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.sum;

import java.util.List;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/** The benchmark input and the action that forces every output value. */
final class BenchData {
  private BenchData() {}

  /**
   * {@code rows} rows in {@code partitions} partitions: {@code id} (0..rows-1) and
   * {@code features}, an {@code array<float>} of {@code width} values in [-1, 1) that depend only
   * on (id, index) through Spark's Murmur3 {@code hash}, so every run and every way sees the
   * same numbers.
   */
  static Dataset<Row> features(SparkSession spark, long rows, int width, int partitions) {
    return spark.range(0, rows, 1, partitions).select(col("id"),
        expr("transform(sequence(0, " + (width - 1) + "), i -> cast((hash(id, i) & 65535) / 32768.0 - 1.0 as float))")
            .as(BenchModel.FEATURES));
  }

  /**
   * The sum, as a double, of every value of every output column, array elements weighted by
   * their position (1, 2, ...) so that rows of probabilities do not all sum to 1: the action
   * each way is timed on. It reads each output element, so no output can be optimized away, and
   * it doubles as a checksum that the ways must agree on.
   */
  static double checksum(Dataset<Row> scored, List<BenchModel.Output> outputs) {
    Column total = lit(0.0d);
    for (BenchModel.Output o : outputs) {
      String c = "`" + o.column() + "`";
      total = total.plus(o.scalar() ? col(o.column()).cast("double")
          : expr("aggregate(transform(" + c + ", (v, i) -> cast(v as double) * (i + 1)), 0D,"
              + " (acc, w) -> acc + w)"));
    }
    Row r = scored.agg(sum(total)).first();
    return r.isNullAt(0) ? 0.0 : r.getDouble(0);
  }
}
