package dev.sidecar.spark;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.bundle.BundleArchive;
import dev.sidecar.bundle.BundleRef;
import dev.sidecar.bundle.BundleStore;
import dev.sidecar.bundle.BundleInfo;
import dev.sidecar.spark.internal.BundleShipper;
import dev.sidecar.spark.internal.ConnectorRuntime;
import dev.sidecar.spark.internal.RemoteArchives;
import dev.sidecar.spark.internal.ScoringCounters;
import dev.sidecar.spark.internal.ScoringFunction;
import dev.sidecar.spark.internal.ScoringPlan;
import dev.sidecar.spark.internal.ScoringPlanner;
import dev.sidecar.spark.internal.StreamingFrames;
import dev.sidecar.spark.internal.VerifiedArchives;
import dev.sidecar.spark.tools.InternalFrames;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;
import org.apache.spark.SparkContext;
import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;

/**
 * Scores a DataFrame with an API of a sidecar bundle.
 *
 * <pre>{@code
 * Dataset<Row> scored = Sidecar.runSpark("iris_classifier:1.0", "classify", df);
 * }</pre>
 *
 * <p>The result holds {@code df}'s columns (unless dropped) followed by the API's output
 * columns, typed from the bundle's descriptors. The schema is checked here, on the driver; the
 * scoring itself is lazy like any transformation. When it runs, the bundle's archive reaches
 * each executor once through Spark's file distribution, each executor unpacks it once and starts
 * one sidecar for it, and every partition is streamed through that sidecar in chunks.
 *
 * <p>A streaming DataFrame ({@code df.isStreaming()}) gives a streaming DataFrame, for
 * {@code writeStream} (or {@code foreachBatch}). The schema is checked and the archive shipped
 * once, here; every micro-batch's tasks then use the executor's unpacked bundle and its running
 * sidecar, as the tasks of a batch job do.
 */
public final class Sidecar {
  private Sidecar() {
  }

  /** {@link #runSpark(String, String, Dataset, RunOptions)} with default options. */
  public static Dataset<Row> runSpark(String tagOrPath, String api, Dataset<Row> df) {
    return runSpark(tagOrPath, api, df, RunOptions.defaults());
  }

  /**
   * Scores {@code df} with the bundle named by a store tag ({@code name:version}, or {@code name}
   * for its latest version), by the path of a {@code .bundle} archive, or by a URI:
   * {@code file://} (a path on the driver), {@code https://} ({@code http://} for loopback hosts
   * only), or any Hadoop file system the session's Hadoop configuration knows ({@code hdfs://},
   * {@code s3a://}, {@code abfs://}, {@code gs://}, ...) with the cluster's own credentials.
   *
   * <p>From a URI, the driver reads only the archive's manifest; each executor copies the archive
   * from the URI once into its private cache (with the session's Hadoop configuration), checks
   * its digest is the one the driver planned with, and verifies every file as it unpacks.
   *
   * <p>A {@code #sha256:<64 hex>} suffix (or {@link RunOptions.Builder#expectedDigest}) pins the
   * bundle digest: a bundle with another digest fails here, before any task runs.
   */
  public static Dataset<Row> runSpark(String tagOrPathOrUri, String api, Dataset<Row> df,
      RunOptions options) {
    Objects.requireNonNull(tagOrPathOrUri, "tagOrPathOrUri");
    Objects.requireNonNull(options, "options");
    BundleRef ref = ref(tagOrPathOrUri, options);
    if (ref.isUri() && !"file".equals(ref.scheme())) {
      return runRemote(ref, api, df, options);
    }
    Path archive = ref.isUri() ? fileUri(ref.location()) : locate(ref.location());
    return run(archive, ref, api, df, options, null);
  }

  /** {@link #runSpark(Path, String, Dataset, RunOptions)} with default options. */
  public static Dataset<Row> runSpark(Path archive, String api, Dataset<Row> df) {
    return runSpark(archive, api, df, RunOptions.defaults());
  }

  /** Scores {@code df} with the bundle in the archive at {@code archive}. */
  public static Dataset<Row> runSpark(Path archive, String api, Dataset<Row> df,
      RunOptions options) {
    Objects.requireNonNull(archive, "archive");
    Objects.requireNonNull(options, "options");
    return run(archive, pathRef(archive, options), api, df, options, null);
  }

  /** A path with the pin of {@link RunOptions#expectedDigest}, if any. */
  private static BundleRef pathRef(Path archive, RunOptions options) {
    try {
      return new BundleRef(archive.toString(), null).withExpectedDigest(
          options.expectedDigest(), "RunOptions.expectedDigest");
    } catch (RuntimeException e) {
      throw new SidecarSparkException(e.getMessage(), e);
    }
  }

