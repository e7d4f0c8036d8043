package dev.sidecar.spark.internal;

import dev.sidecar.bundle.BundleStore;
import dev.sidecar.bundle.files.PrivateFiles;
import dev.sidecar.spark.SidecarSparkException;
import java.io.File;
import java.io.IOException;
import java.nio.file.Path;
import org.apache.spark.SparkEnv;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where the connector keeps its files on a machine: a directory of the user who runs it that
 * nobody else can write to. The first of these that applies:
 *
 * <ol>
 *   <li>the system property {@value #CACHE_DIR_PROPERTY};
 *   <li>{@code spark-cache} in the sidecar home, when the system property {@code sidecar.home}
 *       or the environment variable {@code SIDECAR_HOME} is set;
 *   <li>on a Spark executor (not the driver), {@code sidecar} in the executor's first block
 *       manager directory: private to the executor and removed by Spark when it ends;
 *   <li>{@code ~/.sidecar/spark-cache}.
 * </ol>
 *
 * <p>The root and the directories made in it are created 0700 and their files 0600, whatever
 * the umask. An existing root is used only when it is a directory (not a link) owned by the
 * current user and not writable by group or others; otherwise every sidecar start fails with a
 * message that says why and how to choose another. Layout:
 *
 * <pre>
 * DIGEST-HEX/, .locks/               unpacked bundles (BundleArchive.unpackCached)
 * archives/NAME-DIGEST12.bundle      archives fetched from the driver
 * onnxruntime-native/ID/             ONNX Runtime's native libraries (checked: SidecarScratch)
 * sidecar-scratch/PID-N/             one per sidecar: its java.io.tmpdir, logging set-up, socket
 * logs/sidecar-DIGEST12-PID-N.log    a sidecar's stderr (deleted when it stops cleanly)
 * </pre>
 */
public final class SidecarCache {
  /** System property naming the cache directory; wins over every default. */
  public static final String CACHE_DIR_PROPERTY = "sidecar.cache.dir";
  /** The cache's directory in the sidecar home. */
  static final String IN_HOME = "spark-cache";
  /** The driver's executor id ({@code SparkContext.DRIVER_IDENTIFIER}, Spark-private). */
  private static final String DRIVER = "driver";
  private static final Logger LOG = LoggerFactory.getLogger(SidecarCache.class);

  private SidecarCache() {
  }

  /** Where the cache is and which setting chose it (for messages). */
  record Location(Path dir, String source) {
  }

  /** The cache root, created private or checked to be. */
  public static Path root() {
    Location at = location();
    try {
      return PrivateFiles.directory(at.dir());
    } catch (IOException e) {
      throw new SidecarSparkException("the sidecar cache directory " + at.dir() + " (from "
          + at.source() + ") is not private to user " + System.getProperty("user.name") + ": "
          + e.getMessage() + ". Set the system property " + CACHE_DIR_PROPERTY + " (on executors:"
          + " spark.executor.extraJavaOptions=-D" + CACHE_DIR_PROPERTY + "=DIR) to a directory of"
          + " your own that only you can write to, or let the connector create it");
    }
  }

  /** The directory {@code name} of the cache root, created private or checked to be. */
  static Path dir(String name) throws IOException {
    return PrivateFiles.directory(root().resolve(name));
  }

  static Location location() {
    String property = System.getProperty(CACHE_DIR_PROPERTY);
    if (isSet(property)) {
      return new Location(Path.of(property), "the system property " + CACHE_DIR_PROPERTY);
    }
    if (isSet(System.getProperty("sidecar.home")) || isSet(System.getenv("SIDECAR_HOME"))) {
      return new Location(BundleStore.defaultHome().resolve(IN_HOME), "the sidecar home");
    }
    Path executor = executorLocalDir();
    if (executor != null) {
      return new Location(executor, "the executor's Spark local directory");
    }
    return new Location(BundleStore.defaultHome().resolve(IN_HOME), "the user's home directory");
  }

  /**
   * {@code sidecar} in this executor's first block manager directory that is the user's own and
   * not writable by others; null on the driver (whose local directories go away with its
   * SparkContext, before the JVM and its sidecars do) and outside Spark.
   */
  public static Path executorLocalDir() {
    SparkEnv env = SparkEnv.get();
    if (env == null || DRIVER.equals(env.executorId())) {
      return null;
    }
    File[] dirs;
    try {
      dirs = env.blockManager().diskBlockManager().localDirs();
    } catch (RuntimeException e) {
      LOG.debug("no block manager directories on executor {}", env.executorId(), e);
      return null;
    }
    for (File d : dirs) {
      try {
        PrivateFiles.checkOwned(d.toPath(), true);
        return d.toPath().resolve("sidecar");
      } catch (IOException e) {
        LOG.info("not keeping sidecar files in {}: {}", d, e.getMessage());
      }
    }
    return null;
  }

  private static boolean isSet(String value) {
    return value != null && !value.isBlank();
  }
}
