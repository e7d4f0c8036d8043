package dev.sidecar.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sidecar.bundle.BundleStore;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The bundle commands through picocli, on real archives and a real store. */
class BundleCliTest {
  static final Path IRIS_YAML = Path.of("..", "examples", "iris", "bundle.yaml");

  @TempDir
  Path tmp;

  record Run(int code, String out, String err) {
  }

  static Run run(String... args) {
    CommandLine cl = SidecarCli.commandLine();
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    int code = cl.execute(args);
    return new Run(code, out.toString(), err.toString());
  }

  private Run ok(String... args) {
    Run r = run(args);
    assertEquals(0, r.code(), "sidecar " + String.join(" ", args) + " failed: " + r.err());
    return r;
  }

  private String home(String name) {
    return tmp.resolve(name).toString();
  }

  @Test
  void buildThenInspectJsonShowsBothIrisApis() throws Exception {
    Run built = ok("bundle", "build", IRIS_YAML.toString(), "--home", home("h"));
    assertTrue(built.out().startsWith("built iris_classifier:1.0.0 sha256:"), built.out());

    Run r = ok("bundle", "inspect", "iris_classifier:latest", "--json", "--home", home("h"));
    JsonNode j = new ObjectMapper().readTree(r.out());
    assertEquals("iris_classifier:1.0.0", j.get("tag").asText());
    assertTrue(j.get("digest").asText().matches("sha256:[0-9a-f]{64}"));
    assertEquals(2, j.get("apis").size());

    JsonNode classify = j.get("apis").get(0);
    assertEquals("classify", classify.get("name").asText());
    assertEquals("dataframe", classify.get("input").get("kind").asText());
    assertEquals("input", classify.get("input").get("pack_into").asText());
    List<String> cols = new ArrayList<>();
    classify.get("input").get("columns").forEach(c -> cols.add(c.get("name").asText()
        + ":" + c.get("dtype").asText()));
    assertEquals(List.of("sepal_length:float32", "sepal_width:float32", "petal_length:float32",
        "petal_width:float32"), cols);
    JsonNode label = classify.get("outputs").get(0);
    assertEquals("label", label.get("name").asText());
    assertEquals("int64", label.get("dtype").asText());
    assertEquals("[\"setosa\",\"versicolor\",\"virginica\"]", label.get("labels").toString());
    assertEquals("[-1,3]", classify.get("outputs").get(1).get("shape").toString());

    JsonNode tensor = j.get("apis").get(1);
    assertEquals("classify_tensor", tensor.get("name").asText());
    assertEquals("tensor", tensor.get("input").get("kind").asText());
    JsonNode features = tensor.get("input").get("columns").get(0);
    assertEquals("features", features.get("name").asText());
    assertEquals("[-1,4]", features.get("shape").toString());
    assertEquals("input", features.get("model_input").asText());

    Run text = ok("bundle", "inspect", "iris_classifier", "--home", home("h"));
    assertTrue(text.out().contains("classify_tensor  (model classifier; batching on, max 1024"
        + " rows, 10 ms)"), text.out());
    assertTrue(text.out().contains("label  string [-1]  <- label (int64)  labels [setosa,"
        + " versicolor, virginica]"), text.out());
    assertTrue(text.out().contains("input: dataframe, packed into model input 'input'"));
  }

  @Test
  void exportThenImportIntoAFreshHomeGivesTheSameDigest() throws Exception {
    ok("bundle", "build", IRIS_YAML.toString(), "--home", home("a"));
    String digest = new ObjectMapper().readTree(ok("bundle", "inspect", "iris_classifier",
        "--json", "--home", home("a")).out()).get("digest").asText();
    Path file = tmp.resolve("iris.bundle");
    Run exported = ok("bundle", "export", "iris_classifier:1.0.0", file.toString(), "--home",
        home("a"));
    assertTrue(exported.out().contains(digest));

    Run imported = ok("bundle", "import", file.toString(), "--home", home("b"));
    assertEquals("imported iris_classifier:1.0.0 " + digest + "\n", imported.out());
    Run verify = ok("bundle", "verify", "iris_classifier", "--home", home("b"));
    assertTrue(verify.out().startsWith("ok iris_classifier:1.0.0 " + digest), verify.out());
    assertTrue(ok("bundle", "verify", file.toString()).out().contains(digest));
    JsonNode listed = new ObjectMapper().readTree(ok("bundle", "list", "--json", "--home",
        home("b")).out());
    assertEquals(1, listed.size());
    assertEquals(digest, listed.get(0).get("digest").asText());
  }

  @Test
  void verifyHashesTheCachedCopyAndRepairsAnEditThatKeptSizeAndTime() throws Exception {
    ok("bundle", "build", IRIS_YAML.toString(), "--home", home("v"));
    BundleStore store = BundleStore.open(Path.of(home("v")));
    Path model = store.load("iris_classifier:1.0.0").root().resolve("iris_classifier.onnx");
    byte[] original = Files.readAllBytes(model);
    byte[] edited = original.clone();
    edited[edited.length - 5] ^= 0x01;
    var mtime = Files.getLastModifiedTime(model);
    Files.write(model, edited);
    Files.setLastModifiedTime(model, mtime);

    Run verify = ok("bundle", "verify", "iris_classifier:1.0.0", "--home", home("v"));
    assertTrue(verify.out().contains("cached copy was damaged"), verify.out());
    assertTrue(verify.out().contains("iris_classifier.onnx"), verify.out());
    assertArrayEquals(original, Files.readAllBytes(model));
    Run again = ok("bundle", "verify", "iris_classifier:1.0.0", "--home", home("v"));
    assertTrue(again.out().contains("cached copy ok"), again.out());
  }

