package dev.sidecar.bundle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.testkit.OnnxModels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Model outputs that are sequences of maps (a ZipMap, as skl2onnx gives a classifier's
 * probabilities) at build time: without {@code outputs:} they become a probabilities array in
 * the ZipMap's class order, {@code as: map} asks for a map column, the manifest records the
 * keys, and an output that cannot be a column fails the build naming it (none is dropped).
 */
class ClassMapOutputTest {
  @TempDir
  Path tmp;

  private Path spec(String dir, byte[] model, String yamlApis) throws Exception {
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

  private String refused(Path yaml) {
    String msg = assertThrows(BundleException.class, () -> build(yaml)).getMessage();
    assertFalse(Files.exists(yaml.resolveSibling("b.bundle")), "a refused bundle is not written");
    return msg;
  }

  @Test
  void withoutOutputsAZipMapBecomesAnArrayInTheNodesClassOrder() throws Exception {
    Path yaml = spec("zm", OnnxModels.zipMapClassifier(4, 7L, 30L, 10L, 20L),
        "  - name: c\n    input: {kind: tensor, column: f}\n");
    BundleInfo info = build(yaml);
    ApiSpec api = info.manifest().api("c");
    assertEquals(List.of(
        new OutputSpec("label", "label", DType.INT64, List.of(-1L), List.of()),
        new OutputSpec("output_probability", "output_probability", DType.FLOAT32,
            List.of(-1L, 3L), List.of(),
            new OutputSpec.ClassMap(DType.INT64, List.of("30", "10", "20"), false))),
        api.outputs());
    // The manifest records the keys, and reads back the same.
    String json = info.manifest().toJson();
    assertTrue(json.contains("\"class_map\" : {\n        \"as\" : \"array\",\n"
        + "        \"key_dtype\" : \"int64\",\n        \"keys\" : [ \"30\", \"10\", \"20\" ]"),
        json);
    assertEquals(info.manifest(), Manifest.fromJson(json.getBytes(StandardCharsets.UTF_8)));
  }

  @Test
  void asMapAsksForAMapColumnWithStringKeys() throws Exception {
    Path yaml = spec("zms", OnnxModels.zipMapClassifier(4, 7L, "setosa", "versicolor",
        "virginica"), "  - name: c\n    input: {kind: tensor, column: f}\n    outputs:\n"
        + "      - label\n      - {name: probs, from: output_probability, as: map}\n");
    ApiSpec api = build(yaml).manifest().api("c");
    assertEquals(new OutputSpec("probs", "output_probability", DType.FLOAT32, List.of(-1L, 3L),
        List.of(), new OutputSpec.ClassMap(DType.STRING, List.of("setosa", "versicolor",
            "virginica"), true)), api.outputs().get(1));
  }

  @Test
  void aDeclaredZipMapOutputIsCheckedAgainstTheModel() throws Exception {
    byte[] model = OnnxModels.zipMapClassifier(4, 7L, 0L, 1L, 2L);
    assertTrue(refused(spec("shape", model, "  - name: c\n    input: {kind: tensor, column: f}\n"
        + "    outputs: [{name: p, from: output_probability, shape: [-1, 4]}]\n"))
        .endsWith("api 'c': output 'p' comes from model output 'output_probability', a sequence"
            + " of maps over 3 classes served as shape [-1, 3], but is declared shape [-1, 4]"));
    assertTrue(refused(spec("dtype", model, "  - name: c\n    input: {kind: tensor, column: f}\n"
        + "    outputs: [{name: p, from: output_probability, dtype: float64}]\n"))
        .contains("served as float32 probabilities, but is declared float64"));
    assertTrue(refused(spec("astensor", model, "  - name: c\n    input: {kind: tensor, column: f}\n"
        + "    outputs: [{name: l, from: label, as: map}]\n"))
        .endsWith("api 'c': output 'l' declares as: map, but model output 'label' is a tensor;"
            + " 'as' applies to outputs that are sequences of maps (ZipMap)"));
  }

  @Test
  void asTakesArrayOrMapOnly() throws Exception {
    Path yaml = spec("bad-as", OnnxModels.zipMapClassifier(4, 7L, 0L, 1L),
        "  - name: c\n    input: {kind: tensor, column: f}\n"
        + "    outputs: [{name: p, from: output_probability, as: dict}]\n");
    String msg = refused(yaml);
    assertTrue(msg.contains("apis[0].outputs[0].as: unknown value 'dict', expected 'array' (the"
        + " probabilities in class order) or 'map' (class key -> probability)"), msg);
  }

  @Test
  void anOutputThatCannotBeAColumnFailsTheBuildNamingIt() throws Exception {
    byte[] model = OnnxModels.sequenceOutput();
    String msg = refused(spec("seq", model, "  - name: s\n    input: {kind: series, column: x}\n"));
    assertTrue(msg.contains("api 's': model output 'parts' is "), msg);
    assertTrue(msg.endsWith("which cannot be a column: sidecar serves tensors and sequences of"
        + " maps from int64 or string keys to float (ZipMap); list the outputs to expose under"
        + " outputs: in bundle.yaml, leaving 'parts' out (the model's outputs are [y, parts])"),
        msg);
    // Listing the others is the way out.
    ApiSpec api = build(spec("seq-ok", model, "  - name: s\n    input: {kind: series, column: x}\n"
        + "    outputs: [y]\n")).manifest().api("s");
    assertEquals(List.of("y"), api.outputs().stream().map(OutputSpec::name).toList());
    assertTrue(refused(spec("seq-declared", model, "  - name: s\n    input: {kind: series,"
        + " column: x}\n    outputs: [y, parts]\n")).endsWith("remove it from outputs:"));
  }

  @Test
  void aManifestClassMapIsCheckedWhenRead() throws Exception {
    BundleInfo info = build(spec("read", OnnxModels.zipMapClassifier(4, 7L, 5L, 6L),
        "  - name: c\n    input: {kind: tensor, column: f}\n"));
    String json = info.manifest().toJson();
    String twice = json.replace("\"keys\" : [ \"5\", \"6\" ]", "\"keys\" : [ \"5\", \"5\" ]");
    String notInt = json.replace("\"keys\" : [ \"5\", \"6\" ]", "\"keys\" : [ \"5\", \"x\" ]");
    String wrongShape = json.replace("\"keys\" : [ \"5\", \"6\" ]", "\"keys\" : [ \"5\" ]");
    assertTrue(unreadable(twice).endsWith("manifest.json apis[0].outputs[1].class_map.keys: a"
        + " key is listed twice"), unreadable(twice));
    assertTrue(unreadable(notInt).endsWith("manifest.json apis[0].outputs[1].class_map.keys[1]:"
        + " expected an int64 key in decimal"), unreadable(notInt));
    assertTrue(unreadable(wrongShape).contains("manifest.json apis[0].outputs[1]: output"
        + " 'output_probability' from a sequence of maps must be float32 [-1, 1]"),
        unreadable(wrongShape));
  }

  private static String unreadable(String json) {
    return assertThrows(BundleException.class,
        () -> Manifest.fromJson(json.getBytes(StandardCharsets.UTF_8))).getMessage();
  }
}
