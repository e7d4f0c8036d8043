package dev.sidecar.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --token-file}: what a token file must be, and the flags on serve and stats. */
class TokenOptionsTest {
  @TempDir
  Path tmp;

  private Path file(String name, String text, String mode) throws Exception {
    Path f = tmp.resolve(name);
    Files.writeString(f, text);
    Files.setPosixFilePermissions(f, PosixFilePermissions.fromString(mode));
    return f;
  }

  private static String refused(Path f) {
    return assertThrows(IllegalArgumentException.class, () -> TokenOptions.read(f)).getMessage();
  }

  @Test
  void theTokenIsTheFilesLineWithoutItsNewline() throws Exception {
    assertEquals("s3cret", TokenOptions.read(file("a", "s3cret\n", "rw-------")));
    assertEquals("s3cret", TokenOptions.read(file("b", "s3cret\r\n", "r--------")));
    assertEquals("s3cret", TokenOptions.read(file("c", "s3cret", "rw-------")));
  }

  @Test
  void emptyMultiLineMissingAndNonRegularFilesAreRefused() throws Exception {
    Path empty = file("empty", "", "rw-------");
    assertEquals("token file " + empty + " is empty", refused(empty));
    assertTrue(refused(file("newline", "\n", "rw-------")).endsWith("is empty"));
    assertTrue(refused(file("two", "a\nb\n", "rw-------")).contains("more than one line"));
    assertEquals("token file " + tmp.resolve("nope") + " does not exist",
        refused(tmp.resolve("nope")));
    assertEquals("token file " + tmp + " is not a regular file", refused(tmp));
  }

  @Test
  void aFileOthersCanReadIsRefusedWithTheFix() throws Exception {
    assumeTrue(tmp.getFileSystem().supportedFileAttributeViews().contains("posix"));
    Path f = file("shared", "s3cret\n", "rw-r--r--");
    assertEquals("token file " + f + " can be read or written by other users (mode rw-r--r--);"
        + " restrict it with: chmod 600 " + f, refused(f));
    assertTrue(refused(file("group", "s3cret\n", "rw-r-----")).contains("mode rw-r-----"));
  }

  @Test
  void serveAndStatsTakeTheFlagAndFailInOneLine() throws Exception {
    Path shared = file("shared", "s3cret\n", "rw-rw-rw-");
    BundleCliTest.Run stats = BundleCliTest.run("stats", "--target", "127.0.0.1:1",
        "--token-file", shared.toString());
    assertEquals(1, stats.code(), stats.err());
    assertEquals(1, stats.err().lines().count(), stats.err());
    assertTrue(stats.err().startsWith("sidecar: token file " + shared), stats.err());

    Path empty = file("empty", "", "rw-------");
    BundleCliTest.Run serve = BundleCliTest.run("serve", "x:1", "--home",
        tmp.resolve("home").toString(), "--port", "0", "--token-file", empty.toString());
    assertEquals(1, serve.code(), serve.err());
    assertEquals("sidecar: token file " + empty + " is empty", serve.err().strip());

    Path good = file("good", "s3cret\n", "rw-------");
    BundleCliTest.Run both = BundleCliTest.run("stats", "--target", "127.0.0.1:1",
        "--token", "x", "--token-file", good.toString());
    assertEquals(2, both.code(), both.err());
    assertTrue(both.err().contains("give --token or --token-file, not both"), both.err());

    BundleCliTest.Run blank = BundleCliTest.run("stats", "--target", "127.0.0.1:1",
        "--token", " ");
    assertEquals(1, blank.code(), blank.err());
    assertTrue(blank.err().contains("--token is empty"), blank.err());
  }
}
