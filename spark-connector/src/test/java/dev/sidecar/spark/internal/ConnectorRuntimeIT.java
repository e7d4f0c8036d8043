package dev.sidecar.spark.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.spark.RunOptions;
import dev.sidecar.spark.Sidecar;
import dev.sidecar.spark.TestBundles;
import dev.sidecar.spark.TestSpark;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.apache.spark.SparkContext;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;

/**
 * The lifecycle of {@link ConnectorRuntime} with real sidecar processes: closing it stops its
 * sidecars (the processes have exited when close returns), deletes their scratch directories
 * and the driver's staged archives, and refuses further use; the next {@code get()} is a new
 * runtime that scores again with a new sidecar. When the JVM exits, the runtime's shutdown hook
 * does the same for a sidecar still leased.
 */
class ConnectorRuntimeIT {

  @Test
  void closeEndsTheSidecarsAndTheirFilesAndANewRuntimeTakesOver() throws Exception {
    SparkSession spark = TestSpark.local("local[2]", "ConnectorRuntimeIT");
    try {
      TestBundles.Built kinds = TestBundles.kinds("kinds_runtime", "1.0.0");
      RunOptions options = RunOptions.defaults();
      SidecarKey key = SidecarKey.of(kinds.digest(), options);

      ConnectorRuntime first = ConnectorRuntime.get();
      assertSame(first, ConnectorRuntime.get(), "one runtime per JVM while it is open");
      List<Row> expected = score(spark, kinds, options);
      long pid = first.sidecars().pid(key).orElseThrow();
      ProcessHandle sidecar = ProcessHandle.of(pid).orElseThrow();
      Path scratch = scratchOf(pid);
      assertTrue(Files.isDirectory(scratch), scratch + " exists while the sidecar runs");
      Path staged = staged(spark.sparkContext(), kinds);
      assertTrue(Files.isRegularFile(staged), staged + " is staged for Spark");

      first.close();
      assertTrue(first.isClosed());
      assertFalse(sidecar.isAlive(), "sidecar pid " + pid + " has exited when close returns");
      assertFalse(Files.exists(scratch), scratch + " is deleted");
      assertFalse(Files.exists(staged.getParent()), staged.getParent() + " is deleted");
      assertEquals(Optional.empty(), first.sidecars().pid(key));
      assertThrows(IllegalStateException.class,
          () -> first.shipper().remote(spark.sparkContext(), "https://127.0.0.1:1/x.bundle"));
      first.close(); // idempotent

      ConnectorRuntime second = ConnectorRuntime.get();
      assertNotSame(first, second, "a new runtime after close");
      assertEquals(expected, score(spark, kinds, options), "the new runtime scores the same");
      long pid2 = second.sidecars().pid(key).orElseThrow();
      assertNotEquals(pid, pid2, "with a sidecar of its own");
      assertEquals(1, second.sidecars().starts(key));
      Path scratch2 = scratchOf(pid2);
      assertNotEquals(scratch, scratch2, "sidecar numbers go on across runtimes");
      assertTrue(Files.isDirectory(scratch2));

      ProcessHandle sidecar2 = ProcessHandle.of(pid2).orElseThrow();
      second.close();
      assertFalse(sidecar2.isAlive(), "sidecar pid " + pid2 + " has exited");
      assertFalse(Files.exists(scratch2), scratch2 + " is deleted");
    } finally {
      spark.stop();
    }
  }

  @Test
  void theShutdownHookEndsALeasedSidecarWhenTheJvmExits() throws Exception {
    TestBundles.Built kinds = TestBundles.kinds("kinds_runtime_exit", "1.0.0");
    Path stderr = Files.createTempFile("runtime-exit-child", ".log");
    List<String> cmd = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx256m",
        "-Dsidecar.home=" + System.getProperty("sidecar.home"),
        "-Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"),
        "-cp", System.getProperty("java.class.path"),
        RuntimeExitChild.class.getName(), kinds.archive().toString()));
    Process child = new ProcessBuilder(cmd).redirectError(stderr.toFile()).start();
    try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(),
        StandardCharsets.UTF_8)); OutputStream in = child.getOutputStream()) {
      String line = out.readLine();
      assertTrue(line != null && line.startsWith("SIDECAR "), "the child leased a sidecar: "
          + line + "; its stderr:\n" + Files.readString(stderr));
      String[] parts = line.split(" ");
      long pid = Long.parseLong(parts[1]);
      Path log = Path.of(parts[2]);
      ProcessHandle sidecar = ProcessHandle.of(pid).orElseThrow();
      Path scratch = scratchOf(pid);
      assertTrue(Files.isDirectory(scratch) && Files.isRegularFile(log), scratch + ", " + log);

      in.write('\n');
      in.flush();
      assertTrue(child.waitFor(60, TimeUnit.SECONDS), "the child exits");
      assertEquals(0, child.exitValue(), Files.readString(stderr));
      // The sidecar would also exit by itself once its parent is gone (--parent-pid), but then
      // nobody would delete its scratch directory and log: only the hook does, before the exit.
      assertFalse(sidecar.isAlive(), "sidecar pid " + pid + " stopped before the child exited");
      assertFalse(Files.exists(scratch), scratch + " is deleted");
      assertFalse(Files.exists(log), log + " is deleted after a clean stop");
    } finally {
      child.destroyForcibly();
      Files.deleteIfExists(stderr);
    }
  }

  private static List<Row> score(SparkSession spark, TestBundles.Built kinds,
      RunOptions options) {
    return Sidecar.runSpark(kinds.archive(), "i64", spark.range(0, 50, 1, 2)
        .selectExpr("id as i64"), options).collectAsList();
  }

  /** A sidecar's scratch directory: the {@code java.io.tmpdir} on its command line. */
  private static Path scratchOf(long pid) throws IOException {
    String prefix = "-Djava.io.tmpdir=";
    for (String arg : Files.readString(Path.of("/proc", Long.toString(pid), "cmdline"))
        .split("\0")) {
      if (arg.startsWith(prefix)) {
        return Path.of(arg.substring(prefix.length()));
      }
    }
    throw new AssertionError("no " + prefix + " on the command line of pid " + pid);
  }

  /** Where the driver staged {@code kinds}' archive for Spark (a local master serves it as is). */
  private static Path staged(SparkContext sc, TestBundles.Built kinds) throws Exception {
    String name = BundleFiles.shippedFileName("kinds_runtime", kinds.digest());
    scala.collection.Iterator<?> files = ((scala.collection.Iterable<?>) SparkContext.class
        .getMethod("listFiles").invoke(sc)).iterator();
    while (files.hasNext()) {
      String f = (String) files.next();
      if (f.endsWith("/" + name)) {
        return Path.of(URI.create(f));
      }
    }
    throw new AssertionError(name + " is not among the files added to Spark");
  }
}
