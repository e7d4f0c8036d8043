package dev.sidecar.bundle.files;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.UUID;

/** Deleting trees without following links, temporary siblings and atomic renames. */
public final class FileTrees {
  private FileTrees() {
  }

  /** A fresh, not yet existing path beside {@code target}: {@code .<name>.<tag>-<random>}. */
  public static Path tempSibling(Path target, String tag) {
    Path abs = target.toAbsolutePath().normalize();
    Path parent = abs.getParent();
    String name = abs.getFileName().toString();
    return parent.resolve("." + name + "." + tag + "-" + UUID.randomUUID().toString()
        .substring(0, 8));
  }

  /** Deletes a file or a directory tree; symbolic links are removed, never followed. */
  public static void deleteRecursively(Path root) {
    if (root == null || !Files.exists(root, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    try {
      Files.walkFileTree(root, new SimpleFileVisitor<>() {
        @Override
        public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
          Files.deleteIfExists(file);
          return FileVisitResult.CONTINUE;
        }

        @Override
        public FileVisitResult visitFileFailed(Path file, IOException exc) throws IOException {
          if (exc instanceof NoSuchFileException) {
            return FileVisitResult.CONTINUE;
          }
          throw exc;
        }

        @Override
        public FileVisitResult postVisitDirectory(Path dir, IOException exc) throws IOException {
          Files.deleteIfExists(dir);
          return FileVisitResult.CONTINUE;
        }
      });
    } catch (NoSuchFileException e) {
      // gone already
    } catch (IOException e) {
      throw new UncheckedIOException("cannot delete " + root + ": " + e.getMessage(), e);
    }
  }

  /** Quietly deletes, for cleanup paths that must not hide the original error. */
  public static void deleteQuietly(Path root) {
    try {
      deleteRecursively(root);
    } catch (RuntimeException ignored) {
      // best effort
    }
  }

  /** Renames atomically; {@code replace} decides whether an existing target file is replaced. */
  public static void moveAtomic(Path from, Path to, boolean replace) throws IOException {
    try {
      if (replace) {
        Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } else {
        Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
      }
    } catch (AtomicMoveNotSupportedException e) {
      throw new IOException("cannot rename " + from + " to " + to
          + " atomically (different file systems?)", e);
    }
  }
}
