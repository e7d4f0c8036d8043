package dev.sidecar.cli;

import dev.sidecar.bundle.BundleArchive;
import dev.sidecar.bundle.BundleException;
import dev.sidecar.bundle.BundleRef;
import dev.sidecar.bundle.BundleStore;
import dev.sidecar.bundle.files.FileTrees;
import dev.sidecar.bundle.files.PrivateFiles;
import dev.sidecar.spark.RemoteBundles;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import java.util.function.Function;
import org.apache.hadoop.conf.Configuration;

/**
 * Where the CLI's commands find a bundle: a store tag, a path, or a URI ({@code file://},
 * {@code https://}, loopback {@code http://}, any Hadoop file system), optionally pinned by
 * {@code #sha256:<hex>} or {@code --expected-digest}. A remote archive is copied afresh into a
 * private staging directory of the store for each command (never reused, so a changed object
 * is never taken for the old one), its pin checked on the manifest, and then handled like a
 * local file: verified completely before use.
 */
final class BundleSources {
  static final String EXPECTED_DIGEST_OPTION = "--expected-digest";
  static final String EXPECTED_DIGEST_HELP = "The bundle digest (sha256:<64 hex>) the bundle"
      + " must have; anything else fails before it is used. Same as a #sha256:<hex> suffix.";
  static final String REF_HELP = " Also a URI: https://, hdfs://, s3a://, abfs://, gs://, file://"
      + " (Hadoop file systems use the Hadoop configuration of $HADOOP_CONF_DIR), optionally"
      + " ending in #sha256:<hex> to pin the bundle digest.";

  private BundleSources() {
  }

  static BundleRef ref(String value, String expectedDigest) {
    return BundleRef.parse(value).withExpectedDigest(expectedDigest, EXPECTED_DIGEST_OPTION);
  }

  /** A URI the CLI must copy first (not {@code file://}, which is a local path). */
  static boolean isRemote(BundleRef ref) {
    return ref.isUri() && !"file".equals(ref.scheme());
  }

  /** The archive of a local reference: a {@code file://} URI, a path or a tag. */
  static Path local(BundleRef ref, BundleStore store) {
    if (ref.isUri()) {
      try {
        return Path.of(URI.create(ref.location()));
      } catch (RuntimeException e) {
        throw new BundleException(ref.location() + ": not a usable file:// URI"
            + " (file:///absolute/path): " + e.getMessage(), e);
      }
    }
    return store.locateArchive(ref.location());
  }

  /**
   * Runs {@code use} on the archive of {@code ref}: local ones in place, remote ones copied into
   * a staging directory of the store first (deleted afterwards). The pin is checked on the
   * archive's manifest before {@code use} runs; {@code use} verifies the files.
   */
  static <T> T withArchive(BundleRef ref, BundleStore store, Function<Path, T> use) {
    if (!isRemote(ref)) {
      Path archive = local(ref, store);
      ref.checkDigest(BundleArchive.peek(archive).digest());
      return use.apply(archive);
    }
    Path stage = stagingDir(store);
    try {
      Path archive = stage.resolve("download.bundle");
      Files.createFile(archive, PrivateFiles.fileAttribute());
      RemoteBundles.download(ref.location(), hadoopConf(), archive);
      ref.checkDigest(BundleArchive.peek(archive).digest());
      return use.apply(archive);
    } catch (IOException e) {
      throw new BundleException("cannot stage " + ref.location() + ": " + e.getMessage(), e);
    } finally {
      FileTrees.deleteQuietly(stage);
    }
  }

  /** {@code home/tmp/download-PID-UUID}: the store's staging pattern, cleaned if left behind. */
  private static Path stagingDir(BundleStore store) {
    try {
      Path tmp = PrivateFiles.directory(PrivateFiles.directory(store.home()).resolve("tmp"));
      return PrivateFiles.directory(tmp.resolve("download-" + ProcessHandle.current().pid() + "-"
          + UUID.randomUUID()));
    } catch (IOException e) {
      throw new BundleException("cannot use the bundle store at " + store.home() + ": "
          + e.getMessage(), e);
    }
  }

  /**
   * Hadoop's configuration as a Hadoop client finds it: the defaults and {@code *-site.xml} on
   * the class path, plus {@code core-site.xml} and {@code hdfs-site.xml} of
   * {@code $HADOOP_CONF_DIR} when set.
   */
  static Configuration hadoopConf() {
    Configuration conf = new Configuration();
    addHadoopConfDir(conf);
    return conf;
  }

  /** Adds {@code core-site.xml} and {@code hdfs-site.xml} of {@code $HADOOP_CONF_DIR}, if set. */
  static void addHadoopConfDir(Configuration conf) {
    String dir = System.getenv("HADOOP_CONF_DIR");
    if (dir != null && !dir.isBlank()) {
      for (String f : new String[] {"core-site.xml", "hdfs-site.xml"}) {
        Path p = Path.of(dir, f);
        if (Files.isRegularFile(p)) {
          conf.addResource(new org.apache.hadoop.fs.Path(p.toUri()));
        }
      }
    }
  }
}
