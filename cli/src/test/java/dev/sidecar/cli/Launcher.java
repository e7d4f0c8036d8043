package dev.sidecar.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs {@code bin/sidecar} on the packaged jar as a child process, as a user does: with
 * {@code SIDECAR_HOME} and {@code SIDECAR_JAVA_OPTS} set, stdout and stderr in files.
 */
final class Launcher {
  static final Path LAUNCHER = Path.of("..", "bin", "sidecar").toAbsolutePath().normalize();
  static final Path IRIS = Path.of("..", "examples", "iris").toAbsolutePath().normalize();
  static final Path IRIS_YAML = IRIS.resolve("bundle.yaml");

  record Result(int code, String out, String err) {
  }

  private Launcher() {
  }

  /**
   * Whether the packaged CLI's sidecars must serve on a Unix socket here: on Linux x86_64 and
   * aarch64, the platforms whose Netty epoll library it ships (elsewhere they use loopback TCP).
   */
  static boolean unixSocketPlatform() {
    String arch = System.getProperty("os.arch");
    return System.getProperty("os.name").equals("Linux")
        && (arch.equals("amd64") || arch.equals("aarch64"));
  }

  /**
   * The test JVMs' options (the parent pom's {@code test.jvm}: client compiler only, serial GC),
   * for the short-lived JVMs tests start.
   */
  static final String TEST_JVM = System.getProperty("sidecar.test.jvm", "").trim();

  /**
   * A process builder for {@code bin/sidecar args} with {@code home} as the store; the JVM gets
   * {@code javaOpts} after {@link #TEST_JVM} through {@code SIDECAR_JAVA_OPTS}.
   */
  static ProcessBuilder command(Path home, String javaOpts, String... args) {
    List<String> cmd = new ArrayList<>();
    cmd.add(LAUNCHER.toString());
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().put("SIDECAR_HOME", home.toString());
    pb.environment().put("SIDECAR_JAVA_OPTS", (TEST_JVM + " " + javaOpts).trim());
    pb.environment().remove("SIDECAR_TOKEN");
    pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
    return pb;
  }

  /** Runs {@code bin/sidecar args} to its end (at most 5 minutes); output files go in {@code dir}. */
  static Result run(Path dir, Path home, String javaOpts, String... args) throws Exception {
    Path out = dir.resolve("out.txt");
    Path err = dir.resolve("err.txt");
    Process p = command(home, javaOpts, args).redirectOutput(out.toFile())
        .redirectError(err.toFile()).start();
    if (!p.waitFor(300, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("sidecar " + String.join(" ", args) + " did not finish");
    }
    return new Result(p.exitValue(), read(out), read(err));
  }

  static String read(Path file) throws IOException {
    return Files.readString(file, StandardCharsets.UTF_8);
  }
}
