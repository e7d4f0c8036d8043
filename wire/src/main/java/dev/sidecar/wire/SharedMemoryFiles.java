package dev.sidecar.wire;

import dev.sidecar.bundle.files.PrivateFiles;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.stream.Stream;

/**
 * POSIX shared memory as files under {@code /dev/shm} (what {@code shm_open} uses on Linux):
 * a Triton region key {@code /name} is the file {@code /dev/shm/name}. Creates regions 0600
 * under unguessable names, maps them, and unmaps them at once (not when the garbage collector
 * gets to the buffer) through the JDK's {@code sun.misc.Unsafe.invokeCleaner}.
 */
public final class SharedMemoryFiles {
  /** Where POSIX shared-memory objects live on Linux. */
  public static final Path ROOT = Path.of("/dev/shm");
  /** The name prefix of the regions the connector creates: {@code sidecar-<uid>-<pid>-<random>}. */
  public static final String PREFIX = "sidecar-";
  private static final SecureRandom RANDOM = new SecureRandom();
  private static final Object UNSAFE;
  private static final Method INVOKE_CLEANER;

  static {
    Object unsafe = null;
    Method clean = null;
    try {
      Class<?> c = Class.forName("sun.misc.Unsafe");
      Field f = c.getDeclaredField("theUnsafe");
      f.setAccessible(true);
      unsafe = f.get(null);
      clean = c.getMethod("invokeCleaner", java.nio.ByteBuffer.class);
    } catch (ReflectiveOperationException | RuntimeException e) {
      unsafe = null;
      clean = null;
    }
    UNSAFE = unsafe;
    INVOKE_CLEANER = clean;
  }

  private SharedMemoryFiles() {
  }

  /** Whether this machine has POSIX shared memory as files and mappings can be released. */
  public static boolean available() {
    return INVOKE_CLEANER != null && Files.isDirectory(ROOT) && Files.isWritable(ROOT);
  }

  /**
   * The file of a region key: {@code /name} (or {@code name}) is {@code /dev/shm/name}; a key
   * naming anything else ({@code ..}, a further slash, empty) is refused.
   */
  public static Path fileOf(String key) {
    String name = key.startsWith("/") ? key.substring(1) : key;
    if (name.isEmpty() || name.contains("/") || name.equals(".") || name.equals("..")
        || name.indexOf('\0') >= 0) {
      throw new IllegalArgumentException("'" + key + "' is not a shared-memory key (expected "
          + "/name)");
    }
    return ROOT.resolve(name);
  }

  /** The current user's uid (for the names this user's regions carry). */
  public static int uid() throws IOException {
    return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
  }

  /**
   * Creates a new region of {@code bytes} bytes, 0600, named {@code sidecar-<uid>-<pid>-<128
   * random bits>}; returns its key ({@code /name}).
   */
  public static String create(long bytes) throws IOException {
    String name = PREFIX + uid() + "-" + ProcessHandle.current().pid() + "-"
        + HexFormat.of().formatHex(randomBytes());
    Path file = ROOT.resolve(name);
    try (FileChannel ch = FileChannel.open(file, Set0600.OPTIONS, PrivateFiles.fileAttribute())) {
      if (bytes > 0) {
        ch.write(java.nio.ByteBuffer.wrap(new byte[1]), bytes - 1);
      }
    } catch (FileAlreadyExistsException e) {
      throw new IOException("shared-memory name collision on " + file, e);
    }
    return "/" + name;
  }

  private static byte[] randomBytes() {
    byte[] b = new byte[16];
    RANDOM.nextBytes(b);
    return b;
  }

  private static final class Set0600 {
    static final java.util.Set<StandardOpenOption> OPTIONS = java.util.Set.of(
        StandardOpenOption.CREATE_NEW, StandardOpenOption.READ, StandardOpenOption.WRITE);
  }

  /**
   * Maps {@code [offset, offset + bytes)} of the region {@code key} read-write, in native byte
   * order. The file must be a regular file (not a link).
   */
  public static MappedByteBuffer map(String key, long offset, long bytes) throws IOException {
    Path file = fileOf(key);
    if (bytes > Integer.MAX_VALUE) {
      throw new IOException("a region of " + bytes + " bytes is larger than one mapping can be "
          + "(" + Integer.MAX_VALUE + ")");
    }
    PosixFileAttributes a = Files.readAttributes(file, PosixFileAttributes.class,
        LinkOption.NOFOLLOW_LINKS);
    if (!a.isRegularFile()) {
      throw new IOException(file + " is not a regular file");
    }
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ,
        StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS)) {
      long size = ch.size();
      if (offset > size || bytes > size - offset) {
        throw new RegionRangeException("shared-memory region " + key + " holds " + size
            + " bytes; offset " + offset + " + byte size " + bytes + " is past its end");
      }
      MappedByteBuffer m = ch.map(FileChannel.MapMode.READ_WRITE, offset, bytes);
      m.order(ByteOrder.nativeOrder());
      return m;
    }
  }

  /** A mapping asked for bytes past the end of the region's file. */
  public static final class RegionRangeException extends IOException {
    private static final long serialVersionUID = 1L;

    RegionRangeException(String message) {
      super(message);
    }
  }

  /** Unmaps {@code buffer} now; it must not be touched again (nor any view of it). */
  public static void unmap(MappedByteBuffer buffer) {
    if (buffer == null || INVOKE_CLEANER == null) {
      return;
    }
    try {
      INVOKE_CLEANER.invoke(UNSAFE, buffer);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("cannot unmap a shared-memory buffer", e);
    }
  }

  /** Deletes the region's file (mappings of it stay valid until unmapped); quiet if gone. */
  public static void unlink(String key) {
    try {
      Files.deleteIfExists(fileOf(key));
    } catch (IOException | RuntimeException e) {
      // Nothing to do: a region left behind is swept by the next start of its user.
    }
  }

  /**
   * Deletes this user's regions ({@code sidecar-<uid>-<pid>-*}) whose process is no longer
   * running: what a crash left between creating a region and unlinking it.
   */
  public static int sweep() {
    if (!Files.isDirectory(ROOT)) {
      return 0;
    }
    int n = 0;
    try (Stream<Path> files = Files.list(ROOT)) {
      String mine = PREFIX + uid() + "-";
      for (Path f : files.toList()) {
        String name = f.getFileName().toString();
        if (!name.startsWith(mine)) {
          continue;
        }
        String rest = name.substring(mine.length());
        int dash = rest.indexOf('-');
        if (dash <= 0) {
          continue;
        }
        long pid;
        try {
          pid = Long.parseLong(rest.substring(0, dash));
        } catch (NumberFormatException e) {
          continue;
        }
        if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
          continue;
        }
        if (Files.deleteIfExists(f)) {
          n++;
        }
      }
    } catch (IOException | RuntimeException e) {
      return n;
    }
    return n;
  }
}
