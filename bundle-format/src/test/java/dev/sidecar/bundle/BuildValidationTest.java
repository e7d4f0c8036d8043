package dev.sidecar.bundle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.testkit.OnnxModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Build-time validation against real ONNX models in ONNX Runtime: omitted fields are filled
 * from the model, mismatches are refused with a message naming API, column and model input,
 * and a refused bundle is never written.
 */
class BuildValidationTest {
  @TempDir
  Path tmp;

  private Path out() {
    return tmp.resolve("out").resolve("b.bundle");
  }

  private String refusedIris(String apiBlock) {
    Path yaml = TestBundles.spec(tmp.resolve("src"), TestBundles.irisYaml("iris", apiBlock));
    String msg = assertThrows(BundleException.class,
        () -> BundleBuilder.fromSpec(yaml).createdAt(TestBundles.T0).build(out())).getMessage();
    assertFalse(Files.exists(out()), "a refused bundle must not be written");
    assertEquals(List.of(), TestBundles.leftovers(tmp.resolve("out")));
    return msg;
  }

  /** A spec beside a model made by the testkit. */
  private Path specWithModel(String dir, byte[] model, String yamlApis) throws Exception {
    Path d = Files.createDirectories(tmp.resolve(dir));
    Files.write(d.resolve("model.onnx"), model);
    Path yaml = d.resolve("bundle.yaml");
    Files.writeString(yaml, "name: " + dir + "\nmodels: [{name: m, path: model.onnx}]\napis:\n"
        + yamlApis);
    return yaml;
  }

  private BundleInfo build(Path yaml) {
    return BundleBuilder.fromSpec(yaml).version("1").createdAt(TestBundles.T0)
        .build(yaml.resolveSibling("b.bundle"));
  }

  @Test
  void wrongDtypeIsRefused() {
    String msg = refusedIris("    input:\n      kind: dataframe\n      pack_into: input\n"
        + "      columns: [{name: a, dtype: int64}, b, c, d]\n");
    assertTrue(msg.endsWith("api 'classify': column 'a' feeds model input 'input' of dtype"
        + " float32 but is declared int64"), msg);
    assertTrue(msg.contains("bundle.yaml:5:5: "), msg);
  }

  @Test
  void wrongInputNameIsRefused() {
    String msg = refusedIris("    input: {kind: tensor, column: f, model_input: features}\n");
    assertTrue(msg.endsWith("api 'classify': column 'f' feeds model input 'features', which"
        + " model 'classifier' does not have; its inputs are [input]"), msg);
  }

  @Test
  void wrongOutputNameIsRefused() {
    String msg = refusedIris("    input: {kind: tensor, column: f}\n"
        + "    outputs: [{name: p, from: proba}]\n");
    assertTrue(msg.endsWith("api 'classify': output 'p' comes from model output 'proba', which"
        + " model 'classifier' does not have; its outputs are [label, probabilities]"), msg);
  }

  @Test
  void wrongRankIsRefused() {
    String msg = refusedIris("    input: {kind: tensor, column: f, shape: [-1, 4, 1]}\n");
    assertTrue(msg.endsWith("api 'classify': column 'f' has shape [-1, 4, 1] (rank 3) but model"
        + " input 'input' has shape [N, 4] (rank 2)"), msg);
    msg = refusedIris("    input: {kind: tensor, column: f, shape: [-1, 5]}\n");
    assertTrue(msg.contains("column 'f' has shape [-1, 5] but model input 'input' has shape"
        + " [N, 4] (dimension 1 differs)"), msg);
    msg = refusedIris("    input: {kind: series, column: f}\n");
    assertTrue(msg.contains("column 'f' has shape [-1] (rank 1) but model input 'input' has"
        + " shape [N, 4] (rank 2)"), msg);
    msg = refusedIris("    input: {kind: tensor, column: f}\n    outputs:\n"
        + "      - {name: p, from: probabilities, shape: [-1]}\n");
    assertTrue(msg.contains("output 'p' has shape [-1] (rank 1) but model output"
        + " 'probabilities' has shape [N, 3] (rank 2)"), msg);
  }

