package dev.sidecar.bundle.files;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.EnumSet;
import java.util.Set;

/**
 * Files and directories that belong to the current user alone: created with explicit modes
 * (0700 directories, 0600 files; never left to the umask) and, when reused, checked first —
 * a real directory or file (not a link), owned by the current user, writable by nobody else.
 * Anything that fails the check is refused with an {@link IOException} that names the path,
 * its owner and its mode; the caller decides whether to rebuild it elsewhere or stop.
 *
 * <p>On a file system without POSIX attributes (Windows) the checks and modes are skipped.
 */
public final class PrivateFiles {
  private static final Set<PosixFilePermission> DIR_MODE = PosixFilePermissions.fromString("rwx------");
  private static final Set<PosixFilePermission> FILE_MODE = PosixFilePermissions.fromString("rw-------");
  private static final Set<PosixFilePermission> OTHERS_WRITE = Set.of(
      PosixFilePermission.GROUP_WRITE, PosixFilePermission.OTHERS_WRITE);

  private PrivateFiles() {
  }

  /** The permissions of a private directory, as a file attribute for {@code Files.create*}. */
  public static FileAttribute<Set<PosixFilePermission>> dirAttribute() {
    return PosixFilePermissions.asFileAttribute(DIR_MODE);
  }

  /** The permissions of a private file, as a file attribute for {@code Files.create*}. */
  public static FileAttribute<Set<PosixFilePermission>> fileAttribute() {
    return PosixFilePermissions.asFileAttribute(FILE_MODE);
  }

  /**
   * Creates {@code dir} as a 0700 directory, or checks the existing one ({@link #checkOwned}).
   * Missing parents are created 0700 too; existing parents are left as they are (the user's
   * home, {@code /tmp}). Returns {@code dir}.
   */
  public static Path directory(Path dir) throws IOException {
    Path abs = dir.toAbsolutePath().normalize();
    if (!posix(abs)) {
      return Files.createDirectories(abs);
    }
    if (Files.exists(abs, LinkOption.NOFOLLOW_LINKS)) {
      checkOwned(abs, true);
      return abs;
    }
    Path parent = abs.getParent();
    if (parent != null && !Files.exists(parent, LinkOption.NOFOLLOW_LINKS)) {
      directory(parent);
    }
    try {
      Files.createDirectory(abs, dirAttribute());
      // The attribute is masked by the umask; set the mode explicitly.
      Files.setPosixFilePermissions(abs, DIR_MODE);
    } catch (FileAlreadyExistsException e) {
      checkOwned(abs, true);
    }
    return abs;
  }

  /** Creates a new private temporary directory (0700) inside {@code parent}. */
  public static Path tempDirectory(Path parent, String prefix) throws IOException {
    Path p = directory(parent);
    return posix(p) ? Files.createTempDirectory(p, prefix, dirAttribute())
        : Files.createTempDirectory(p, prefix);
  }

  /** Creates a new private temporary file (0600) inside {@code parent}. */
  public static Path tempFile(Path parent, String prefix, String suffix) throws IOException {
    Path p = directory(parent);
    return posix(p) ? Files.createTempFile(p, prefix, suffix, fileAttribute())
        : Files.createTempFile(p, prefix, suffix);
  }

  /** Writes {@code bytes} to a new or existing file and leaves it 0600. */
  public static void write(Path file, byte[] bytes) throws IOException {
    Files.write(file, bytes);
    restrict(file, false);
  }

  /**
   * Creates a new file (it must not exist; a link in its place is not followed) with mode 0600
   * and opens it for writing.
   */
  public static OutputStream newFile(Path file) throws IOException {
    if (!posix(file)) {
      return Files.newOutputStream(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
    }
    OutputStream out = Channels.newOutputStream(Files.newByteChannel(file,
        EnumSet.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE), fileAttribute()));
    try {
      restrict(file, false);
    } catch (IOException e) {
      out.close();
      throw e;
    }
    return out;
  }

  /**
   * True when {@code path} itself (a link is not followed) belongs to the current user. A path
   * that fails {@link #checkOwned} but is ours can be moved aside by us; one that is not ours
   * must be refused.
   */
  public static boolean ownedByCurrentUser(Path path) throws IOException {
    if (!posix(path)) {
      return true;
    }
    return Files.getOwner(path, LinkOption.NOFOLLOW_LINKS).equals(currentUser(path));
  }

  /** Sets 0700 (directories) or 0600 (files) on a path the caller created. */
  public static void restrict(Path path, boolean directory) throws IOException {
    if (posix(path)) {
      Files.setPosixFilePermissions(path, directory ? DIR_MODE : FILE_MODE);
    }
  }

  /**
   * Checks that {@code path} is a directory (or a regular file) that is not a symbolic link,
   * is owned by the current user and is not writable by group or others.
   *
   * @throws IOException naming the path and what is wrong with it
   */
  public static void checkOwned(Path path, boolean directory) throws IOException {
    if (posix(path)) {
      checkOwned(path, directory, currentUser(path));
    }
  }

  private static void checkOwned(Path path, boolean directory, UserPrincipal me)
      throws IOException {
    PosixFileAttributes a = Files.getFileAttributeView(path, PosixFileAttributeView.class,
        LinkOption.NOFOLLOW_LINKS).readAttributes();
    String what = directory ? "directory" : "file";
    if (a.isSymbolicLink()) {
      throw new IOException(path + " is a symbolic link, not a private " + what
          + " of this user; refusing to use it");
    }
    if (directory ? !a.isDirectory() : !a.isRegularFile()) {
      throw new IOException(path + " is not a " + what + "; refusing to use it");
    }
    if (!a.owner().equals(me)) {
      throw new IOException(path + " belongs to " + a.owner().getName() + ", not to "
          + me.getName() + "; refusing to use it (remove it or choose another location)");
    }
    for (PosixFilePermission p : OTHERS_WRITE) {
      if (a.permissions().contains(p)) {
        throw new IOException(path + " is writable by other users (mode "
            + PosixFilePermissions.toString(a.permissions()) + "); refusing to use it");
      }
    }
  }

  /** {@link #checkOwned} for a whole tree: every directory and file below {@code root}. */
  public static void checkOwnedTree(Path root) throws IOException {
    if (!posix(root)) {
      return;
    }
    UserPrincipal me = currentUser(root); // looked up once, not once per file
    checkOwned(root, true, me);
    try (var walk = Files.walk(root)) {
      for (Path p : (Iterable<Path>) walk::iterator) {
        if (!p.equals(root)) {
          checkOwned(p, Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS), me);
        }
      }
    }
  }

  private static UserPrincipal currentUser(Path onFileSystem) throws IOException {
    return onFileSystem.getFileSystem().getUserPrincipalLookupService()
        .lookupPrincipalByName(System.getProperty("user.name"));
  }

  private static boolean posix(Path p) {
    return p.getFileSystem().supportedFileAttributeViews().contains("posix");
  }
}
