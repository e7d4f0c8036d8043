package dev.sidecar.bundle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** bundle.yaml parsing: the happy path, and every unreadable spec refused with the field named. */
class SpecParseTest {
  @TempDir
  Path tmp;

  private Path write(String yaml) throws Exception {
    Path p = tmp.resolve("bundle.yaml");
    Files.writeString(p, yaml);
    return p;
  }

  private String refused(String yaml) throws Exception {
    Path p = write(yaml);
    return assertThrows(BundleException.class, () -> BundleSpec.parse(p)).getMessage();
  }

  @Test
  void theIrisExampleParses() {
    BundleSpec s = BundleSpec.parse(TestBundles.IRIS_DIR.resolve("bundle.yaml"));
    assertEquals("iris_classifier", s.name());
    assertEquals("1.0.0", s.version());
    assertEquals("ml-team", s.labels().get("owner"));
    assertEquals(List.of(new BundleSpec.ModelDecl("classifier", "iris_classifier.onnx")),
        s.models());
    BundleSpec.ApiDecl classify = s.apis().get(0);
    assertEquals("input", classify.input().packInto());
    assertEquals(4, classify.input().columns().size());
    assertEquals(DType.FLOAT32, classify.input().columns().get(2).dtype());
    assertEquals(List.of("setosa", "versicolor", "virginica"),
        classify.outputs().get(0).labels());
    assertEquals(new BatchingSpec(true, 1024, 10), classify.batching());
    BundleSpec.ApiDecl tensor = s.apis().get(1);
    assertEquals(InputDescriptor.Kind.TENSOR, tensor.input().kind());
    assertEquals(new BundleSpec.ColumnDecl("features", DType.FLOAT32, List.of(-1L, 4L), "input"),
        tensor.input().columns().get(0));
    assertEquals(List.of("README.md"), s.files());
  }

  @Test
  void shorthandsAndDefaults() throws Exception {
    BundleSpec s = BundleSpec.parse(write("name: x\nmodels: [{path: m.onnx}]\napis:\n"
        + "  - name: a\n    input: {kind: series, column: v}\n"
        + "  - name: b\n    input: {kind: dataframe, columns: [p, {name: q, dtype: double}]}\n"
        + "    outputs: [y]\n    batching: {enabled: false}\n"));
    assertNull(s.version());
    assertEquals("m", s.models().get(0).name());
    BundleSpec.ApiDecl a = s.apis().get(0);
    assertNull(a.model());
    assertNull(a.outputs());
    assertEquals(new BundleSpec.ColumnDecl("v", null, List.of(-1L), null),
        a.input().columns().get(0));
    assertEquals(BatchingSpec.defaults(), a.batching());
    BundleSpec.ApiDecl b = s.apis().get(1);
    assertEquals(new BundleSpec.ColumnDecl("p", null, null, null), b.input().columns().get(0));
    assertEquals(DType.FLOAT64, b.input().columns().get(1).dtype());
    assertEquals(new BundleSpec.OutputDecl("y", "y", null, null, List.of()), b.outputs().get(0));
    assertEquals(new BatchingSpec(false, 1024, 10), b.batching());
  }

  private static final String HEAD = "name: iris\nmodels:\n  - {name: c, path: m.onnx}\napis:\n";

  @Test
  void badDtypeNamesFieldPathLineAndChoices() throws Exception {
    String msg = refused(HEAD + "  - name: classify\n    input:\n      kind: dataframe\n"
        + "      columns:\n        - {name: a, dtype: float32}\n        - {name: b}\n"
        + "        - {name: c, dtype: flaot32}\n");
    assertTrue(msg.contains("bundle.yaml:11:28: apis[0].input.columns[2].dtype: unknown dtype"
        + " 'flaot32', expected one of [bool, int8, int16, int32, int64, uint8, float16, float32,"
        + " float64, string]"), msg);
  }

  @Test
  void unknownKeyIsRefusedWithASuggestion() throws Exception {
    String msg = refused(HEAD + "  - name: classify\n    input:\n      kind: dataframe\n"
        + "      colums: [a]\n");
    assertTrue(msg.contains("bundle.yaml:8:7: apis[0].input.colums: unknown key 'colums'"
        + " (did you mean 'columns'?), expected one of [columns, kind, pack_into]"), msg);
    msg = refused("name: x\nversoin: 1\n" + HEAD.substring(11));
    assertTrue(msg.contains(":2:1: versoin: unknown key 'versoin' (did you mean 'version'?)"), msg);
  }

