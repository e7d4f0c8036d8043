package dev.sidecar.cli;

import dev.sidecar.bundle.files.FileTrees;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * The output directory of {@code sidecar run}, written all or nothing: Spark writes into a
 * fresh hidden sibling ({@code .NAME.sidecar-run-XXXXXXXX}), which is renamed to the output
 * only once the job has succeeded. A failed or interrupted run leaves nothing behind: neither
 * the sibling nor the parent directories it created. An existing output is refused unless
 * {@code overwrite}, and even then replaced only by a successful run.
 */
final class StagedOutput implements AutoCloseable {
  private final Path output;
  private final boolean overwrite;
  private final Path staging;
  /** The topmost parent directory this run created, or null. */
  private final Path createdParent;
  private final Thread onInterrupt;
  private boolean committed;

  private StagedOutput(Path output, boolean overwrite, Path staging, Path createdParent) {
    this.output = output;
    this.overwrite = overwrite;
    this.staging = staging;
    this.createdParent = createdParent;
    this.onInterrupt = new Thread(this::discard, "sidecar-run-cleanup");
    Runtime.getRuntime().addShutdownHook(onInterrupt);
  }

  /** Checks {@code output} and creates the staging directory beside it. */
  static StagedOutput create(Path output, boolean overwrite) {
    Path abs = output.toAbsolutePath().normalize();
    if (Files.exists(abs, LinkOption.NOFOLLOW_LINKS) && !overwrite) {
      throw new IllegalArgumentException(output + " already exists; pass --overwrite to replace"
          + " it");
    }
    Path parent = abs.getParent();
    Path created = null;
    for (Path p = parent; p != null && !Files.exists(p); p = p.getParent()) {
      created = p;
    }
    Path staging = FileTrees.tempSibling(abs, "sidecar-run");
    try {
      Files.createDirectories(parent);
      Files.createDirectory(staging);
    } catch (IOException e) {
      deleteEmptyParents(parent, created);
      throw new IllegalArgumentException("cannot write the output " + output
          + ": cannot create a directory in " + parent + " (" + reason(e) + ")", e);
    }
    return new StagedOutput(abs, overwrite, staging, created);
  }

  /** Where Spark writes. */
  Path staging() {
    return staging;
  }

  /** Makes the staged directory the output, replacing an existing output if allowed. */
  synchronized void commit() throws IOException {
    if (Files.exists(output, LinkOption.NOFOLLOW_LINKS)) {
      if (!overwrite) {
        throw new IllegalArgumentException(output + " appeared while the job ran; the result"
            + " is not written (pass --overwrite to replace it)");
      }
      Path old = FileTrees.tempSibling(output, "sidecar-old");
      FileTrees.moveAtomic(output, old, false);
      FileTrees.moveAtomic(staging, output, false);
      FileTrees.deleteRecursively(old);
    } else {
      FileTrees.moveAtomic(staging, output, false);
    }
    committed = true;
  }

  /** Deletes what this run created, unless it was committed. */
  @Override
  public void close() {
    discard();
    try {
      Runtime.getRuntime().removeShutdownHook(onInterrupt);
    } catch (IllegalStateException e) {
      // The JVM is exiting: the hook runs (or ran) discard() itself.
    }
  }

  private synchronized void discard() {
    if (!committed) {
      FileTrees.deleteQuietly(staging);
      deleteEmptyParents(staging.getParent(), createdParent);
    }
  }

  /** Deletes {@code dir} and its parents up to {@code top} while they are empty. */
  private static void deleteEmptyParents(Path dir, Path top) {
    if (top == null) {
      return;
    }
    for (Path p = dir; p != null && p.startsWith(top); p = p.getParent()) {
      try {
        Files.deleteIfExists(p);
      } catch (IOException e) {
        return; // not empty (or not ours to delete): stop here
      }
    }
  }

  private static String reason(IOException e) {
    if (e instanceof AccessDeniedException) {
      return "permission denied";
    }
    if (e instanceof NoSuchFileException) {
      return "no such file or directory";
    }
    if (e instanceof FileAlreadyExistsException f) {
      return f.getFile() + " is not a directory";
    }
    if (e instanceof FileSystemException f && f.getReason() != null) {
      return f.getReason();
    }
    return e instanceof FileSystemException ? e.getClass().getSimpleName() : e.toString();
  }
}
