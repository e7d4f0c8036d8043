package dev.sidecar.spark.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.spark.TestClasspath;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Where Netty's native epoll transport does not load, sidecars serve on loopback TCP and the
 * connector says so once, with Netty's reason, instead of silently: a child JVM on this test's
 * class path without any jar carrying Netty's epoll library asks twice whether sidecars get a
 * Unix socket, and logs (log4j2-test.properties: dev.sidecar at INFO on stderr) one warning.
 */
class EpollFallbackTest {
  private static final String WARNING = "sidecars serve on loopback TCP (127.0.0.1), not on a"
      + " private Unix socket: Netty's native epoll transport is unavailable in this JVM: ";

  @TempDir
  Path tmp;

  /** The child: asks twice, printing each answer. */
  public static final class Child {
    public static void main(String[] args) {
      System.out.println("unix sockets: " + SidecarProcess.unixSocketsAvailable());
      System.out.println("unix sockets: " + SidecarProcess.unixSocketsAvailable());
    }
  }

  @Test
  void withoutEpollsLibrarySidecarsUseTcpAndTheLogSaysWhyOnce() throws Exception {
    List<String> kept = new ArrayList<>();
    List<String> dropped = new ArrayList<>();
    for (Path entry : TestClasspath.entries()) {
      (carriesEpollLibrary(entry) ? dropped : kept).add(entry.toString());
    }
    assertTrue(!dropped.isEmpty(), "no jar of the class path carries Netty's epoll library: "
        + kept);
    Path out = tmp.resolve("out.txt");
    Path err = tmp.resolve("err.txt");
    Process child = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java")
        .toString(), "-Xmx128m", "-Djava.io.tmpdir=" + tmp, "-cp",
        String.join(File.pathSeparator, kept), Child.class.getName())
        .redirectOutput(out.toFile()).redirectError(err.toFile())
        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
    assertTrue(child.waitFor(2, TimeUnit.MINUTES), "the child JVM did not finish");
    String stderr = Files.readString(err, StandardCharsets.UTF_8);
    assertEquals(0, child.exitValue(), stderr);
    assertEquals(List.of("unix sockets: false", "unix sockets: false"),
        Files.readAllLines(out, StandardCharsets.UTF_8), stderr);

    List<String> warnings = stderr.lines().filter(l -> l.contains(WARNING)).toList();
    assertEquals(1, warnings.size(), "one warning, not one per sidecar:\n" + stderr);
    String reason = warnings.get(0).substring(warnings.get(0).indexOf(WARNING) + WARNING.length());
    // On Linux, Netty's reason names the library it could not load; elsewhere, the platform.
    assertTrue(System.getProperty("os.name").equals("Linux")
        ? reason.contains("netty_transport_native_epoll") : !reason.isBlank(),
        "the reason given: " + reason + "; left out of the class path: " + dropped);
  }

  /** Whether {@code entry} is a jar with a Netty epoll native library in it (any platform's). */
  private static boolean carriesEpollLibrary(Path entry) throws IOException {
    if (!entry.toString().endsWith(".jar") || !Files.isRegularFile(entry)) {
      return false;
    }
    try (JarFile jar = new JarFile(entry.toFile())) {
      return jar.stream().anyMatch(e ->
          e.getName().startsWith("META-INF/native/libnetty_transport_native_epoll"));
    }
  }
}
