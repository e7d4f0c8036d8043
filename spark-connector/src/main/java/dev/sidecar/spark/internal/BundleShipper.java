package dev.sidecar.spark.internal;

import dev.sidecar.bundle.files.FileTrees;
import dev.sidecar.bundle.files.PrivateFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.SparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerApplicationEnd;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Driver side of bundle distribution: adds a bundle's archive to Spark's file distribution
 * once per application, under {@code <name>-<digest12>.bundle}, so every executor fetches it at
 * most once however many jobs and {@code runSpark} calls use it. The archive is linked (or
 * copied) into a new 0700 temporary directory that is removed when the application ends or the
 * JVM exits.
 */
public final class BundleShipper {
  private static final Logger LOG = LoggerFactory.getLogger(BundleShipper.class);
  /** Temporary directory per application id. */
  private static final Map<String, Path> STAGING = new ConcurrentHashMap<>();

  private BundleShipper() {
  }

  /**
   * Where executors find a shipped archive: its name for {@code SparkFiles.get}, and the URI the
   * driver serves it under (for sessions whose tasks do not see files added to the context).
   */
  public record Shipped(String fileName, String uri) {
  }

  /** Ships the archive unless this application already has it. */
  public static synchronized Shipped ship(SparkContext sc, Path archive, String bundleName,
      String digest) {
    String fileName = BundleFiles.shippedFileName(bundleName, digest);
    String uri = shippedUri(sc, fileName);
    if (uri != null) {
      return new Shipped(fileName, uri);
    }
    Path staged = stagingDir(sc).resolve(fileName);
    try {
      if (!Files.exists(staged)) {
        try {
          Files.createLink(staged, archive.toAbsolutePath());
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
          Files.copy(archive, staged, StandardCopyOption.REPLACE_EXISTING);
          PrivateFiles.restrict(staged, false);
        }
      }
    } catch (FileAlreadyExistsException e) {
      // Another call staged it first: same digest, same bytes.
    } catch (IOException e) {
      throw new UncheckedIOException("cannot stage bundle archive " + archive + " for Spark", e);
    }
    sc.addFile(staged.toUri().toString());
    LOG.info("shipping bundle archive {} to executors as {}", archive, fileName);
    uri = shippedUri(sc, fileName);
    return new Shipped(fileName, uri == null ? staged.toUri().toString() : uri);
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

  private static Path stagingDir(SparkContext sc) {
    return STAGING.computeIfAbsent(sc.applicationId(), id -> {
      try {
        Path dir = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")),
            "sidecar-ship-", PrivateFiles.dirAttribute());
        PrivateFiles.restrict(dir, true);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> FileTrees.deleteQuietly(dir),
            "sidecar-ship-cleanup"));
        sc.addSparkListener(new SparkListener() {
          @Override
          public void onApplicationEnd(SparkListenerApplicationEnd end) {
            STAGING.remove(id);
            FileTrees.deleteQuietly(dir);
          }
        });
        return dir;
      } catch (IOException e) {
        throw new UncheckedIOException("cannot create a staging directory for bundle archives", e);
      }
    });
  }
}
