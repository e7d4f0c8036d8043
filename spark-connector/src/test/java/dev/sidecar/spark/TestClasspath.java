package dev.sidecar.spark;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarFile;
import java.util.jar.Manifest;

/** The test JVM's class path as a list of entries, for launching executors and child JVMs. */
public final class TestClasspath {
  private TestClasspath() {
  }

  /** Every entry, following a manifest-only booter jar's Class-Path when there is one. */
  public static List<Path> entries() {
    String cp = System.getProperty("surefire.test.class.path");
    if (cp == null || cp.isBlank()) {
      cp = System.getProperty("java.class.path");
    }
    List<Path> out = new ArrayList<>();
    for (String e : cp.split(File.pathSeparator)) {
      if (e.isBlank()) {
        continue;
      }
      Path p = Path.of(e).toAbsolutePath();
      out.add(p);
      out.addAll(manifestClassPath(p));
    }
    return out;
  }

  /**
   * Libraries the shaded jar carries (relocated) that Spark does not bring, and the test's own:
   * kept out of {@link #sparkJars()}.
   */
  private static final List<String> NOT_SPARK = List.of("/dev/sidecar/", "/io/grpc/",
      "/io/perfmark/", "/com/google/api/grpc/", "/com/microsoft/onnxruntime/",
      "/com/google/protobuf/protobuf-java-util/", "/org/junit/", "/org/opentest4j/",
      "/org/apiguardian/");

  /**
   * The class path's jars that a Spark installation has (Spark, Scala, Hadoop and their
   * libraries): not the connector's own libraries, the reactor's sidecar jars or the test
   * framework's, so that the shaded connector jar is the only source of the sidecar's classes.
   */
  public static List<Path> sparkJars() {
    List<Path> out = new ArrayList<>();
    for (Path p : entries()) {
      String s = p.toString();
      String name = p.getFileName().toString();
      if (s.endsWith(".jar") && !name.startsWith("surefire") && !name.startsWith("sidecar-")
          && NOT_SPARK.stream().noneMatch(s::contains)) {
        out.add(p);
      }
    }
    return out;
  }

  private static List<Path> manifestClassPath(Path jar) {
    List<Path> out = new ArrayList<>();
    if (!jar.getFileName().toString().startsWith("surefirebooter")) {
      return out;
    }
    try (JarFile f = new JarFile(jar.toFile())) {
      Manifest m = f.getManifest();
      String cp = m == null ? null : m.getMainAttributes().getValue("Class-Path");
      if (cp != null) {
        for (String u : cp.trim().split("\\s+")) {
          out.add(Path.of(java.net.URI.create(u)));
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out;
  }

  /**
   * A fake SPARK_HOME whose {@code jars/} links every jar of the test class path, as Spark's
   * launcher builds an executor's class path from it. Directories are returned for
   * {@code spark.executor.extraClassPath}.
   */
  public static List<Path> prepareSparkHome(Path sparkHome) {
    List<Path> dirs = new ArrayList<>();
    try {
      Path jars = Files.createDirectories(sparkHome.resolve("jars"));
      // Start empty: links left by an earlier build (another Spark version) would join the
      // executors' class path.
      try (var old = Files.list(jars)) {
        for (Path p : old.toList()) {
          Files.delete(p);
        }
      }
      for (Path e : entries()) {
        if (Files.isDirectory(e)) {
          dirs.add(e);
        } else if (e.toString().endsWith(".jar") && !e.getFileName().toString().startsWith("surefire")) {
          Path link = jars.resolve(e.getFileName());
          if (!Files.exists(link, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            Files.createSymbolicLink(link, e);
          }
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return dirs;
  }
}
