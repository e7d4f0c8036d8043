package dev.sidecar.bundle.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PrivateFilesTest {
  @TempDir
  Path tmp;

  @Test
  void createsDirectoriesAndFilesWithExplicitModesWhateverTheUmask() throws IOException {
    Path dir = PrivateFiles.directory(tmp.resolve("a/b"));
    assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir)));
    assertEquals("rwx------",
        PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.getParent())));
    Path f = PrivateFiles.tempFile(dir, "x", ".tmp");
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
    Path t = PrivateFiles.tempDirectory(dir, "t");
    assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(t)));
    PrivateFiles.checkOwnedTree(dir);
  }

  @Test
  void refusesADirectoryOthersCanWrite() throws IOException {
    Path dir = Files.createDirectory(tmp.resolve("open"));
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
    IOException e = assertThrows(IOException.class, () -> PrivateFiles.directory(dir));
    assertTrue(e.getMessage().contains("writable by other users"), e.getMessage());
    assertTrue(e.getMessage().contains(dir.toString()), e.getMessage());
  }

  @Test
  void refusesALinkWhereADirectoryShouldBe() throws IOException {
    Path real = Files.createDirectory(tmp.resolve("real"));
    Path link = Files.createSymbolicLink(tmp.resolve("link"), real);
    IOException e = assertThrows(IOException.class, () -> PrivateFiles.directory(link));
    assertTrue(e.getMessage().contains("symbolic link"), e.getMessage());
  }

  @Test
  void refusesAGroupWritableFileInsideATree() throws IOException {
    Path dir = PrivateFiles.directory(tmp.resolve("tree"));
    Path f = Files.writeString(dir.resolve("lib.so"), "x");
    Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-rw-r--"));
    IOException e = assertThrows(IOException.class, () -> PrivateFiles.checkOwnedTree(dir));
    assertTrue(e.getMessage().contains("lib.so"), e.getMessage());
  }
}
