package dev.sidecar.spark.internal;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.bundle.files.PrivateFiles;
import dev.sidecar.proto.inference.GRPCInferenceServiceGrpc;
import dev.sidecar.server.SidecarMain;
import dev.sidecar.wire.ReadyLine;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.CodeSource;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.jar.JarFile;
import java.util.jar.Manifest;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.spi.SLF4JServiceProvider;

/**
 * The class path a sidecar JVM starts with: what the server needs, not the executor's whole
 * class path. An executor's class path holds Spark, Scala and Hadoop, hundreds of jars the
 * sidecar never uses; opening and scanning them (service loaders read every jar) cost a sidecar
 * about 0.6 s of its start on a two-core machine.
 *
 * <p>The build lists the connector's runtime dependencies (server, gRPC, Netty, protobuf, ONNX
 * Runtime, the archive libraries) by file name in {@value #LIST}. From the executor's class
 * path, manifest {@code Class-Path}s followed (surefire's booter jar and the CLI's launcher jar
 * have one), this keeps the jars on that list, every directory (configuration, classes), and
 * the jar of each class the server cannot start without, wherever it was loaded from (in the
 * shaded connector jar, all of them are that jar; SLF4J's API comes from Spark). Logging goes
 * through the server's stderr logger ({@link SidecarMain#loggerProvider()}), named by a
 * services file in a directory of the sidecar's own ({@link #loggingDir}), not through the
 * executor's logging backend, whose start alone cost a third of a second. Without the list,
 * the whole class path is used. One per {@link ConnectorRuntime}, which keeps the class path
 * once computed.
 */
final class SidecarClassPath {
  private static final Logger LOG = LoggerFactory.getLogger(SidecarClassPath.class);
  static final String LIST = "sidecar-runtime.classpath";

  private volatile String cached;

  SidecarClassPath() {
  }

  /** The sidecar's class path (computed once per runtime). */
  String get() {
    String cp = cached;
    if (cp == null) {
      cp = String.join(File.pathSeparator, compute(listed(), classPathEntries(), anchors()));
      cached = cp;
    }
    return cp;
  }

  /** Forgets the class path; the next {@link #get()} computes it again. */
  void clear() {
    cached = null;
  }

  /**
   * @param listed jar file names the sidecar needs, or null to keep everything
   * @param entries the executor's class path, manifests followed
   * @param anchors where the classes the server cannot start without were loaded from
   */
  static List<String> compute(Set<String> listed, List<Path> entries, List<Path> anchors) {
    Set<String> out = new LinkedHashSet<>();
    for (Path a : anchors) {
      out.add(a.toString());
    }
    int dropped = 0;
    for (Path e : entries) {
      String name = e.getFileName() == null ? "" : e.getFileName().toString();
      if (listed == null || Files.isDirectory(e) || listed.contains(name)) {
        out.add(e.toString());
      } else {
        dropped++;
      }
    }
    LOG.debug("sidecar class path: {} entries kept, {} left out", out.size(), dropped);
    return new ArrayList<>(out);
  }

  /**
   * Writes, under {@code scratch}, a private (0700 directories, 0600 file) class path directory
   * whose services file makes SLF4J in the sidecar use {@link SidecarMain#loggerProvider()}; put it
   * before {@link #get()}.
   */
  static Path loggingDir(Path scratch) throws IOException {
    Path dir = scratch.resolve("sidecar-logging");
    Path services = PrivateFiles.directory(dir.resolve("META-INF/services"));
    PrivateFiles.write(services.resolve(SLF4JServiceProvider.class.getName()),
        (SidecarMain.loggerProvider() + "\n").getBytes(StandardCharsets.UTF_8));
    return dir;
  }

  /** The build's list of runtime jar names, or null when this jar carries none. */
  static Set<String> listed() {
    try (InputStream in = SidecarClassPath.class.getResourceAsStream(LIST)) {
      if (in == null) {
        LOG.debug("no {} beside the connector: the sidecar gets the whole class path", LIST);
        return null;
      }
      Set<String> names = new HashSet<>();
      for (String e : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("[,\\s]+")) {
        String name = e.substring(e.lastIndexOf('/') + 1);
        if (name.endsWith(".jar")) {
          names.add(name);
        }
      }
      return names;
    } catch (IOException e) {
      LOG.debug("cannot read {}: the sidecar gets the whole class path", LIST, e);
      return null;
    }
  }

  /** This JVM's class path, each jar followed by the entries of its manifest Class-Path. */
  static List<Path> classPathEntries() {
    Set<Path> out = new LinkedHashSet<>();
    for (String p : System.getProperty("java.class.path", "").split(File.pathSeparator)) {
      if (!p.isEmpty()) {
        add(Path.of(p).toAbsolutePath().normalize(), out);
      }
    }
    return new ArrayList<>(out);
  }

  private static void add(Path entry, Set<Path> out) {
    if (!out.add(entry) || !entry.toString().endsWith(".jar") || !Files.isRegularFile(entry)) {
      return;
    }
    String cp;
    try (JarFile jar = new JarFile(entry.toFile())) {
      Manifest m = jar.getManifest();
      cp = m == null ? null : m.getMainAttributes().getValue("Class-Path");
    } catch (IOException e) {
      return;
    }
    if (cp == null || cp.isBlank()) {
      return;
    }
    URI base = entry.getParent().toUri();
    for (String u : cp.trim().split("\\s+")) {
      try {
        add(Path.of(base.resolve(u)).toAbsolutePath().normalize(), out);
      } catch (IllegalArgumentException | java.nio.file.FileSystemNotFoundException e) {
        LOG.debug("skipping Class-Path entry {} of {}", u, entry, e);
      }
    }
  }

  /** The jars or directories the server's own classes and its essential libraries came from. */
  static List<Path> anchors() {
    List<Class<?>> classes = List.of(SidecarMain.class, Bundle.class, ReadyLine.class,
        GRPCInferenceServiceGrpc.class, io.grpc.ServerBuilder.class,
        io.grpc.netty.NettyServerBuilder.class, io.netty.channel.epoll.Epoll.class,
        com.google.protobuf.Message.class, ai.onnxruntime.OrtEnvironment.class,
        org.apache.commons.compress.archivers.tar.TarArchiveInputStream.class,
        LoggerFactory.class);
    Set<Path> out = new LinkedHashSet<>();
    for (Class<?> c : classes) {
      CodeSource source = c.getProtectionDomain().getCodeSource();
      if (source == null || source.getLocation() == null) {
        continue;
      }
      try {
        out.add(Path.of(source.getLocation().toURI()).toAbsolutePath().normalize());
      } catch (URISyntaxException | IllegalArgumentException e) {
        LOG.debug("cannot turn {} into a path", source.getLocation(), e);
      }
    }
    return new ArrayList<>(out);
  }
}
