package dev.sidecar.spark.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.bundle.BundleException;
import dev.sidecar.testkit.LoopbackHttpServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** HTTP downloads against a real loopback server: whole bodies, missing objects, stalls. */
@Timeout(60)
class DownloadsTest {
  private static final Duration IDLE = Duration.ofMillis(500);
  private static final long MAX = 1L << 30;

  @TempDir
  static Path tmp;
  private static LoopbackHttpServer http;
  private static Path file;
  private static byte[] bytes;

  @BeforeAll
  static void start() throws IOException {
    bytes = new byte[300_000];
    new Random(7).nextBytes(bytes);
    file = Files.write(tmp.resolve("object.bundle"), bytes);
    http = LoopbackHttpServer.http().serve("/object.bundle", file);
  }

  @AfterAll
  static void stop() {
    http.close();
  }

  @Test
  void copiesAWholeBodyAndItsDeclaredLength() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (Downloads.Opened o = Downloads.openHttp(URI.create(http.url("/object.bundle")), IDLE)) {
      assertEquals(bytes.length, o.length());
      assertEquals(bytes.length, Downloads.copy(o.in(), o.length(), out, MAX, "object"));
    } catch (IOException e) {
      throw new AssertionError(e);
    }
    assertArrayEquals(bytes, out.toByteArray());
  }

  @Test
  void aMissingObjectIsNamed() {
    String url = http.url("/missing.bundle");
    BundleException e = assertThrows(BundleException.class,
        () -> Downloads.openHttp(URI.create(url), IDLE));
    assertTrue(e.getMessage().startsWith(url + ": no such object (HTTP 404)"), e.getMessage());
  }

  @Test
  void aServerThatStallsMidBodyFailsTheDownloadNamingTheUriAndBytesReceived()
      throws IOException {
    int sent = 70_000;
    String url = http.stallingUrl(file, sent);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (Downloads.Opened o = Downloads.openHttp(URI.create(url), IDLE)) {
      BundleException e = assertThrows(BundleException.class,
          () -> Downloads.copy(o.in(), o.length(), out, MAX, url));
      assertTrue(e.getMessage().startsWith(url + ": truncated download: received " + sent
          + " of " + bytes.length + " bytes"), e.getMessage());
      assertTrue(e.getMessage().contains("stalled: no bytes from the server for 500 ms"
          + " (idle-read timeout) after " + sent + " bytes"), e.getMessage());
      assertTrue(e.getCause() instanceof HttpTimeoutException, String.valueOf(e.getCause()));
    }
    assertArrayEquals(Arrays.copyOf(bytes, sent), out.toByteArray());
  }

  @Test
  void aStallBeforeAnyBodyByteIsCaughtByARawRead() throws IOException {
    String url = http.stallingUrl(file, 0);
    try (Downloads.Opened o = Downloads.openHttp(URI.create(url), IDLE)) {
      HttpTimeoutException e = assertThrows(HttpTimeoutException.class, () -> o.in().read());
      assertTrue(e.getMessage().contains("after 0 bytes"), e.getMessage());
      IOException again = assertThrows(IOException.class, () -> o.in().read());
      assertTrue(again.getMessage().contains("closed"), again.getMessage());
    }
  }
}
