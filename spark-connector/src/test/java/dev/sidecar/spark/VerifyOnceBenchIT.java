package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.bundle.BundleInfo;
import dev.sidecar.bundle.BundleStore;
import dev.sidecar.bundle.FileEntry;
import dev.sidecar.bundle.files.Digests;
import dev.sidecar.testkit.LoopbackHttpServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * A measurement, not a check (run on demand): the set-up time of {@code runSpark} on a bundle
 * holding one large model (~400 MB, incompressible), on {@code local[2]} with a sidecar process.
 * Each step gets a fresh, empty executor cache unless it says it reuses one. Beside each time,
 * the passes over the bundle's files hashed in this JVM ({@link Digests#contentHashed}; the sidecar
 * process logs whether it hashed):
 *
 * <ul>
 *   <li>plan: the {@code runSpark(...)} call itself (the driver reads the archive);
 *   <li>first job: ship, fetch, unpack, start the sidecar, score 1,000 rows;
 *   <li>plan again: {@code runSpark(...)} on the same, unchanged file;
 *   <li>plan, Bundle overload: {@code runSpark(Bundle, ...)} of the store's copy;
 *   <li>second sidecar: a job with other sidecar settings on the cached entry (a new sidecar
 *       process opens the unpacked bundle);
 *   <li>remote: plan and first job from a loopback {@code http://} URL.
 * </ul>
 *
 * <pre>
 * SPARK_LOCAL_IP=127.0.0.1 mvn -o -q -pl spark-connector -am verify -DskipFuzz \
 *   -Dsidecar.bench.verify=true -Dit.test=VerifyOnceBenchIT -Dtest=none \
 *   -Dsurefire.failIfNoSpecifiedTests=false -Dfailsafe.failIfNoSpecifiedTests=false \
 *   [-Dsidecar.bench.verifyMb=400]
 * </pre>
 */
@EnabledIfSystemProperty(named = "sidecar.bench.verify", matches = "true")
@Timeout(value = 30, unit = TimeUnit.MINUTES)
class VerifyOnceBenchIT {
  private static final long SEED = 11;
  private static final long ROWS = 1_000;
  private static long contentBytes;

  @Test
  void runSparkSetUpOnALargeBundle() throws Exception {
    long mb = Long.getLong("sidecar.bench.verifyMb", 400);
    Path dir = TestBundles.root().resolve("verify-bench-" + mb);
    Path archive = dir.resolve("verify_bench.bundle");
    BundleInfo info = TestBundles.largeLookup("verify_bench", dir, archive, mb, SEED);
    contentBytes = info.manifest().files().stream().mapToLong(FileEntry::size).sum();
    Path work = Files.createDirectories(dir.resolve("run-" + System.nanoTime()));
    String savedCache = System.getProperty("sidecar.cache.dir");
    String savedHome = System.getProperty("sidecar.home");
    System.setProperty("sidecar.home", work.resolve("home").toString());
    List<String> rows = new ArrayList<>();
    SparkSession spark = TestSpark.local("local[2]", "VerifyOnceBenchIT");
    try (LoopbackHttpServer http = LoopbackHttpServer.http()) {
      http.serve("/verify_bench.bundle", archive);
      Dataset<Row> df = spark.range(0, ROWS, 1, 2).selectExpr("id as index");
      RunOptions opts = RunOptions.builder().startTimeout(java.time.Duration.ofMinutes(10))
          .build();
      freshCache(work, "local");
      Dataset<Row> scored = time(rows, "plan (runSpark on a path)",
          () -> Sidecar.runSpark(archive, "lookup", df, opts));
      time(rows, "first job (ship, fetch, unpack, start the sidecar, score)",
          () -> check(scored));
      time(rows, "plan again (same unchanged file)",
          () -> Sidecar.runSpark(archive, "lookup", df, opts));
      BundleStore store = BundleStore.defaultStore();
      store.add(archive);
      Bundle loaded = store.load(info.manifest().tag());
      time(rows, "plan, Bundle overload (store copy)",
          () -> Sidecar.runSpark(loaded, "lookup", df, opts));
      RunOptions other = opts.toBuilder().sidecarIntraOpThreads(2).build();
      time(rows, "second sidecar on the cached entry (job)",
          () -> check(Sidecar.runSpark(archive, "lookup", df, other)));
      freshCache(work, "remote");
      String url = http.url("/verify_bench.bundle") + "#" + info.digest();
      // Other settings: a new sidecar, so this executor needs the bundle again (from the URL).
      RunOptions remoteOpts = opts.toBuilder().chunkRows(512).build();
      Dataset<Row> remote = time(rows, "remote plan (http://, manifest only)",
          () -> Sidecar.runSpark(url, "lookup", df, remoteOpts));
      time(rows, "remote first job (download, unpack, start the sidecar, score)",
          () -> check(remote));
    } finally {
      spark.stop();
      restore("sidecar.cache.dir", savedCache);
      restore("sidecar.home", savedHome);
    }
    StringBuilder t = new StringBuilder(String.format(Locale.ROOT,
        "%nBundle %s: archive %.0f MB, %d rows, local[2], sidecar process%n"
            + "| step | wall time (s) | passes over the files in this JVM (driver + executor)"
            + " |%n|---|---:|---:|%n", info.manifest().tag(),
        Files.size(archive) / 1048576.0, ROWS));
    rows.forEach(t::append);
    System.out.println(t);
    Files.writeString(TestBundles.root().resolve("verify-bench-result.md"), t.toString());
  }

  private static Object check(Dataset<Row> scored) {
    Row r = scored.selectExpr("count(*)", "count(y)").first();
    assertEquals(ROWS, r.getLong(0));
    assertEquals(ROWS, r.getLong(1));
    return r;
  }

  private static <T> T time(List<String> rows, String step, Callable<T> what) throws Exception {
    long h0 = Digests.contentHashed();
    long t0 = System.nanoTime();
    T out = what.call();
    double s = (System.nanoTime() - t0) / 1e9;
    rows.add(String.format(Locale.ROOT, "| %s | %.2f | %.2f |%n", step, s,
        (Digests.contentHashed() - h0) / (double) contentBytes));
    return out;
  }

  private static void freshCache(Path work, String name) throws Exception {
    Path root = Files.createDirectories(work.resolve("cache-" + name));
    Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwx------"));
    System.setProperty("sidecar.cache.dir", root.toString());
  }

  private static void restore(String property, String value) {
    if (value == null) {
      System.clearProperty(property);
    } else {
      System.setProperty(property, value);
    }
  }
}
