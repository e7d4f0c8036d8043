package dev.sidecar.spark.internal;

import dev.sidecar.bundle.files.Digests;
import dev.sidecar.bundle.files.FileTrees;
import dev.sidecar.bundle.files.PrivateFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.Map;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerApplicationEnd;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Driver side of bundle distribution: adds a bundle's archive to Spark's file distribution
 * once per application, under {@code <name>-<digest12>.bundle}, so every executor fetches it at
 * most once however many jobs and {@code runSpark} calls use it. The archive is linked (or
 * copied) into a new 0700 temporary directory per application. For a bundle read from a URI,
 * the application's Hadoop configuration is broadcast once ({@link #remote}) and reused while
 * it is unchanged.
 *
 * <p>One per {@link ConnectorRuntime}. What it keeps for an application (the staging directory,
 * the broadcast configuration) is dropped, and the directory deleted, when the application ends;
 * the runtime's close does the same for every application.
 */
public final class BundleShipper {
  private static final Logger LOG = LoggerFactory.getLogger(BundleShipper.class);
  /** What this driver keeps per application id; guarded by {@code this}. */
  private final Map<String, Application> applications = new HashMap<>();
  private boolean closed;

  /** One application's staging directory and its last broadcast Hadoop configuration. */
  private static final class Application {
    Path staging;
    String confDigest;
    Broadcast<byte[]> conf;
  }

  BundleShipper() {
  }

  /**
   * Where executors find a shipped archive: its name for {@code SparkFiles.get}, and the URI the
   * driver serves it under (for sessions whose tasks do not see files added to the context).
   */
  public record Shipped(String fileName, String uri) {
  }

  /** Ships the archive unless this application already has it. */
  public synchronized Shipped ship(SparkContext sc, Path archive, String bundleName,
      String digest) {
    String fileName = BundleFiles.shippedFileName(bundleName, digest);
    String uri = shippedUri(sc, fileName);
    if (uri != null) {
      return new Shipped(fileName, uri);
    }
    Path staged = stage(sc, archive, bundleName, digest);
    sc.addFile(staged.toUri().toString());
    LOG.info("shipping bundle archive {} to executors as {}", archive, fileName);
    uri = shippedUri(sc, fileName);
    return new Shipped(fileName, uri == null ? staged.toUri().toString() : uri);
  }

  /**
   * Links (or copies) the archive into this application's staging directory under its shipped
   * name, without adding it to Spark; returns the staged file. A staged file not yet shipped that
   * is not the archive's current inode (the file was replaced since) is linked again. Called
   * before the driver reads the archive ({@link VerifiedArchives}): creating a link changes the
   * file's ctime, which must happen before the ctime is recorded, not after.
   */
  public synchronized Path stage(SparkContext sc, Path archive, String bundleName,
      String digest) {
    String fileName = BundleFiles.shippedFileName(bundleName, digest);
    Path staged = stagingDir(application(sc)).resolve(fileName);
    try {
      if (Files.exists(staged)) {
        if (shippedUri(sc, fileName) == null && !Files.isSameFile(staged, archive)) {
          relink(staged, archive); // a link to a file replaced since, or a copy: keep a copy
        }
        return staged;
      }
      try {
        Files.createLink(staged, archive.toAbsolutePath());
      } catch (IOException | UnsupportedOperationException | SecurityException e) {
        Files.copy(archive, staged, StandardCopyOption.REPLACE_EXISTING);
        PrivateFiles.restrict(staged, false);
      }
    } catch (FileAlreadyExistsException e) {
      // Another call staged it first: same digest, same bytes.
    } catch (IOException e) {
      throw new UncheckedIOException("cannot stage bundle archive " + archive + " for Spark", e);
    }
    return staged;
  }

  /** Replaces {@code staged} by a fresh link to {@code archive} where links work. */
  private static void relink(Path staged, Path archive) throws IOException {
    Path fresh = staged.resolveSibling(staged.getFileName() + ".link-"
        + java.util.UUID.randomUUID());
    try {
      Files.createLink(fresh, archive.toAbsolutePath());
      Files.move(fresh, staged, StandardCopyOption.REPLACE_EXISTING,
          StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException | UnsupportedOperationException | SecurityException e) {
      LOG.debug("keeping staged {}: cannot link {} ({})", staged, archive, e.toString());
    } finally {
      Files.deleteIfExists(fresh);
    }
  }

  /** The URI under which the context serves {@code fileName}, or null when it was never added. */
  private static String shippedUri(SparkContext sc, String fileName) {
    scala.collection.Iterator<?> files = listFiles(sc).iterator();
    while (files.hasNext()) {
      String f = (String) files.next();
      if (f.endsWith("/" + fileName)) {
        return f;
      }
    }
    return null;
  }

  /**
   * {@code sc.listFiles()}, called by name: it returns {@code scala.collection.Seq} on Scala 2.12
   * and {@code scala.collection.immutable.Seq} on 2.13, so a compiled call links on one of them
   * only, and neither the Java API nor {@code SparkFiles} lists the added files.
   */
  private static scala.collection.Iterable<?> listFiles(SparkContext sc) {
    try {
      return (scala.collection.Iterable<?>) SparkContext.class.getMethod("listFiles").invoke(sc);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("cannot list the files added to Spark (SparkContext"
          + ".listFiles) on Spark " + sc.version() + ": " + e, e);
    }
  }

  /**
   * The executors' way to an archive at {@code uri}: the URI and a broadcast of the
   * application's Hadoop configuration, broadcast again only when the configuration changed
   * (the previous broadcast is then Spark's to clean once no plan refers to it).
   */
  public synchronized RemoteArchives.Source remote(SparkContext sc, String uri) {
    byte[] conf = RemoteArchives.serialize(sc.hadoopConfiguration());
    String digest = Digests.sha256Hex(conf);
    Application app = application(sc);
    if (app.conf == null || !digest.equals(app.confDigest)) {
      app.conf = JavaSparkContext.fromSparkContext(sc).broadcast(conf);
      app.confDigest = digest;
    }
    return new RemoteArchives.Source(uri, app.conf);
  }

  /** What this driver keeps for {@code sc}'s application, forgotten when it ends. */
  private Application application(SparkContext sc) {
    if (closed) {
      throw new IllegalStateException("the sidecar connector's runtime in this JVM is closed");
    }
    String id = sc.applicationId();
    Application app = applications.get(id);
    if (app == null) {
      app = new Application();
      applications.put(id, app);
      sc.addSparkListener(new SparkListener() {
        @Override
        public void onApplicationEnd(SparkListenerApplicationEnd end) {
          ended(id);
        }
      });
    }
    return app;
  }

  private static Path stagingDir(Application app) {
    if (app.staging == null) {
      try {
        Path dir = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")),
            "sidecar-ship-", PrivateFiles.dirAttribute());
        PrivateFiles.restrict(dir, true);
        app.staging = dir;
      } catch (IOException e) {
        throw new UncheckedIOException("cannot create a staging directory for bundle archives", e);
      }
    }
    return app.staging;
  }

  private synchronized void ended(String id) {
    forget(applications.remove(id));
  }

  private static void forget(Application app) {
    if (app != null && app.staging != null) {
      FileTrees.deleteQuietly(app.staging);
    }
  }

  /** Deletes every application's staging directory and forgets them; later calls fail. */
  synchronized void close() {
    closed = true;
    applications.values().forEach(BundleShipper::forget);
    applications.clear();
  }
}