  @Test
  void buildToAFileListTagAndDelete() throws Exception {
    Path out = tmp.resolve("out.bundle");
    ok("bundle", "build", IRIS_YAML.toString(), "--version", "2.0.0", "--output", out.toString());
    assertTrue(Files.isRegularFile(out));
    ok("bundle", "import", out.toString(), "--home", home("h"));
    ok("bundle", "build", IRIS_YAML.toString(), "--home", home("h"));
    Run tagged = ok("bundle", "tag", "iris_classifier:1.0.0", "production", "--home", home("h"));
    assertEquals("iris_classifier:production -> iris_classifier:1.0.0\n", tagged.out());
    Run list = ok("bundle", "list", "--home", home("h"));
    assertTrue(list.out().startsWith("NAME"), list.out());
    assertTrue(list.out().contains("production"), list.out());
    assertEquals(3, list.out().lines().count());
    JsonNode prod = new ObjectMapper().readTree(ok("bundle", "inspect",
        "iris_classifier:production", "--json", "--home", home("h")).out());
    assertEquals("1.0.0", prod.get("version").asText());
    assertEquals("[\"production\"]", prod.get("aliases").toString());

    ok("bundle", "delete", "iris_classifier:production", "--home", home("h"));
    Run after = ok("bundle", "list", "--json", "--home", home("h"));
    JsonNode left = new ObjectMapper().readTree(after.out());
    assertEquals(1, left.size());
    assertEquals("2.0.0", left.get(0).get("version").asText());
  }

  @Test
  void failuresExitNonZeroWithOneLineOnStderr() throws Exception {
    Path bad = tmp.resolve("bundle.yaml");
    Files.writeString(bad, "name: x\nmodels: [{path: m.onnx}]\napis:\n"
        + "  - name: a\n    input: {kind: series, column: v, dtype: flaot32}\n");
    Run r = run("bundle", "build", bad.toString(), "--home", home("h"));
    assertEquals(SidecarCli.EXIT_FAILURE, r.code());
    assertEquals("", r.out());
    assertEquals(1, r.err().lines().count(), r.err());
    assertTrue(r.err().startsWith("sidecar: " + bad + ":5:"), r.err());
    assertTrue(r.err().contains("apis[0].input.dtype: unknown dtype 'flaot32'"), r.err());

    Run missing = run("bundle", "inspect", "nope", "--home", home("h"));
    assertEquals(SidecarCli.EXIT_FAILURE, missing.code());
    assertEquals(1, missing.err().lines().count(), missing.err());
    assertTrue(missing.err().contains("no bundle named 'nope'"), missing.err());

    Path junk = tmp.resolve("junk.bundle");
    Files.writeString(junk, "junk");
    Run corrupt = run("bundle", "verify", junk.toString());
    assertEquals(SidecarCli.EXIT_FAILURE, corrupt.code());
    assertEquals(1, corrupt.err().lines().count(), corrupt.err());
    assertTrue(corrupt.err().contains("not a sidecar bundle"), corrupt.err());

    Run verbose = run("bundle", "verify", junk.toString(), "--verbose");
    assertEquals(SidecarCli.EXIT_FAILURE, verbose.code());
    assertTrue(verbose.err().contains("at dev.sidecar."), verbose.err());
  }

  @Test
  void usageErrorsExit2WithOneLine() {
    Run r = run("bundle", "build", "x.yaml", "--bogus");
    assertEquals(SidecarCli.EXIT_USAGE, r.code());
    assertEquals(1, r.err().lines().count(), r.err());
    assertTrue(r.err().startsWith("sidecar: Unknown option: '--bogus'"), r.err());
    assertTrue(r.err().contains("see 'sidecar bundle build --help'"), r.err());
    Run missing = run("bundle", "export", "iris");
    assertEquals(SidecarCli.EXIT_USAGE, missing.code());
    assertTrue(missing.err().contains("Missing required parameter: 'FILE'"), missing.err());
  }

  @Test
  void helpDocumentsEveryOptionWithItsDefault() {
    Run root = ok("--help");
    assertTrue(root.out().contains("bundle"), root.out());
    assertTrue(ok("--version").out().startsWith("sidecar "));
    for (String cmd : List.of("build", "list", "inspect", "export", "import", "delete", "verify",
        "tag")) {
      Run h = ok("bundle", cmd, "--help");
      assertTrue(h.out().contains("--home=DIR") && h.out().contains("Default: $SIDECAR_HOME"),
          cmd + ": " + h.out());
      assertFalse(h.err().contains("Exception"), h.err());
    }
    String build = ok("bundle", "build", "--help").out();
    assertTrue(build.contains("--version=V") && build.contains("--output=FILE"), build);
  }
}
