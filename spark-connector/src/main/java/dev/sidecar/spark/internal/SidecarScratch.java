package dev.sidecar.spark.internal;

import dev.sidecar.bundle.files.Digests;
import dev.sidecar.bundle.files.FileTrees;
import dev.sidecar.bundle.files.PrivateFiles;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The files a sidecar process needs besides its bundle, kept in the {@linkplain SidecarCache
 * cache} where they are private and cleaned up:
 *
 * <ul>
 *   <li>a scratch directory per sidecar, its {@code java.io.tmpdir}, deleted when the sidecar
 *       exits (and, if its executor died first, by the next executor of this cache that starts
 *       a sidecar). It holds the sidecar's logging set-up and its Unix socket. ONNX Runtime
 *       unpacks its native libraries into the temporary directory when not told where they are,
 *       and a JVM ended by a signal never deletes them: without this, every sidecar start would
 *       leave about 22 MB in {@code /tmp}.
 *   <li>ONNX Runtime's native libraries, unpacked once per cache and handed to each sidecar as
 *       {@code onnxruntime.native.path}, so no start unpacks them again. A sidecar loads them,
 *       so they are never taken on trust: the directory is named after the SHA-256 of the
 *       class path's libraries (read once per runtime), and a copy is used only when it is the
 *       user's own, writable by nobody else, and byte for byte those libraries. Anything else
 *       found there is moved aside and unpacked again.
 * </ul>
 *
 * <p>One per {@link ConnectorRuntime}: it knows the scratch directories of its sidecars that
 * still exist, and its close deletes them (a sidecar's exit normally has).
 */
final class SidecarScratch {
  private static final Logger LOG = LoggerFactory.getLogger(SidecarScratch.class);
  /** Longest Unix socket path the kernel accepts (sun_path is 108 bytes with the NUL). */
  static final int MAX_SOCKET_PATH_BYTES = 107;
  /** The verified native library directory of each cache root this runtime has used. */
  private final Map<Path, Path> nativeDirs = new ConcurrentHashMap<>();
  /** Scratch directories (and out-of-cache socket directories) not deleted yet. */
  private final Set<Path> live = ConcurrentHashMap.newKeySet();
  private NativeLibs classPathLibs;
  private boolean classPathLibsRead;

  SidecarScratch() {
  }

  /** A new scratch directory (0700) for sidecar {@code n} of this JVM; stale ones go first. */
  Path create(long selfPid, int n) {
    Path root = SidecarCache.root().resolve("sidecar-scratch");
    try {
      PrivateFiles.directory(root);
      sweep(root);
      Path dir = root.resolve(selfPid + "-" + n);
      FileTrees.deleteRecursively(dir);
      live.add(dir);
      return PrivateFiles.directory(dir);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create a private scratch directory under " + root
          + ": " + e.getMessage(), e);
    }
  }

  /**
   * Where the sidecar with this scratch directory listens: {@code sidecar.sock} in it, or, when
   * that path is too long for a Unix socket (deep Spark local directories), in a new 0700
   * directory under {@code /tmp}; {@link #release} deletes its parent with the scratch directory.
   */
  Path socket(Path scratch) throws IOException {
    Path socket = scratch.resolve("sidecar.sock");
    if (socket.toString().getBytes(StandardCharsets.UTF_8).length <= MAX_SOCKET_PATH_BYTES) {
      return socket;
    }
    Path dir = Files.createTempDirectory(Path.of("/tmp"), "sidecar-", PrivateFiles.dirAttribute());
    live.add(dir);
    PrivateFiles.restrict(dir, true);
    return dir.resolve("sidecar.sock");
  }

  /** Deletes a sidecar's directories ({@link #create}, {@link #socket}): it has exited. */
  void release(List<Path> dirs) {
    for (Path d : dirs) {
      FileTrees.deleteQuietly(d);
      live.remove(d);
    }
  }

  /**
   * Deletes the directories of this runtime's sidecars still there and forgets the verified
   * native libraries; called once the sidecars are stopped.
   */
  void close() {
    release(List.copyOf(live));
    synchronized (this) {
      nativeDirs.clear();
      classPathLibs = null;
      classPathLibsRead = false;
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
        FileTrees.deleteQuietly(d);
      }
    }
  }

  /**
   * The verified directory holding ONNX Runtime's native libraries for this platform in the
   * cache; null when the class path has none for it or they cannot be unpacked (the sidecar then
   * lets ONNX Runtime unpack them itself, into its scratch directory).
   */
  synchronized Path onnxRuntimeNativeDir() {
    Path root = SidecarCache.root();
    Path known = nativeDirs.get(root);
    if (known != null) {
      try {
        // Checked byte for byte when first used; since then only this user could change it.
        PrivateFiles.checkOwnedTree(known);
        return known;
      } catch (IOException e) {
        nativeDirs.remove(root);
      }
    }
    try {
      NativeLibs libs = classPathLibs();
      if (libs == null) {
        return null;
      }
      Path dir = unpackNative(libs, root);
      nativeDirs.put(root, dir);
      return dir;
    } catch (IOException | RuntimeException e) {
      LOG.warn("cannot unpack ONNX Runtime's native libraries once for all sidecars ({});"
          + " each sidecar will unpack its own", e.toString());
      return null;
    }
  }

  /** The verified copy of {@code libs} in {@code root}, unpacking it when missing or wrong. */
  private static Path unpackNative(NativeLibs libs, Path root) throws IOException {
    Path parent = PrivateFiles.directory(root.resolve("onnxruntime-native"));
    Path dir = parent.resolve(libs.id());
    if (Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
      String problem = libs.problemWith(dir);
      if (problem == null) {
        return dir;
      }
      LOG.warn("not using {}: {}; unpacking ONNX Runtime's native libraries again", dir, problem);
      Path aside = FileTrees.tempSibling(dir, "untrusted");
      try {
        FileTrees.moveAtomic(dir, aside, false);
      } catch (IOException e) {
        // Another executor of this user moved it first.
        LOG.debug("cannot move {} aside", dir, e);
      }
      FileTrees.deleteQuietly(aside);
    }
    Path tmp = PrivateFiles.tempDirectory(parent, ".unpack-");
    try {
      libs.copyInto(tmp);
      try {
        FileTrees.moveAtomic(tmp, dir, false);
      } catch (IOException e) {
        // Another executor of this user unpacked them first: theirs, once checked, will do.
        String problem = libs.problemWith(dir);
        if (problem != null) {
          throw new IOException("cannot move " + tmp + " to " + dir + " (" + e.getMessage()
              + "), and what is there cannot be used: " + problem, e);
        }
      }
    } finally {
      FileTrees.deleteQuietly(tmp);
    }
    return dir;
  }

  /** This platform's libraries on the class path, hashed once per runtime; null if none. */
  private synchronized NativeLibs classPathLibs() throws IOException {
    if (!classPathLibsRead) {
      classPathLibs = NativeLibs.read(SidecarScratch.class.getClassLoader(), platform());
      classPathLibsRead = true;
    }
    return classPathLibs;
  }

  /**
   * ONNX Runtime's native libraries for one platform, as class path resources with the SHA-256
   * of each.
   */
  record NativeLibs(List<String> names, List<URL> urls, List<String> sha256) {
    /** The libraries of {@code platform} on {@code loader}'s class path; null if it has none. */
    static NativeLibs read(ClassLoader loader, String platform) throws IOException {
      if (platform == null) {
        return null;
      }
      boolean windows = platform.startsWith("win");
      String ext = windows ? ".dll" : platform.startsWith("osx") ? ".dylib" : ".so";
      String prefix = windows ? "" : "lib";
      List<String> names = List.of(prefix + "onnxruntime" + ext,
          prefix + "onnxruntime4j_jni" + ext);
      List<URL> urls = new ArrayList<>();
      List<String> digests = new ArrayList<>();
      for (String name : names) {
        URL url = loader.getResource("ai/onnxruntime/native/" + platform + "/" + name);
        if (url == null) {
          return null;
        }
        urls.add(url);
        digests.add(copy(url, OutputStream.nullOutputStream()));
      }
      return new NativeLibs(names, List.copyOf(urls), List.copyOf(digests));
    }

    /** 16 hex digits of the SHA-256 over the libraries' names and digests. */
    String id() {
      StringBuilder s = new StringBuilder();
      for (int i = 0; i < names.size(); i++) {
        s.append(names.get(i)).append(' ').append(sha256.get(i)).append('\n');
      }
      return Digests.sha256Hex(s.toString().getBytes(StandardCharsets.UTF_8)).substring(0, 16);
    }

    /** Why the libraries in {@code dir} must not be loaded, or null when they are these. */
    String problemWith(Path dir) {
      try {
        PrivateFiles.checkOwnedTree(dir);
      } catch (IOException | UncheckedIOException e) {
        return e.getMessage();
      }
      for (int i = 0; i < names.size(); i++) {
        Path f = dir.resolve(names.get(i));
        if (!Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS)) {
          return f + " is missing";
        }
        String found = Digests.hashFile(f).sha256();
        if (!found.equals(sha256.get(i))) {
          return f + " has SHA-256 " + found + ", not " + sha256.get(i) + " as on the class path";
        }
      }
      return null;
    }

    /** Writes the libraries into {@code dir} as 0600 files, checking each against its digest. */
    void copyInto(Path dir) throws IOException {
      for (int i = 0; i < names.size(); i++) {
        Path f = Files.createFile(dir.resolve(names.get(i)), PrivateFiles.fileAttribute());
        PrivateFiles.restrict(f, false);
        String written;
        try (OutputStream out = Files.newOutputStream(f, StandardOpenOption.WRITE)) {
          written = copy(urls.get(i), out);
        }
        if (!written.equals(sha256.get(i))) {
          throw new IOException(urls.get(i) + " changed while it was read (SHA-256 " + written
              + ", earlier " + sha256.get(i) + ")");
        }
      }
    }

    /** Copies the resource to {@code out}; returns the SHA-256 hex of what was copied. */
    private static String copy(URL url, OutputStream out) throws IOException {
      MessageDigest md = Digests.sha256();
      try (InputStream in = url.openStream();
          DigestOutputStream digest = new DigestOutputStream(out, md)) {
        in.transferTo(digest);
      }
      return Digests.hex(md.digest());
    }
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
