package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.sidecar.spark.internal.SidecarKey;
import dev.sidecar.spark.internal.SidecarRegistry;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A cached, unpacked bundle whose model file was changed in place (same size, same mtime) is
 * not served: the next sidecar start finds the change and unpacks the bundle again. The check
 * itself is bundle-format's ({@code BundleArchive.unpackCached} rehashes cached entries); the
 * connector's part is to go through it at every sidecar start.
 */
@Timeout(180)
class TamperedCacheIT {
  private static SparkSession spark;
  private static TestCacheRoot cache;

  @BeforeAll
  static void start() {
    cache = new TestCacheRoot();
    spark = TestSpark.local("local[2]", "TamperedCacheIT");
  }

  @AfterAll
  static void stop() {
    cache.restore();
    spark.stop();
  }

  @Test
  void aCachedModelChangedInPlaceIsUnpackedAgain() throws Exception {
    Path root = cache.fresh("tamper");
    // A bundle of its own: no sidecar from another test serves it from another cache.
    TestBundles.Built bundle = TestBundles.kinds("kinds_tamper", "1.0.0");
    scoreAndCheck(bundle);

    Path model;
    try (Stream<Path> files = Files.walk(root.resolve(bundle.digest().replace("sha256:", "")))) {
      List<Path> models = files.filter(f -> f.getFileName().toString().equals("id_i64.onnx"))
          .toList();
      assertEquals(1, models.size(), "the i64 API's model in the cached bundle: " + models);
      model = models.get(0);
    }
    FileTime mtime = Files.getLastModifiedTime(model);
    long size = Files.size(model);
    try (RandomAccessFile f = new RandomAccessFile(model.toFile(), "rw")) {
      // The first byte is the tag of the ModelProto's first field: ONNX Runtime cannot parse
      // the file without it, so a sidecar that loaded this copy could not start.
      int b = f.read();
      f.seek(0);
      f.write(~b & 0xff);
    }
    Files.setLastModifiedTime(model, mtime);
    assertEquals(size, Files.size(model));

    // The next job needs a new sidecar: the running one has the model in memory already.
    SidecarKey key = SidecarKey.of(bundle.digest(), RunOptions.defaults());
    long first = SidecarRegistry.get().pid(key).orElseThrow();
    ProcessHandle sidecar = ProcessHandle.of(first).orElseThrow();
    sidecar.destroyForcibly();
    sidecar.onExit().get(30, TimeUnit.SECONDS);

    scoreAndCheck(bundle);
    assertNotEquals(first, SidecarRegistry.get().pid(key).orElseThrow(), "a fresh sidecar");
  }

  private static void scoreAndCheck(TestBundles.Built bundle) {
    List<Row> rows = Sidecar.runSpark(bundle.archive(), "i64",
        spark.range(100).selectExpr("id as i64"), RunOptions.defaults()).collectAsList();
    assertEquals(100, rows.size());
    for (Row r : rows) {
      assertEquals(r.getLong(0), r.getLong(1), "the identity model's output");
    }
  }
}
