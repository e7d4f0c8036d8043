package dev.sidecar.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.bundle.BundleStore;
import dev.sidecar.testkit.LoopbackHttpServer;
import dev.sidecar.testkit.MiniHdfs;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code sidecar bundle push}, {@code bundle import}, {@code serve} and {@code run} with URIs,
 * against a real HDFS (MiniDFSCluster) and a real HTTP server on loopback, started here. Tagged
 * hdfs: the only tests run with the minicluster on their class path, whose copy of Netty's epoll
 * library keeps Netty's from loading, so this JVM's sidecars serve on loopback TCP (see the pom).
 */
@Tag("hdfs")
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class RemoteBundleCliTest {
  @TempDir
  static Path tmp;
  static MiniHdfs hdfs;
  static LoopbackHttpServer http;
  static String home;
  static String digest;
  static Path stored;

  @BeforeAll
  static void start() throws Exception {
    hdfs = MiniHdfs.start(tmp.resolve("hdfs"));
    http = LoopbackHttpServer.http();
    home = tmp.resolve("publisher").toString();
    BundleCliTest.Run built = BundleCliTest.run("bundle", "build",
        BundleCliTest.IRIS_YAML.toString(), "--home", home);
    assertEquals(0, built.code(), built.err());
    BundleStore store = BundleStore.open(Path.of(home));
    digest = store.resolve("iris_classifier:1.0.0").digest();
    stored = store.archivePath("iris_classifier:1.0.0");
    http.serve("/iris.bundle", stored);
  }

  @AfterAll
  static void stop() {
    if (http != null) {
      http.close();
    }
    if (hdfs != null) {
      hdfs.close();
    }
  }

  private static BundleCliTest.Run ok(String... args) {
    BundleCliTest.Run r = BundleCliTest.run(args);
    assertEquals(0, r.code(), "sidecar " + String.join(" ", args) + " failed: " + r.err());
    return r;
  }

  private static BundleCliTest.Run fails(String... args) {
    BundleCliTest.Run r = BundleCliTest.run(args);
    assertEquals(1, r.code(), "sidecar " + String.join(" ", args) + ": " + r.out() + r.err());
    return r;
  }

  @Test
  void pushToHdfsThenImportFromItPinned() throws Exception {
    String uri = hdfs.uri("/models/iris/iris.bundle");
    BundleCliTest.Run p = ok("bundle", "push", "iris_classifier:1.0.0", uri, "--home", home);
    assertEquals("pushed iris_classifier:1.0.0 " + digest + " -> " + uri + "#" + digest,
        p.out().trim());
    ok("bundle", "push", "iris_classifier:1.0.0", uri, "--home", home); // replaces it
    FileSystem fs = hdfs.fileSystem();
    try (InputStream in = fs.open(new org.apache.hadoop.fs.Path("/models/iris/iris.bundle"))) {
      assertArrayEquals(Files.readAllBytes(stored), in.readAllBytes());
    }
    assertEquals(1, fs.listStatus(new org.apache.hadoop.fs.Path("/models/iris")).length,
        "no temporary file left beside it");

    String consumer = tmp.resolve("consumer").toString();
    BundleCliTest.Run r = ok("bundle", "import", uri + "#" + digest, "--home", consumer);
    assertEquals("imported iris_classifier:1.0.0 " + digest, r.out().trim());
    assertEquals(digest, BundleStore.open(Path.of(consumer)).resolve("iris_classifier").digest());
    try (var left = Files.list(Path.of(consumer, "tmp"))) {
      assertEquals(0, left.count(), "the downloaded copy is removed");
    }
  }

  @Test
  void pushToAFileUri() throws Exception {
    Path target = tmp.resolve("published").resolve("iris.bundle");
    ok("bundle", "push", "iris_classifier", target.toUri().toString(), "--home", home);
    assertArrayEquals(Files.readAllBytes(stored), Files.readAllBytes(target));
    BundleCliTest.Run r = ok("bundle", "import", target.toUri().toString(), "--expected-digest",
        digest, "--home", tmp.resolve("from-file").toString());
    assertTrue(r.out().contains(digest), r.out());
  }

  @Test
  void importFailuresAreOneClearLineAndImportNothing() {
    String consumer = tmp.resolve("refusing").toString();
    String other = "sha256:" + "1".repeat(64);
    BundleCliTest.Run r = fails("bundle", "import", http.url("/iris.bundle"),
        "--expected-digest", other, "--home", consumer);
    assertTrue(r.err().contains("digest mismatch") && r.err().contains(other)
        && r.err().contains(digest), r.err());
    r = fails("bundle", "import", hdfs.uri("/models/none.bundle"), "--home", consumer);
    assertTrue(r.err().contains(hdfs.uri("/models/none.bundle") + ": no such object"), r.err());
    r = fails("bundle", "import", "gopher://127.0.0.1/iris.bundle", "--home", consumer);
    assertTrue(r.err().contains("unknown scheme 'gopher'") && r.err().contains("hdfs"), r.err());
    r = fails("bundle", "push", "iris_classifier", http.url("/up.bundle"), "--home", home);
    assertTrue(r.err().contains("read-only"), r.err());
    assertTrue(BundleStore.open(Path.of(consumer)).list().isEmpty(), "nothing was imported");
  }

  @Test
  void serveFromAnHttpUrl() {
    StringWriter out = new StringWriter();
    CommandLine serve = new CommandLine(new ServeCommand(server -> server.close()));
    serve.setOut(new PrintWriter(out, true));
    StringWriter err = new StringWriter();
    serve.setErr(new PrintWriter(err, true));
    int code = serve.execute(http.url("/iris.bundle") + "#" + digest, "--port", "0",
        "--home", tmp.resolve("server").toString());
    assertEquals(0, code, out + "\n" + err);
    assertTrue(out.toString().startsWith("serving iris_classifier:1.0.0 (" + digest + ")"),
        out.toString());
  }

  @Test
  void runFromHdfs() throws Exception {
    String uri = hdfs.uri("/run/iris.bundle");
    ok("bundle", "push", "iris_classifier:1.0.0", uri, "--home", home);
    Path out = tmp.resolve("scored");
    BundleCliTest.Run r = ok("run", uri, "--expected-digest", digest, "--api", "classify",
        "--input", RunCommandTest.IRIS.resolve("iris.csv").toString(), "--output",
        out.toString(), "--output-format", "csv", "--master", "local[2]", "--sidecar-mode",
        "in-process", "--home", tmp.resolve("runner").toString());
    assertTrue(r.err().contains("scored 150 rows"), r.err());
  }
}