  /**
   * Plans and ships {@code archive}; {@code known} is its manifest, digest and staged copy when
   * the caller has read it already (in this call), else it is read here (verified in full unless
   * this JVM verified the same unchanged file before, see {@link VerifiedArchives}).
   */
  private static Dataset<Row> run(Path archive, BundleRef ref, String api, Dataset<Row> df,
      RunOptions options, BundleShipper.Staged known) {
    Objects.requireNonNull(api, "api");
    Objects.requireNonNull(df, "df");
    if (!Files.isRegularFile(archive)) {
      throw new SidecarSparkException("no bundle archive at " + archive);
    }
    BundleShipper.Staged staged = known != null ? known
        : verified(df.sparkSession().sparkContext(), archive);
    BundleInfo info = staged.info();
    checkDigest(ref, info.digest());
    ScoringPlan checked = ScoringPlanner.plan(info.manifest(), info.digest(), api, df.schema(),
        options);
    ScoringPlan plan = checked.shippedAs(ConnectorRuntime.get().shipper().ship(
        df.sparkSession().sparkContext(), staged));
    ScoringFunction f = new ScoringFunction(plan, counters(df, options));
    if (df.isStreaming()) {
      // toRdd() refuses a streaming plan: the same function, as a node of the streaming plan.
      return StreamingFrames.mapPartitions(df, f, plan.outputSchema());
    }
    // Spark's internal rows in and out: no conversion of every value to and from Java objects.
    RDD<InternalRow> rows = df.queryExecution().toRdd();
    RDD<InternalRow> scored = rows.toJavaRDD().mapPartitions(f).rdd();
    return InternalFrames.create(df.sparkSession(), scored, plan.outputSchema());
  }

  /** {@link #runSpark(Bundle, String, Dataset, RunOptions)} with default options. */
  public static Dataset<Row> runSpark(Bundle bundle, String api, Dataset<Row> df) {
    return runSpark(bundle, api, df, RunOptions.defaults());
  }

  /**
   * Scores {@code df} with a loaded bundle; its archive is found in the default store by tag
   * and must have the same digest.
   */
  public static Dataset<Row> runSpark(Bundle bundle, String api, Dataset<Row> df,
      RunOptions options) {
    Objects.requireNonNull(bundle, "bundle");
    Objects.requireNonNull(options, "options");
    Objects.requireNonNull(df, "df");
    Path archive = locate(bundle.tag());
    BundleShipper.Staged staged = verified(df.sparkSession().sparkContext(), archive);
    if (!staged.info().digest().equals(bundle.digest())) {
      throw new SidecarSparkException("the store's archive for " + bundle.tag() + " has digest "
          + staged.info().digest() + " but the bundle given has " + bundle.digest()
          + "; pass the bundle's archive path instead");
    }
    // Read (and verified) once per call: handed on, not read again.
    return run(archive, pathRef(archive, options), api, df, options, staged);
  }

  /** From a URI: the driver reads the manifest, executors copy the archive themselves. */
  private static Dataset<Row> runRemote(BundleRef ref, String api, Dataset<Row> df,
      RunOptions options) {
    Objects.requireNonNull(api, "api");
    Objects.requireNonNull(df, "df");
    SparkContext sc = df.sparkSession().sparkContext();
    BundleInfo info;
    try {
      info = RemoteArchives.peek(ref.location(), sc.hadoopConfiguration());
    } catch (RuntimeException e) {
      throw new SidecarSparkException("cannot read bundle " + ref.location() + ": "
          + e.getMessage(), e);
    }
    checkDigest(ref, info.digest());
    ScoringPlan plan = ScoringPlanner.plan(info.manifest(), info.digest(), api, df.schema(),
        options).readFrom(info.manifest().name(),
            ConnectorRuntime.get().shipper().remote(sc, ref.location()));
    RDD<InternalRow> rows = df.queryExecution().toRdd();
    RDD<InternalRow> scored = rows.toJavaRDD()
        .mapPartitions(new ScoringFunction(plan, counters(df, options))).rdd();
    return InternalFrames.create(df.sparkSession(), scored, plan.outputSchema());
  }

  /** The counters behind {@link RunOptions#progressListener()}: none without a listener. */
  private static ScoringCounters counters(Dataset<Row> df, RunOptions options) {
    return ScoringCounters.reportingTo(df.sparkSession().sparkContext(),
        options.progressListener());
  }

  private static BundleRef ref(String value, RunOptions options) {
    try {
      return BundleRef.parse(value).withExpectedDigest(options.expectedDigest(),
          "RunOptions.expectedDigest");
    } catch (RuntimeException e) {
      throw new SidecarSparkException(e.getMessage(), e);
    }
  }

  private static void checkDigest(BundleRef ref, String actual) {
    try {
      ref.checkDigest(actual);
    } catch (RuntimeException e) {
      throw new SidecarSparkException(e.getMessage(), e);
    }
  }

  private static Path fileUri(String uri) {
    try {
      return Path.of(java.net.URI.create(uri));
    } catch (RuntimeException e) {
      throw new SidecarSparkException(uri + ": not a usable file:// URI (file:///absolute/path): "
          + e.getMessage(), e);
    }
  }

  private static Path locate(String tagOrPath) {
    try {
      return BundleStore.locate(tagOrPath);
    } catch (RuntimeException e) {
      throw new SidecarSparkException("no bundle '" + tagOrPath + "': " + e.getMessage(), e);
    }
  }

  /**
   * The archive's manifest and digest, its files verified in full unless this JVM verified the
   * same unchanged file before ({@link VerifiedArchives}), and the application's private copy
   * of those bytes, made as it is read unless the application has one ({@link
   * BundleShipper#stage}); it is added to Spark only once planned.
   */
  private static BundleShipper.Staged verified(SparkContext sc, Path archive) {
    try {
      BundleInfo head = BundleArchive.peek(archive);
      ConnectorRuntime rt = ConnectorRuntime.get();
      return rt.shipper().stage(sc, archive, head, rt.archives());
    } catch (RuntimeException e) {
      throw new SidecarSparkException("cannot read bundle archive " + archive + ": "
          + e.getMessage(), e);
    }
  }
}
