package dev.sidecar.bundle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Imports: devices and FIFOs are refused before anything is copied, errors name the user's
 * file (not the staging copy), and staging left by interrupted imports is removed.
 */
class ImportTest {
  @TempDir
  Path tmp;

  private static List<Path> staging(BundleStore store) throws IOException {
    Path dir = store.home().resolve("tmp");
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(dir)) {
      return s.toList();
    }
  }

  @Test
  @Timeout(60)
  void aDeviceIsRefusedBeforeCopying() throws IOException {
    BundleStore store = BundleStore.open(tmp.resolve("home"));
    String msg = assertThrows(BundleException.class, () -> store.add(Path.of("/dev/zero")))
        .getMessage();
    assertTrue(msg.startsWith("/dev/zero: not a regular file"), msg);
    assertEquals(List.of(), staging(store));
  }

  @Test
  @Timeout(60)
  void aFifoIsRefusedBeforeCopying() throws Exception {
    Path fifo = tmp.resolve("pipe.bundle");
    Process mk = new ProcessBuilder("mkfifo", fifo.toString()).start();
    assertTrue(mk.waitFor(30, TimeUnit.SECONDS) && mk.exitValue() == 0, "mkfifo failed");
    // A writer that feeds 1 MiB of zeros to whoever opens the FIFO.
    Thread writer = new Thread(() -> {
      try (OutputStream out = Files.newOutputStream(fifo)) {
        out.write(new byte[1 << 20]);
      } catch (IOException e) {
        // the reader went away
      }
    });
    writer.setDaemon(true);
    writer.start();
    try {
      BundleStore store = BundleStore.open(tmp.resolve("home"));
      String msg = assertThrows(BundleException.class, () -> store.add(fifo)).getMessage();
      assertTrue(msg.startsWith(fifo + ": not a regular file"), msg);
      assertEquals(List.of(), staging(store));
    } finally {
      if (writer.isAlive()) { // release the writer, which waits for a reader
        try (InputStream in = Files.newInputStream(fifo)) {
          in.transferTo(OutputStream.nullOutputStream());
        }
      }
      writer.join(TimeUnit.SECONDS.toMillis(30));
    }
    assertFalse(writer.isAlive());
  }

  @Test
  void importErrorsNameTheUsersFile() throws IOException {
    BundleStore store = BundleStore.open(tmp.resolve("home"));
    Path junk = Files.writeString(tmp.resolve("junk.bundle"), "not a bundle at all\n");
    String msg = assertThrows(BundleException.class, () -> store.add(junk)).getMessage();
    assertTrue(msg.startsWith(junk + ": not a sidecar bundle"), msg);
    assertFalse(msg.contains("incoming.bundle") || msg.contains("/tmp/import-"), msg);

    Path good = tmp.resolve("good.bundle");
    TestBundles.buildIris(tmp.resolve("work"), "iris", "1", TestBundles.T0, good);
    byte[] bytes = Files.readAllBytes(good);
    Path truncated = tmp.resolve("truncated.bundle");
    Files.write(truncated, java.util.Arrays.copyOf(bytes, bytes.length / 2));
    msg = assertThrows(BundleException.class, () -> store.add(truncated)).getMessage();
    assertTrue(msg.startsWith(truncated + ": "), msg);
    assertFalse(msg.contains("incoming.bundle"), msg);
    assertEquals(List.of(), staging(store));
  }

  @Test
  void staleStagingIsRemovedWhenTheStoreOpens() throws Exception {
    Path home = tmp.resolve("home");
    Path tmpDir = Files.createDirectories(home.resolve("tmp"));
    Process gone = new ProcessBuilder("true").start();
    assertTrue(gone.waitFor(30, TimeUnit.SECONDS));
    long self = ProcessHandle.current().pid();
    FileTime twoDaysAgo = FileTime.from(Instant.now().minusSeconds(2 * 24 * 3600));

    Path deadOwner = staged(tmpDir, "import-" + gone.pid() + "-" + UUID.randomUUID(), null);
    Path oldLegacy = staged(tmpDir, "import-" + UUID.randomUUID(), twoDaysAgo);
    Path oldLive = staged(tmpDir, "build-" + self + "-" + UUID.randomUUID(), twoDaysAgo);
    Path live = staged(tmpDir, "import-" + self + "-" + UUID.randomUUID(), null);
    Path freshLegacy = staged(tmpDir, "import-" + UUID.randomUUID(), null);
    Path unrelated = staged(tmpDir, "notes", twoDaysAgo);

    BundleStore.open(home);
    assertFalse(Files.exists(deadOwner), "its process is gone");
    assertFalse(Files.exists(oldLegacy), "older than a day");
    assertFalse(Files.exists(oldLive), "older than a day");
    assertTrue(Files.exists(live), "a live import's staging is kept");
    assertTrue(Files.exists(freshLegacy), "a recent staging directory of unknown owner is kept");
    assertTrue(Files.exists(unrelated), "only staging directories are touched");
  }

  private static Path staged(Path tmpDir, String name, FileTime mtime) throws IOException {
    Path d = Files.createDirectory(tmpDir.resolve(name));
    Files.writeString(d.resolve("incoming.bundle"), "partial");
    if (mtime != null) {
      Files.setLastModifiedTime(d, mtime);
    }
    return d;
  }
}