  @Test
  void packCountMismatchIsRefused() {
    String msg = refusedIris("    input:\n      kind: dataframe\n      pack_into: input\n"
        + "      columns: [a, b, c]\n");
    assertTrue(msg.endsWith("api 'classify': the dataframe packs 3 columns into model input"
        + " 'input' of shape [N, 4], which takes 4 columns"), msg);
  }

  @Test
  void unpackedDataframeOnA2dInputIsRefused() {
    String msg = refusedIris("    input: {kind: dataframe, columns: [input]}\n");
    assertTrue(msg.contains("column 'input' has shape [-1] (rank 1) but model input 'input' has"
        + " shape [N, 4] (rank 2)"), msg);
  }

  @Test
  void outputDtypeAndLabelsAreChecked() {
    String msg = refusedIris("    input: {kind: tensor, column: f}\n"
        + "    outputs: [{name: p, from: probabilities, dtype: float64}]\n");
    assertTrue(msg.endsWith("api 'classify': output 'p' comes from model output 'probabilities'"
        + " of dtype float32 but is declared float64"), msg);
    msg = refusedIris("    input: {kind: tensor, column: f}\n"
        + "    outputs: [{name: p, from: probabilities, labels: [a, b, c]}]\n");
    assertTrue(msg.endsWith("api 'classify': output 'p' has class labels but model output"
        + " 'probabilities' is float32; labels need an integer output"), msg);
  }

  @Test
  void tooFewLabelsAreCaughtByTheSmokeInference() throws Exception {
    Path yaml = specWithModel("labels", OnnxModels.identity(DType.INT64.onnxType(), -1),
        "  - name: a\n    input: {kind: series, column: x}\n"
        + "    outputs: [{name: y, labels: [only]}]\n");
    String msg = assertThrows(BundleException.class, () -> build(yaml)).getMessage();
    assertTrue(msg.contains("api 'a': output 'y' produced class index 1 in the smoke inference,"
        + " but only 1 labels are declared [only]"), msg);
  }

  @Test
  void unfedModelInputIsRefused() throws Exception {
    Path yaml = specWithModel("unfed", OnnxModels.columnsSum("a", "b"),
        "  - name: s\n    input: {kind: dataframe, columns: [a]}\n");
    String msg = assertThrows(BundleException.class, () -> build(yaml)).getMessage();
    assertTrue(msg.contains("api 's': model 'm' input 'b' is fed by no column; the model needs"
        + " inputs [a, b]"), msg);
  }

  /** A model input of a dtype sidecar has no name for is refused naming it, declared or not. */
  @Test
  void anUnsupportedElementTypeIsNamed() throws Exception {
    int uint32 = 12; // ONNX TensorProto.DataType.UINT32
    for (String dtype : new String[] {"", ", dtype: int32"}) {
      Path yaml = specWithModel("u32" + dtype.length(), OnnxModels.identity(uint32, -1),
          "  - name: u\n    input: {kind: series, column: x" + dtype + "}\n");
      String msg = assertThrows(BundleException.class, () -> build(yaml)).getMessage();
      assertTrue(msg.contains("model 'm' input 'x': unsupported element type uint32"), msg);
    }
  }

  @Test
  void dynamicDimensionsNeedADeclaredShape() throws Exception {
    Path yaml = specWithModel("dyn", OnnxModels.identity(DType.FLOAT32.onnxType(), -1, -1),
        "  - name: t\n    input: {kind: tensor, column: x}\n    outputs: [{name: y, shape: [-1, 3]}]\n");
    String msg = assertThrows(BundleException.class, () -> build(yaml)).getMessage();
    assertTrue(msg.contains("model input 'x' has shape [N, ?] with a dynamic dimension 1;"
        + " declare the column's shape"), msg);
    Path ok = specWithModel("dyn2", OnnxModels.identity(DType.FLOAT32.onnxType(), -1, -1),
        "  - name: t\n    input: {kind: tensor, column: x, shape: [-1, 3]}\n"
        + "    outputs: [{name: y, shape: [-1, 3]}]\n");
    ApiSpec api = build(ok).manifest().api("t");
    assertEquals(List.of(-1L, 3L), api.input().columns().get(0).shape());
  }

