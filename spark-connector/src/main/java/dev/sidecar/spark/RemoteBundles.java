package dev.sidecar.spark;

import dev.sidecar.spark.internal.RemoteArchives;
import java.nio.file.Path;
import org.apache.hadoop.conf.Configuration;

/**
 * Bundle archives at URIs, outside Spark jobs: copy one to a local file, or publish one. The
 * same URIs as {@link Sidecar#runSpark(String, String, org.apache.spark.sql.Dataset)} takes:
 * {@code https://} (and {@code http://} to loopback hosts) through the JDK's HTTP client, every
 * other scheme ({@code hdfs://}, {@code s3a://}, {@code abfs://}, {@code gs://}, ...) through
 * Hadoop's {@code FileSystem} with the given Hadoop configuration and its credentials. What
 * {@code sidecar bundle import}, {@code bundle push}, {@code serve} and {@code run} use.
 */
public final class RemoteBundles {
  private RemoteBundles() {
  }

  /**
   * Copies the object at {@code uri} into the existing file {@code target} (truncated first),
   * checking its length and the archive size limit ({@code sidecar.bundle.maxExpandedBytes}).
   * The copy is not verified: read it with {@code BundleArchive} (and check its digest) before
   * use.
   *
   * @throws dev.sidecar.bundle.BundleException naming the URI: no such object, access denied,
   *     no credentials, an unknown scheme, a truncated or oversized download
   */
  public static void download(String uri, Configuration conf, Path target) {
    RemoteArchives.download(uri, conf, target);
  }

  /**
   * Writes {@code archive} to {@code uri} on a Hadoop file system: into a temporary name beside
   * the target, then renamed over it (atomic on HDFS; on object stores the upload appears only
   * once complete), so a reader never sees half an archive. {@code https://} is read-only.
   * The archive is written as it is: verify it first.
   *
   * @throws dev.sidecar.bundle.BundleException naming the URI and what failed
   */
  public static void push(Path archive, String uri, Configuration conf) {
    RemoteArchives.push(archive, uri, conf);
  }
}
