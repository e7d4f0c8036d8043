package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The shaded connector jar works with nothing but Spark's own jars beside it: a child JVM scores
 * iris on local[2] through a sidecar process launched from the shaded jar.
 */
@EveryLine
class ShadedJarIT {
  static Path shadedJar() {
    Path jar = Path.of(System.getProperty("sidecar.shadedJar", "target/missing-shaded.jar"));
    assertTrue(Files.isRegularFile(jar), "shaded jar built by the package phase: " + jar);
    return jar;
  }

  @Test
  void shadedJarRelocatesItsLibrariesAndRenamesNettysNativeLibrary() throws Exception {
    try (JarFile jar = new JarFile(shadedJar().toFile())) {
      List<String> names = jar.stream().map(e -> e.getName()).collect(Collectors.toList());
      assertTrue(names.contains("dev/sidecar/spark/Sidecar.class"));
      assertTrue(names.contains("dev/sidecar/server/SidecarMain.class"));
      assertTrue(names.stream().anyMatch(n -> n.startsWith("dev/sidecar/shaded/io/grpc/")));
      assertTrue(names.stream().anyMatch(n -> n.startsWith("dev/sidecar/shaded/io/netty/")));
      assertTrue(names.stream().anyMatch(n -> n.startsWith("dev/sidecar/shaded/com/google/protobuf/")));
      assertTrue(names.stream().noneMatch(n -> n.startsWith("io/grpc/") || n.startsWith("io/netty/")
          || n.startsWith("com/google/") || n.startsWith("org/apache/spark/")), "nothing unrelocated");
      assertTrue(names.contains(
          "META-INF/native/libdev_sidecar_shaded_netty_transport_native_epoll_x86_64.so"), names
          .stream().filter(n -> n.startsWith("META-INF/native")).collect(Collectors.toList()).toString());
    }
  }

  /** Native libraries an executor may load, for each platform the jar supports. */
  private static final List<String> NATIVES = List.of(
      "ai/onnxruntime/native/linux-x64/libonnxruntime.so",
      "ai/onnxruntime/native/linux-aarch64/libonnxruntime.so",
      "ai/onnxruntime/native/osx-x64/libonnxruntime.dylib",
      "ai/onnxruntime/native/osx-aarch64/libonnxruntime.dylib",
      "ai/onnxruntime/native/win-x64/onnxruntime.dll",
      "META-INF/native/libdev_sidecar_shaded_netty_transport_native_epoll_x86_64.so",
      "META-INF/native/libdev_sidecar_shaded_netty_transport_native_epoll_aarch_64.so");

  @Test
  void shadedJarCarriesEachPlatformsNativesAndNothingNoExecutorLoads() throws Exception {
    try (JarFile jar = new JarFile(shadedJar().toFile())) {
      List<String> names = jar.stream().map(e -> e.getName()).collect(Collectors.toList());
      for (String lib : NATIVES) {
        assertTrue(names.contains(lib), "the shaded jar carries " + lib);
      }
      List<String> unused = names.stream().filter(n -> n.contains(".dSYM/") || n.contains("quic")
          || n.contains("io_uring")).collect(Collectors.toList());
      assertTrue(unused.isEmpty(), "debug symbols, QUIC and io_uring are left out: " + unused);
    }
  }

  @Test
  void scoresIrisWithOnlyTheShadedJarAndSparksJars() throws Exception {
    TestBundles.Built iris = TestBundles.iris();
    List<String> cp = new ArrayList<>();
    cp.add(shadedJar().toAbsolutePath().toString());
    for (Path p : TestClasspath.sparkJars()) {
      cp.add(p.toString());
    }
    Path main = Path.of("target", "test-classes", "shaded", "ShadedIrisMain.java").toAbsolutePath();
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-Xmx1g");
    cmd.addAll(TestSpark.TEST_JVM);
    cmd.addAll(Arrays.asList(System.getProperty("sidecar.java17.opens", "").trim().split("\\s+")));
    cmd.add("-Djava.io.tmpdir=" + Path.of("target", "tmp").toAbsolutePath());
    cmd.add("-cp");
    cmd.add(String.join(File.pathSeparator, cp));
    cmd.add(main.toString());
    cmd.add(iris.archive().toString());
    cmd.add(TestBundles.irisDir().resolve("iris.csv").toString());
    cmd.add(TestBundles.irisDir().resolve("expected_predictions.csv").toString());
    cmd.removeIf(String::isEmpty);
    Path log = Files.createDirectories(Path.of("target", "tmp")).resolve("shaded-iris.log");
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
        .start();
    boolean done = p.waitFor(5, TimeUnit.MINUTES);
    if (!done) {
      p.destroyForcibly();
    }
    String out = Files.readString(log, StandardCharsets.UTF_8);
    assertTrue(done, "the child finished; output:\n" + tail(out));
    assertTrue(out.contains("SHADED RESULT rows=150 wrong=0"), tail(out));
    assertEquals(0, p.exitValue(), tail(out));
  }

  private static String tail(String s) {
    return s.length() > 6000 ? s.substring(s.length() - 6000) : s;
  }
}
