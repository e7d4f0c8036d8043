package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.testkit.S3Server;
import java.io.FileNotFoundException;
import java.io.OutputStream;
import java.net.URI;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The S3 test fixture with plain Spark, nothing of sidecar: a real S3 API server on loopback,
 * reached through the s3a connector configured the way a cluster is ({@code spark.hadoop.fs.s3a.*}).
 */
@Tag("s3")
class S3aFixtureTest {
  private static S3Server s3;
  private static SparkSession spark;

  @BeforeAll
  static void start() {
    s3 = S3Server.start();
    spark = withS3a(TestSpark.builder("local[2]", "S3aFixtureTest"), s3.s3aConfiguration())
        .getOrCreate();
  }

  @AfterAll
  static void stop() {
    try {
      if (spark != null) {
        spark.stop();
      }
    } finally {
      if (s3 != null) {
        s3.close();
      }
    }
  }

  /** The s3a keys as a cluster's Spark configuration carries them. */
  static SparkSession.Builder withS3a(SparkSession.Builder b, Map<String, String> conf) {
    conf.forEach((k, v) -> b.config("spark.hadoop." + k, v));
    return b;
  }

  @Test
  void objectWrittenThroughS3aIsReadBySparkRead() throws Exception {
    byte[] csv = Files.readAllBytes(TestBundles.irisDir().resolve("iris.csv"));
    String uri = s3.uri("in/iris.csv");
    FileSystem fs = FileSystem.get(URI.create(uri), spark.sparkContext().hadoopConfiguration());
    try (OutputStream out = fs.create(new Path(uri))) {
      out.write(csv);
    }
    assertEquals(csv.length, fs.getFileStatus(new Path(uri)).getLen());

    List<Row> rows = spark.read().option("header", "true").csv(uri).collectAsList();
    assertEquals(150, rows.size());
    assertEquals("5.1", rows.get(0).getString(0));
  }

  @Test
  void sparkWritesAndReadsParquetThroughS3a() {
    // Spark's commit renames the task output: s3a copies objects (its transfer manager).
    String uri = s3.uri("out/iris.parquet");
    Iris.frame(spark, 2).write().parquet(uri);
    assertEquals(150, spark.read().parquet(uri).count());
  }

  @Test
  void wrongSecretIsRefusedByTheServer() throws Exception {
    String bucket = s3.createBucket();
    org.apache.hadoop.conf.Configuration conf =
        new org.apache.hadoop.conf.Configuration(spark.sparkContext().hadoopConfiguration());
    conf.set("fs.s3a.bucket." + bucket + ".secret.key", "not-" + s3.secretKey());
    Exception e = assertThrows(Exception.class, () -> {
      try (FileSystem fs = FileSystem.newInstance(URI.create("s3a://" + bucket + "/"), conf)) {
        fs.getFileStatus(new Path("s3a://" + bucket + "/x"));
      }
    });
    assertTrue(String.valueOf(e.getMessage()).contains("403"), e.toString());
  }

  @Test
  void missingObjectIsFileNotFound() throws Exception {
    String uri = s3.uri("no/such.object");
    FileSystem fs = FileSystem.get(URI.create(uri), spark.sparkContext().hadoopConfiguration());
    assertThrows(FileNotFoundException.class, () -> fs.open(new Path(uri)).close());
  }
}
