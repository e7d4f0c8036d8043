package dev.sidecar.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.bundle.BundleStore;
import dev.sidecar.testkit.S3Server;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code sidecar bundle push} to S3 and {@code bundle import} from it, against a real S3 API
 * server (testkit's S3Server) through s3a. The CLI runs in a child JVM with
 * {@code HADOOP_CONF_DIR} pointing at a {@code core-site.xml} that carries the s3a settings, as a
 * user's Hadoop client configuration does: nothing of sidecar's to configure.
 */
@Tag("s3")
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class S3BundleCliTest {
  @TempDir
  static Path tmp;
  static S3Server s3;
  static String home;
  static String digest;
  static Path stored;

  record Run(int code, String out, String err) {
  }

  @BeforeAll
  static void start() {
    s3 = S3Server.start();
    home = tmp.resolve("publisher").toString();
    BundleCliTest.Run built = BundleCliTest.run("bundle", "build",
        BundleCliTest.IRIS_YAML.toString(), "--home", home);
    assertEquals(0, built.code(), built.err());
    BundleStore store = BundleStore.open(Path.of(home));
    digest = store.resolve("iris_classifier:1.0.0").digest();
    stored = store.archivePath("iris_classifier:1.0.0");
  }

  @AfterAll
  static void stop() {
    if (s3 != null) {
      s3.close();
    }
  }

  /** A Hadoop configuration directory with these s3a settings in its core-site.xml. */
  private static Path hadoopConfDir(String name, Map<String, String> s3a) throws Exception {
    Path dir = Files.createDirectories(tmp.resolve(name));
    StringBuilder xml = new StringBuilder("<?xml version=\"1.0\"?>\n<configuration>\n");
    s3a.forEach((k, v) -> xml.append("  <property><name>").append(k).append("</name><value>")
        .append(v).append("</value></property>\n"));
    xml.append("</configuration>\n");
    Files.writeString(dir.resolve("core-site.xml"), xml, StandardCharsets.UTF_8);
    return dir;
  }

  /** {@code sidecar args} in a child JVM on this test's class path, with HADOOP_CONF_DIR. */
  private static Run sidecar(Path hadoopConfDir, String... args) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
      if (a.startsWith("--add-opens") || a.startsWith("-Djdk.reflect")
          || a.startsWith("-Dio.netty") || a.startsWith("-Djava.io.tmpdir")) {
        cmd.add(a);
      }
    }
    cmd.add("-Xmx1g");
    // The connector's cache of `run` (its --home names only the store): this JVM's sidecar home
    // (target/sidecar-home, from the pom), else one of the test's, never ~/.sidecar.
    cmd.add("-Dsidecar.home=" + System.getProperty("sidecar.home",
        tmp.resolve("sidecar-home").toString()));
    if (!Launcher.TEST_JVM.isEmpty()) {
      cmd.addAll(List.of(Launcher.TEST_JVM.split("\\s+")));
    }
    cmd.add("-cp");
    cmd.add(System.getProperty("surefire.test.class.path",
        System.getProperty("java.class.path")));
    cmd.add(SidecarCli.class.getName());
    cmd.addAll(List.of(args));
    Path out = Files.createTempFile(tmp, "out", ".txt");
    Path err = Files.createTempFile(tmp, "err", ".txt");
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(out.toFile())
        .redirectError(err.toFile());
    pb.environment().put("HADOOP_CONF_DIR", hadoopConfDir.toString());
    pb.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
    Process p = pb.start();
    if (!p.waitFor(240, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("sidecar " + String.join(" ", args) + " did not finish");
    }
    return new Run(p.exitValue(), Files.readString(out), Files.readString(err));
  }

  private static Run ok(Path conf, String... args) throws Exception {
    Run r = sidecar(conf, args);
    assertEquals(0, r.code(), "sidecar " + String.join(" ", args) + " failed: " + r.err());
    return r;
  }

  @Test
  void pushToS3ThenImportFromItPinned() throws Exception {
    Path conf = hadoopConfDir("conf-ok", s3.s3aConfiguration());
    String uri = s3.uri("models/iris/iris.bundle");
    Run p = ok(conf, "bundle", "push", "iris_classifier:1.0.0", uri, "--home", home);
    assertEquals("pushed iris_classifier:1.0.0 " + digest + " -> " + uri + "#" + digest,
        p.out().trim());
    ok(conf, "bundle", "push", "iris_classifier:1.0.0", uri, "--home", home); // replaces it

    Configuration hc = new Configuration();
    s3.s3aConfiguration().forEach(hc::set);
    try (FileSystem fs = FileSystem.newInstance(URI.create(uri), hc);
        InputStream in = fs.open(new org.apache.hadoop.fs.Path(uri))) {
      assertArrayEquals(Files.readAllBytes(stored), in.readAllBytes());
      assertEquals(1, fs.listStatus(new org.apache.hadoop.fs.Path(s3.uri("models/iris"))).length,
          "no temporary object left beside it");
    }

    String consumer = tmp.resolve("consumer").toString();
    Run r = ok(conf, "bundle", "import", uri + "#" + digest, "--home", consumer);
    assertEquals("imported iris_classifier:1.0.0 " + digest, r.out().trim());
    assertEquals(digest, BundleStore.open(Path.of(consumer)).resolve("iris_classifier").digest());
  }

  @Test
  void failuresAreOneClearLineAndImportNothing() throws Exception {
    Path conf = hadoopConfDir("conf-hostile", s3.s3aConfiguration());
    String uri = s3.uri("hostile/iris.bundle");
    ok(conf, "bundle", "push", "iris_classifier:1.0.0", uri, "--home", home);
    String consumer = tmp.resolve("refusing").toString();

    Run r = sidecar(conf, "bundle", "import", s3.uri("hostile/none.bundle"), "--home", consumer);
    assertEquals(1, r.code(), r.err());
    assertTrue(r.err().contains(s3.uri("hostile/none.bundle") + ": no such object"), r.err());

    String other = "sha256:" + "2".repeat(64);
    r = sidecar(conf, "bundle", "import", uri + "#" + other, "--home", consumer);
    assertEquals(1, r.code(), r.err());
    assertTrue(r.err().contains("digest mismatch") && r.err().contains(other)
        && r.err().contains(digest), r.err());

    Map<String, String> wrong = s3.s3aConfiguration();
    wrong.put("fs.s3a.secret.key", "wrong-" + s3.secretKey());
    r = sidecar(hadoopConfDir("conf-wrong", wrong), "bundle", "import", uri, "--home", consumer);
    assertEquals(1, r.code(), r.err());
    assertTrue(r.err().contains(uri + ": access denied"), r.err());
    assertTrue(!r.err().contains("\tat "), "one message, no stack dump: " + r.err());

    r = sidecar(hadoopConfDir("conf-none", s3.s3aEndpointOnly()), "bundle", "import", uri,
        "--home", consumer);
    assertEquals(1, r.code(), r.err());
    assertTrue(r.err().contains(uri + ": no credentials for s3a://"), r.err());
    assertTrue(!r.err().contains("\tat "), "one message, no stack dump: " + r.err());

    assertTrue(BundleStore.open(Path.of(consumer)).list().isEmpty(), "nothing was imported");
  }

  /** {@code sidecar run} reads the bundle with $HADOOP_CONF_DIR's s3a settings, as import does. */
  @Test
  void runFromS3WithTheHadoopConfDir() throws Exception {
    Path conf = hadoopConfDir("conf-run", s3.s3aConfiguration());
    String uri = s3.uri("run/iris.bundle");
    ok(conf, "bundle", "push", "iris_classifier:1.0.0", uri, "--home", home);
    Path out = tmp.resolve("scored-from-s3");
    Run r = ok(conf, "run", uri + "#" + digest, "--api", "classify",
        "--input", RunCommandTest.IRIS.resolve("iris.csv").toString(), "--output",
        out.toString(), "--output-format", "csv", "--master", "local[2]", "--sidecar-mode",
        "in-process", "--home", tmp.resolve("s3-runner").toString());
    assertTrue(r.err().contains("scored 150 rows"), r.err());
  }
}