  @Test
  void unpackedDataframeFeedsNx1InputsAndSqueezesTheOutput() throws Exception {
    Path yaml = specWithModel("sum", OnnxModels.columnsSum("a", "b"),
        "  - name: s\n    input: {kind: dataframe, columns: [{name: first, model_input: a},"
        + " {name: b, dtype: float32}]}\n    outputs: [{name: total, from: sum, shape: [-1]}]\n");
    ApiSpec api = build(yaml).manifest().api("s");
    assertEquals(List.of(new ColumnSpec("first", DType.FLOAT32, List.of(-1L), "a"),
        new ColumnSpec("b", DType.FLOAT32, List.of(-1L), "b")), api.input().columns());
    assertEquals(List.of(new OutputSpec("total", "sum", DType.FLOAT32, List.of(-1L), List.of())),
        api.outputs());
    assertFalse(api.input().packed());
  }

  @Test
  void seriesFeedsAnNx1InputAndOmittedOutputsComeFromTheModel() throws Exception {
    Path yaml = specWithModel("series", OnnxModels.columnsSum("x"),
        "  - name: s\n    input: {kind: series, column: value, model_input: x}\n");
    ApiSpec api = build(yaml).manifest().api("s");
    assertEquals(List.of(new ColumnSpec("value", DType.FLOAT32, List.of(-1L), "x")),
        api.input().columns());
    assertEquals(List.of(new OutputSpec("sum", "sum", DType.FLOAT32, List.of(-1L, 1L),
        List.of())), api.outputs());

    Path iris = TestBundles.spec(tmp.resolve("iris-all"), TestBundles.irisYaml("iris",
        "    input: {kind: tensor, column: f}\n"));
    ApiSpec all = BundleBuilder.fromSpec(iris).createdAt(TestBundles.T0)
        .build(tmp.resolve("all.bundle")).manifest().api("classify");
    assertEquals(List.of(new ColumnSpec("f", DType.FLOAT32, List.of(-1L, 4L), "input")),
        all.input().columns());
    assertEquals(List.of(new OutputSpec("label", "label", DType.INT64, List.of(-1L), List.of()),
        new OutputSpec("probabilities", "probabilities", DType.FLOAT32, List.of(-1L, 3L),
            List.of())), all.outputs());
  }

  @Test
  void everyDtypeResolvesFromTheModelAndPassesTheSmokeInference() throws Exception {
    for (DType t : DType.values()) {
      Path yaml = specWithModel("id-" + t.id(), OnnxModels.identity(t.onnxType(), -1),
          "  - name: s\n    input: {kind: series, column: v}\n"
          + "  - name: t\n    input: {kind: tensor, column: w, dtype: " + t.id() + "}\n");
      Manifest m = build(yaml).manifest();
      ApiSpec s = m.api("s");
      assertEquals(new ColumnSpec("v", t, List.of(-1L), "x"), s.input().columns().get(0), t.id());
      assertEquals(List.of(new OutputSpec("y", "y", t, List.of(-1L), List.of())), s.outputs());
      assertEquals(t, m.api("t").input().columns().get(0).dtype());
    }
  }

  @Test
  void fixedBatchDimensionIsRefused() throws Exception {
    Path yaml = specWithModel("fixed", OnnxModels.identity(DType.FLOAT32.onnxType(), 1, 4),
        "  - name: t\n    input: {kind: tensor, column: x}\n");
    String msg = assertThrows(BundleException.class, () -> build(yaml)).getMessage();
    assertTrue(msg.contains("model input 'x' has shape [1, 4] with a fixed batch dimension 1"),
        msg);
  }

  @Test
  void missingAndUnsafeFilesAreRefused() throws Exception {
    Path yaml = specWithModel("files", OnnxModels.identity(DType.FLOAT32.onnxType(), -1),
        "  - name: t\n    input: {kind: series, column: x}\nfiles: [NOTES.md]\n");
    String msg = assertThrows(BundleException.class, () -> build(yaml)).getMessage();
    assertTrue(msg.contains("files[0]: ") && msg.endsWith("NOTES.md does not exist"), msg);
    Files.writeString(yaml, Files.readString(yaml).replace("NOTES.md", "../x.txt"));
    msg = assertThrows(BundleException.class, () -> build(yaml)).getMessage();
    assertTrue(msg.contains("files[0]: '../x.txt' cannot be stored in the bundle ('..' segments"
        + " are not allowed)"), msg);
  }