  @Test
  void badYamlIsRefusedWithTheLine() throws Exception {
    String msg = refused("name: x\nmodels: [\n  - a: b\napis: {\n");
    assertTrue(msg.contains("bundle.yaml:") && msg.contains("invalid YAML"), msg);
    msg = refused("name: x\n  bad indent: 1\n");
    assertTrue(msg.matches(".*bundle\\.yaml:2:\\d+: invalid YAML: .*"), msg);
  }

  @Test
  void structuralErrorsNameTheField() throws Exception {
    assertTrue(refused("").contains("the file is empty"));
    assertTrue(refused("- a\n- b\n").contains("(top level): expected a mapping"));
    assertTrue(refused("name: Bad Name\n").contains("name: invalid bundle name 'Bad Name'"));
    assertTrue(refused("name: x\napis: []\n").contains("models: missing"));
    assertTrue(refused("name: x\nmodels: []\napis: []\n")
        .contains("models: a bundle needs at least one model"));
    assertTrue(refused("name: x\nmodels: [{name: c}]\napis: []\n")
        .contains("models[0].path: missing"));
    assertTrue(refused(HEAD + "  - name: a\n    input: {kind: matrix, column: x}\n")
        .contains("apis[0].input.kind: unknown kind 'matrix', expected one of [tensor,"
            + " dataframe, series]"));
    assertTrue(refused(HEAD + "  - name: a\n    model: nope\n    input: {kind: series, column: x}\n")
        .contains("apis[0].model: unknown model 'nope', expected one of [c]"));
    assertTrue(refused(HEAD + "  - name: a\n    input: {kind: tensor, column: x, shape: [4, 4]}\n")
        .contains("apis[0].input.shape[0]: the batch dimension must be -1, found 4"));
    assertTrue(refused(HEAD + "  - name: a\n    input: {kind: tensor, column: x, shape: -1}\n")
        .contains("apis[0].input.shape: expected a list"));
    assertTrue(refused(HEAD + "  - name: a\n    input: {kind: series, column: x, shape: [-1]}\n")
        .contains("apis[0].input.shape: unknown key 'shape'"));
    assertTrue(refused(HEAD + "  - name: a\n    input: {kind: series, column: x}\n"
        + "    batching: {max_batch_size: 0}\n")
        .contains("apis[0].batching: max_batch_size must be in [1, 16777216] rows, found 0"));
    assertTrue(refused(HEAD + "  - name: a\n    input: {kind: series, column: x}\n"
        + "    batching: {enabled: maybe}\n")
        .contains("apis[0].batching.enabled: expected true or false, found 'maybe'"));
    assertTrue(refused(HEAD + "  - name: a\n    input: {kind: series, column: x}\n"
        + "    outputs: [{name: y, dtype: float32, labels: [a, b]}]\n")
        .contains("apis[0].outputs[0].labels: class labels need an integer output"));
    assertTrue(refused(HEAD + "  - name: a\n    input: {kind: dataframe, columns: [x, x]}\n")
        .contains("apis[0].input.columns[1].name: duplicate column 'x'"));
    assertTrue(refused(HEAD + "  - name: a\n    input: {kind: series, column: x}\n"
        + "  - name: a\n    input: {kind: series, column: x}\n")
        .contains("apis[1].name: duplicate API name 'a'"));
    assertTrue(refused(HEAD + "  - name: a\n    input: {kind: dataframe, pack_into: in,"
        + " columns: [{name: x, model_input: other}]}\n")
        .contains("column 'x' names model input 'other' but the dataframe is packed into 'in'"));
    assertTrue(refused("name: x\nname: y\n").contains("name: duplicate key 'name'"));
    assertTrue(refused("name: x\nmodels: [{path: a.onnx}, {path: b.onnx}]\napis:\n"
        + "  - name: a\n    input: {kind: series, column: x}\n")
        .contains("apis[0].model: missing; the bundle has several models [a, b]"));
  }

  @Test
  void missingFileIsNamed() {
    Path p = tmp.resolve("nope.yaml");
    String msg = assertThrows(BundleException.class, () -> BundleSpec.parse(p)).getMessage();
    assertEquals(p + ": no such file", msg);
  }
}
