package dev.sidecar.spark.internal;

import dev.sidecar.bundle.BundleInfo;
import dev.sidecar.bundle.files.Digests;
import dev.sidecar.bundle.files.FileTrees;
import dev.sidecar.bundle.files.PrivateFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;
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
 * most once however many jobs and {@code runSpark} calls use it. What Spark serves is a private
 * copy of the archive (0600, in a new 0700 temporary directory per application), made once per
 * application and digest and never written again: a staged name refers to the same bytes, those
 * of its digest, for the whole application, whatever happens to the user's file afterwards (an
 * edit in place included; Spark 3.5 fails a task that fetches a file whose bytes changed since
 * the driver added it). For a bundle read from a URI, the application's Hadoop configuration is
 * broadcast once ({@link #remote}) and reused while it is unchanged.
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

  /**
   * A local archive ({@code archive}) as read for {@code runSpark}: its manifest and digest
   * ({@code info}), and the application's private copy of it ({@code file}), whose bytes have
   * that digest.
   */
  public record Staged(BundleInfo info, Path archive, Path file) {
  }

  /**
   * Reads {@code archive} through {@code archives} (hashed at most once, not at all when this
   * JVM verified the same unchanged file) and stages it for {@code sc}'s application under the
   * name of the digest read: the staged copy this application already has for that digest, or
   * a new copy made and verified as the archive is read ({@link VerifiedArchives#inspectCopying}).
   * Nothing is added to Spark yet ({@link #ship}).
   *
   * @param head the archive's manifest and digest as just peeked
   * @throws dev.sidecar.bundle.BundleException naming the archive and what is wrong with it
   */
  public Staged stage(SparkContext sc, Path archive, BundleInfo head, VerifiedArchives archives) {
    Path staged;
    synchronized (this) {
      staged = stagingDir(application(sc)).resolve(
          BundleFiles.shippedFileName(head.manifest().name(), head.digest()));
    }
    String expected = head.digest();
    if (Files.isRegularFile(staged, LinkOption.NOFOLLOW_LINKS)) {
      // Staged earlier with these bytes; the user's file is checked (and hashed if it changed).
      BundleInfo info = archives.inspect(archive, head.digest());
      if (info.digest().equals(head.digest())) {
        return new Staged(info, archive, staged);
      }
      expected = info.digest(); // it changed since the peek: stage the bytes it holds now
    }
    // Copied outside the lock (a large archive takes a while); published under its digest.
    Path copy = staged.resolveSibling("." + staged.getFileName() + "." + UUID.randomUUID());
    try {
      BundleInfo info = archives.inspectCopying(archive, expected, copy);
      Path target = copy.resolveSibling(
          BundleFiles.shippedFileName(info.manifest().name(), info.digest()));
      synchronized (this) {
        if (!Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
          Files.move(copy, target, StandardCopyOption.ATOMIC_MOVE); // same directory
        } // else another call staged the same digest first: same bytes, kept as they are
      }
      return new Staged(info, archive, target);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot stage bundle archive " + archive + " for Spark", e);
    } finally {
      try {
        Files.deleteIfExists(copy);
      } catch (IOException e) {
        LOG.debug("cannot delete {}: {}", copy, e.toString());
      }
    }
  }

  /** Adds the staged archive to Spark unless this application already has it. */
  public synchronized Shipped ship(SparkContext sc, Staged staged) {
    String fileName = staged.file().getFileName().toString();
    String uri = shippedUri(sc, fileName);
    if (uri == null) {
      sc.addFile(staged.file().toUri().toString());
      LOG.info("shipping bundle archive {} to executors as {} (a copy, {})", staged.archive(),
          fileName, staged.file());
      uri = shippedUri(sc, fileName);
    }
    return new Shipped(fileName, uri == null ? staged.file().toUri().toString() : uri);
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
