package dev.sidecar.spark;

import java.nio.file.Path;
import org.apache.spark.api.java.function.MapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * An executor JVM for {@link SharedMemoryIT} to kill: a local Spark session that scores a
 * bundle through shared memory, prints {@code SCORING} once chunks are flowing, and goes on
 * slowly until it is killed.
 */
public final class SharedMemoryChild {
  private SharedMemoryChild() {
  }

  public static void main(String[] args) {
    SparkSession spark = TestSpark.local("local[2]", "SharedMemoryChild");
    Dataset<Row> input = spark.range(0, 10_000_000, 1, 2).selectExpr("id", "id * 3 as i64");
    Dataset<Row> slow = input.map((MapFunction<Row, Row>) row -> {
      long id = row.getLong(0);
      if (id == 20_000 || id == 5_020_000) {
        System.out.println("SCORING");
        System.out.flush();
      }
      if (id > 20_000 && id < 5_000_000 || id > 5_020_000) {
        Thread.sleep(1);
      }
      return row;
    }, Encoders.row(input.schema()));
    RunOptions opts = RunOptions.builder().chunkRows(500).chunksInFlight(4).build();
    Sidecar.runSpark(Path.of(args[0]), "i64", slow, opts).count();
  }
}
