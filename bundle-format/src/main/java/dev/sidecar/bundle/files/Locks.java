package dev.sidecar.bundle.files;

import dev.sidecar.bundle.BundleException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

/**
 * Mutual exclusion across threads and processes: a per-path {@link ReentrantLock} inside this
 * JVM (file locks are per process) plus an exclusive {@link FileLock} on the lock file.
 * Lock files stay in place; they hold no data. The lock directory and file are private (0700,
 * 0600) and, when they already exist, must be this user's and writable by nobody else.
 */
public final class Locks {
  private static final ConcurrentHashMap<Path, ReentrantLock> IN_JVM = new ConcurrentHashMap<>();

  private Locks() {
  }

  public static <T> T withLock(Path lockFile, Supplier<T> action) {
    Path key = lockFile.toAbsolutePath().normalize();
    ReentrantLock local = IN_JVM.computeIfAbsent(key, k -> new ReentrantLock());
    local.lock();
    try {
      PrivateFiles.directory(key.getParent());
      try {
        PrivateFiles.newFile(key).close();
      } catch (FileAlreadyExistsException e) {
        PrivateFiles.checkOwned(key, false);
      }
      try (FileChannel ch = FileChannel.open(key, StandardOpenOption.WRITE,
          LinkOption.NOFOLLOW_LINKS)) {
        FileLock lock = ch.lock();
        try {
          return action.get();
        } finally {
          lock.release();
        }
      }
    } catch (IOException e) {
      throw new BundleException("cannot lock " + key + ": " + e.getMessage(), e);
    } finally {
      local.unlock();
    }
  }
}
