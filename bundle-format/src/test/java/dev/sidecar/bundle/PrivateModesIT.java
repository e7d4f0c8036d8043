package dev.sidecar.bundle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * With a umask of 0 (a JVM cannot change its own umask, so a child process runs under
 * {@code sh -c 'umask 000; exec java ...'}), everything the store, unpack and the cache
 * create is still 0700 / 0600.
 */
class PrivateModesIT {
  @TempDir
  Path tmp;

  /** Child: builds, imports, aliases, loads, unpacks and unpacks into a cache. */
  public static void main(String[] args) {
    Path home = Path.of(args[0]);
    Path work = Path.of(args[1]);
    Path archive = work.resolve("iris.bundle");
    TestBundles.buildIris(work.resolve("src"), "iris", "1", TestBundles.T0, archive);
    BundleStore store = BundleStore.open(home);
    store.add(archive);
    store.alias("iris", "production", "1");
    store.load("iris:production");
    BundleBuilder.fromSpec(TestBundles.IRIS_DIR.resolve("bundle.yaml"))
        .createdAt(TestBundles.T0).buildInto(store);
    BundleArchive.unpack(archive, work.resolve("out").resolve("unpacked"));
    BundleArchive.unpackCached(archive, work.resolve("cache"));
    System.out.println("DONE");
  }

  @Test
  @Timeout(180)
  void umaskZeroLeaksNothing() throws Exception {
    Path home = tmp.resolve("home");
    Path work = Files.createDirectory(tmp.resolve("work"));
    String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p = new ProcessBuilder("/bin/sh", "-c", "umask 000 && exec \"$0\" \"$@\"", javaBin,
        "-Xmx256m", "-cp", System.getProperty("java.class.path"), PrivateModesIT.class.getName(),
        home.toString(), work.toString())
        .redirectErrorStream(true).redirectOutput(tmp.resolve("child.log").toFile()).start();
    try {
      assertTrue(p.waitFor(150, TimeUnit.SECONDS), "child did not finish");
    } finally {
      p.destroyForcibly();
    }
    String out = Files.readString(tmp.resolve("child.log"));
    assertEquals(0, p.exitValue(), out);
    assertTrue(out.contains("DONE"), out);
    // The umask really was 0: a file the test build wrote with default modes is 0666.
    Path yaml;
    try (Stream<Path> s = Files.walk(work.resolve("src"))) {
      yaml = s.filter(f -> f.getFileName().toString().equals("bundle.yaml")).findFirst()
          .orElseThrow();
    }
    assertEquals("rw-rw-rw-", PosixFilePermissions.toString(Files.getPosixFilePermissions(yaml)));
    assertEquals(List.of(), PrivateModesTest.notPrivate(home));
    assertEquals(List.of(), PrivateModesTest.notPrivate(work.resolve("out")));
    assertEquals(List.of(), PrivateModesTest.notPrivate(work.resolve("cache")));
    assertEquals(List.of(), PrivateModesTest.notPrivate(work.resolve("iris.bundle")));
  }
}