  @Test
  void aFileThatIsNotAModelIsRefusedByOnnxRuntime() throws Exception {
    Path yaml = specWithModel("garbage", "not onnx".getBytes(java.nio.charset.StandardCharsets.UTF_8),
        "  - name: t\n    input: {kind: series, column: x}\n");
    String msg = assertThrows(BundleException.class, () -> build(yaml)).getMessage();
    assertTrue(msg.startsWith("model 'm' (") && msg.contains("ONNX Runtime cannot load it"), msg);
    assertFalse(Files.exists(yaml.resolveSibling("b.bundle")));
  }

  @Test
  void labelsMustNameEveryClassOfTheIrisModel() {
    String msg = refusedIris("    input: {kind: tensor, column: f}\n"
        + "    outputs: [{name: label, labels: [setosa]}, probabilities]\n");
    assertTrue(msg.endsWith("api 'classify': output 'label' declares 1 labels [setosa] but model"
        + " 'classifier' has 3 classes (output 'probabilities' from model output 'probabilities'"
        + " has shape [-1, 3]); declare one label per class, in class order"), msg);
  }

  @Test
  void labelsMustNameEveryClassOfAProbabilitiesOutput() throws Exception {
    byte[] model = OnnxModels.linearClassifier("x", 4, 5, 7);
    Path yaml = specWithModel("lc", model, "  - name: score\n    input: {kind: tensor, column: x}\n"
        + "    outputs: [{name: label, labels: [a, b, c]}, probabilities]\n");
    String msg = assertThrows(BundleException.class, () -> build(yaml)).getMessage();
    assertTrue(msg.contains("api 'score': output 'label' declares 3 labels [a, b, c] but model"
        + " 'm' has 5 classes"), msg);
    Path ok = specWithModel("lc-ok", model, "  - name: score\n    input: {kind: tensor, column: x}\n"
        + "    outputs: [{name: label, labels: [a, b, c, d, e]}, probabilities]\n");
    build(ok);
  }

  /** An ai.onnx.ml LinearClassifier (as skl2onnx writes) whose scores have a dynamic width. */
  private static byte[] mlLinearClassifier(long... classLabels) {
    int k = classLabels.length;
    float[] coefficients = new float[k * 2];
    for (int i = 0; i < coefficients.length; i++) {
      coefficients[i] = (i % 3) - 1f;
    }
    return OnnxModels.graph("ml_linear")
        .input("x", 1, -1, 2)
        .output("label", 7, -1)
        .output("scores", 1, -1, -1)
        .node(OnnxModels.ML_DOMAIN, "LinearClassifier", List.of("x"), List.of("raw", "scores"),
            OnnxModels.Attr.ints("classlabels_ints", classLabels),
            OnnxModels.Attr.floats("coefficients", coefficients),
            OnnxModels.Attr.floats("intercepts", new float[k]))
        .node("Identity", List.of("raw"), List.of("label"))
        .build();
  }

  @Test
  void labelsMustNameEveryClassOfAnOnnxMlClassifier() throws Exception {
    String api = "  - name: classify\n    input: {kind: tensor, column: x}\n"
        + "    outputs: [{name: label, labels: [only]}, {name: scores, shape: [-1, 3]}]\n";
    Path yaml = specWithModel("ml", mlLinearClassifier(0, 1, 2), api);
    String msg = assertThrows(BundleException.class, () -> build(yaml)).getMessage();
    assertTrue(msg.contains("api 'classify': output 'label' declares 1 labels [only] but model"
        + " 'm' has 3 classes (the classlabels_ints of its LinearClassifier node"), msg);
    assertTrue(msg.contains("which produces model output 'label'"), msg);

    Path shifted = specWithModel("ml-shifted", mlLinearClassifier(1, 2, 3), api.replace(
        "[only]", "[a, b, c]"));
    msg = assertThrows(BundleException.class, () -> build(shifted)).getMessage();
    assertTrue(msg.contains("produces the class values [1, 2, 3]"), msg);

    build(specWithModel("ml-ok", mlLinearClassifier(0, 1, 2), api.replace("[only]",
        "[a, b, c]")));
  }
}
