package dev.sidecar.bundle;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Several processes importing and unpacking the same bundle at once (file locks across JVMs)
 * end with one intact store entry and exactly one unpack into the cache.
 */
class ConcurrentImportIT {
  private static final int PROCESSES = 3;

  @TempDir
  Path tmp;

  /** Child process: waits for the go file, imports, unpacks into the cache, prints the result. */
  public static void main(String[] args) throws Exception {
    Path archive = Path.of(args[0]);
    Path home = Path.of(args[1]);
    Path go = Path.of(args[2]);
    while (!Files.exists(go)) {
      Thread.sleep(5);
    }
    BundleInfo info = BundleStore.open(home).add(archive);
    BundleArchive.UnpackResult r = BundleArchive.unpackCached(archive, home.resolve("cache"));
    System.out.println("RESULT " + info.digest() + " " + r.unpacked());
  }

  @Test
  void processesImportingTheSameBundleLeaveOneCopy() throws Exception {
    Path archive = tmp.resolve("iris.bundle");
    BundleInfo built = TestBundles.buildIris(tmp, "iris", "1", TestBundles.T0, archive);
    Path home = tmp.resolve("home");
    Path go = tmp.resolve("go");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<Process> procs = new ArrayList<>();
    for (int i = 0; i < PROCESSES; i++) {
      procs.add(new ProcessBuilder(java, "-Xmx128m", "-cp", System.getProperty("java.class.path"),
          ConcurrentImportIT.class.getName(), archive.toString(), home.toString(), go.toString())
          .redirectError(ProcessBuilder.Redirect.INHERIT).start());
    }
    Files.createFile(go);
    int unpacked = 0;
    for (Process p : procs) {
      if (!p.waitFor(120, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new AssertionError("child did not finish");
      }
      String out = new String(p.getInputStream().readAllBytes()).trim();
      assertEquals(0, p.exitValue(), out);
      String line = out.lines().filter(l -> l.startsWith("RESULT ")).findFirst().orElseThrow(
          () -> new AssertionError("no RESULT line in: " + out));
      String[] parts = line.split(" ");
      assertEquals(built.digest(), parts[1]);
      if (Boolean.parseBoolean(parts[2])) {
        unpacked++;
      }
    }
    assertEquals(1, unpacked, "exactly one process unpacks into the cache");
    BundleStore store = BundleStore.open(home);
    assertEquals(List.of(built), store.list());
    BundleArchive.inspect(store.archivePath("iris:1"));
    Bundle.open(home.resolve("cache").resolve(built.digestHex()), built.digest());
    assertEquals(0, count(home.resolve("tmp")));
  }

  private static long count(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.count();
    }
  }
}
