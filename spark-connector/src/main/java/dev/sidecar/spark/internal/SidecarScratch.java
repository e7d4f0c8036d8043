package dev.sidecar.spark.internal;

import dev.sidecar.bundle.internal.Digests;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URL;
import java.net.URLConnection;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The files a sidecar process needs besides its bundle, kept where they are cleaned up:
 *
 * <ul>
 *   <li>a scratch directory per sidecar, its {@code java.io.tmpdir}, deleted when the sidecar
 *       exits (and, if its executor died first, by the next executor on the machine that starts
 *       a sidecar). ONNX Runtime unpacks its native libraries into the temporary directory and a
 *       JVM ended by a signal never deletes them: without this, every sidecar start would leave
 *       about 22 MB in {@code /tmp}.
 *   <li>ONNX Runtime's native libraries, unpacked once per machine into the sidecar cache and
 *       handed to each sidecar as {@code onnxruntime.native.path}, so no start unpacks them
 *       again.
 * </ul>
 */
final class SidecarScratch {
  private static final Logger LOG = LoggerFactory.getLogger(SidecarScratch.class);
  private static volatile Path nativeDir;
  private static volatile boolean nativeTried;

  private SidecarScratch() {
  }

  /** A new scratch directory for sidecar {@code n} of this JVM; stale ones are removed first. */
  static Path create(long selfPid, int n) {
    Path root = ExecutorBundles.cacheRoot().resolve("sidecar-scratch");
    try {
      Files.createDirectories(root);
      sweep(root);
      Path dir = root.resolve(selfPid + "-" + n);
      BundleShipper.deleteTree(dir);
      return Files.createDirectories(dir);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create a scratch directory under " + root, e);
    }
  }

  /** Deletes the scratch directories whose executor ({@code <pid>-<n>}) is no longer running. */
  private static void sweep(Path root) throws IOException {
    try (Stream<Path> dirs = Files.list(root)) {
      for (Path d : dirs.toList()) {
        String name = d.getFileName().toString();
        int dash = name.indexOf('-');
        long pid;
        try {
          pid = Long.parseLong(dash > 0 ? name.substring(0, dash) : name);
        } catch (NumberFormatException e) {
          continue;
        }
        if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
          continue;
        }
        LOG.info("removing {}: its executor (pid {}) is gone", d, pid);
        BundleShipper.deleteTree(d);
      }
    }
  }

  /**
   * The directory holding ONNX Runtime's native libraries for this platform, unpacked from the
   * class path once per machine; null when they cannot be found (the sidecar then lets ONNX
   * Runtime unpack them itself, into its scratch directory).
   */
  static Path onnxRuntimeNativeDir() {
    if (!nativeTried) {
      synchronized (SidecarScratch.class) {
        if (!nativeTried) {
          try {
            nativeDir = unpackNative();
          } catch (IOException | RuntimeException e) {
            LOG.warn("cannot unpack ONNX Runtime's native libraries once for all sidecars ({});"
                + " each sidecar will unpack its own", e.toString());
          }
          nativeTried = true;
        }
      }
    }
    return nativeDir;
  }

  private static Path unpackNative() throws IOException {
    String platform = platform();
    if (platform == null) {
      return null;
    }
    boolean windows = platform.startsWith("win");
    String ext = windows ? ".dll" : platform.startsWith("osx") ? ".dylib" : ".so";
    String prefix = windows ? "" : "lib";
    String[] names = {prefix + "onnxruntime" + ext, prefix + "onnxruntime4j_jni" + ext};
    ClassLoader loader = SidecarScratch.class.getClassLoader();
    URL[] urls = new URL[names.length];
    StringBuilder identity = new StringBuilder(platform);
    for (int i = 0; i < names.length; i++) {
      urls[i] = loader.getResource("ai/onnxruntime/native/" + platform + "/" + names[i]);
      if (urls[i] == null) {
        return null;
      }
      URLConnection c = urls[i].openConnection();
      identity.append('|').append(urls[i]).append('|').append(c.getContentLengthLong());
    }
    Path root = ExecutorBundles.cacheRoot().resolve("onnxruntime-native");
    Path dir = root.resolve(Digests.sha256Hex(identity.toString().getBytes(StandardCharsets.UTF_8))
        .substring(0, 16));
    if (Files.isRegularFile(dir.resolve(names[1]))) {
      return dir;
    }
    Files.createDirectories(root);
    Path tmp = Files.createTempDirectory(root, ".unpack-");
    try {
      for (int i = 0; i < names.length; i++) {
        try (InputStream in = urls[i].openStream()) {
          Files.copy(in, tmp.resolve(names[i]));
        }
      }
      try {
        Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
      } catch (FileAlreadyExistsException | AtomicMoveNotSupportedException e) {
        // Another executor unpacked the same libraries first: use theirs.
      } catch (IOException e) {
        if (!Files.isRegularFile(dir.resolve(names[1]))) {
          throw e;
        }
      }
    } finally {
      BundleShipper.deleteTree(tmp);
    }
    return dir;
  }

  /** ONNX Runtime's name for this OS and architecture, or null for one it does not ship. */
  private static String platform() {
    String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
    String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
    String o = os.contains("linux") ? "linux" : os.contains("mac") ? "osx"
        : os.contains("win") ? "win" : null;
    String a = arch.equals("amd64") || arch.equals("x86_64") ? "x64"
        : arch.equals("aarch64") || arch.equals("arm64") ? "aarch64" : null;
    return o == null || a == null ? null : o + "-" + a;
  }
}
