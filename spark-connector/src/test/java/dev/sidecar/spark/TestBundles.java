package dev.sidecar.spark;

import dev.sidecar.bundle.BundleBuilder;
import dev.sidecar.bundle.BundleInfo;
import dev.sidecar.proto.onnx.TensorProto;
import dev.sidecar.testkit.OnnxModels;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** Bundles built in code for the connector's tests: real ONNX files, real archives. */
public final class TestBundles {
  /** An archive on disk and what building it said. */
  public record Built(Path archive, BundleInfo info) {
    public String digest() {
      return info.digest();
    }
  }

  static final int FLOAT = TensorProto.DataType.FLOAT_VALUE;
  static final int DOUBLE = TensorProto.DataType.DOUBLE_VALUE;
  static final int INT8 = TensorProto.DataType.INT8_VALUE;
  static final int UINT8 = TensorProto.DataType.UINT8_VALUE;
  static final int INT16 = TensorProto.DataType.INT16_VALUE;
  static final int INT32 = TensorProto.DataType.INT32_VALUE;
  static final int INT64 = TensorProto.DataType.INT64_VALUE;
  static final int BOOL = TensorProto.DataType.BOOL_VALUE;
  static final int STRING = TensorProto.DataType.STRING_VALUE;
  static final int FLOAT16 = TensorProto.DataType.FLOAT16_VALUE;

  private TestBundles() {
  }

  /** Where test bundles go: {@code target/test-bundles} of the module. */
  public static Path root() {
    return Path.of("target", "test-bundles").toAbsolutePath();
  }

  /** The iris example bundle, built from the repository's {@code examples/iris/bundle.yaml}. */
  public static Built iris() {
    Path yaml = Path.of("..", "examples", "iris", "bundle.yaml").toAbsolutePath().normalize();
    Path archive = root().resolve("iris_classifier.bundle");
    return new Built(archive, buildOnce(yaml, archive));
  }

  /** {@code examples/iris} (csv, expected predictions). */
  public static Path irisDir() {
    return Path.of("..", "examples", "iris").toAbsolutePath().normalize();
  }

  /**
   * One identity model per dtype and one API per column kind. Each API reads the column named
   * like the API and answers with {@code out}.
   *
   * <ul>
   *   <li>scalars (series): f32, f64, i8, u8, i16, i32, i64, bool, str, f16
   *   <li>arrays ([-1, 3]): f32x3_arr (array), f32x3_vec (ML vector), i64x3 (array of longs),
   *       strx2 (array of strings), boolx2 (array of booleans)
   *   <li>sum: a dataframe of three float columns a, b, c, each its own model input
   * </ul>
   */
  public static Built kinds() {
    return kinds("kinds", "1.0.0");
  }

  /** Same models and APIs under another name/version, so a test gets its own digest. */
  public static Built kinds(String name, String version) {
    Map<String, byte[]> models = new LinkedHashMap<>();
    StringBuilder apis = new StringBuilder();
    scalar(models, apis, "f32", FLOAT, "float32");
    scalar(models, apis, "f64", DOUBLE, "float64");
    scalar(models, apis, "i8", INT8, "int8");
    scalar(models, apis, "u8", UINT8, "uint8");
    scalar(models, apis, "i16", INT16, "int16");
    scalar(models, apis, "i32", INT32, "int32");
    scalar(models, apis, "i64", INT64, "int64");
    scalar(models, apis, "bool", BOOL, "bool");
    scalar(models, apis, "str", STRING, "string");
    scalar(models, apis, "f16", FLOAT16, "float16");
    models.put("id_f32x3", OnnxModels.identity(FLOAT, -1, 3));
    models.put("id_i64x3", OnnxModels.identity(INT64, -1, 3));
    models.put("id_strx2", OnnxModels.identity(STRING, -1, 2));
    models.put("id_boolx2", OnnxModels.identity(BOOL, -1, 2));
    array(apis, "f32x3_arr", "id_f32x3", "float32", 3);
    array(apis, "f32x3_vec", "id_f32x3", "float32", 3);
    array(apis, "i64x3", "id_i64x3", "int64", 3);
    array(apis, "strx2", "id_strx2", "string", 2);
    array(apis, "boolx2", "id_boolx2", "bool", 2);
    models.put("sum3", OnnxModels.columnsSum1d("a", "b", "c"));
    apis.append("  - name: sum\n    model: sum3\n    input:\n      kind: dataframe\n"
        + "      columns:\n        - {name: a, dtype: float32, model_input: a}\n"
        + "        - {name: b, dtype: float32, model_input: b}\n"
        + "        - {name: c, dtype: float32, model_input: c}\n"
        + "    outputs: [{name: out, from: sum}]\n");
    return build(name, version, models, apis.toString());
  }

  private static void scalar(Map<String, byte[]> models, StringBuilder apis, String api,
      int elemType, String dtype) {
    models.put("id_" + api, OnnxModels.identity(elemType));
    apis.append("  - name: ").append(api).append("\n    model: id_").append(api)
        .append("\n    input: {kind: series, column: ").append(api).append(", dtype: ")
        .append(dtype).append(", model_input: x}\n    outputs: [{name: out, from: y}]\n");
  }

  private static void array(StringBuilder apis, String api, String model, String dtype, int k) {
    apis.append("  - name: ").append(api).append("\n    model: ").append(model)
        .append("\n    input: {kind: tensor, column: ").append(api).append(", dtype: ")
        .append(dtype).append(", shape: [-1, ").append(k)
        .append("], model_input: x}\n    outputs: [{name: out, from: y, shape: [-1, ").append(k)
        .append("]}]\n");
  }

  /** A bundle with the given models ({@code name -> .onnx bytes}) and {@code apis:} YAML items. */
  public static Built build(String name, String version, Map<String, byte[]> models, String apis) {
    Path dir = root().resolve(name + "-" + version);
    try {
      Files.createDirectories(dir);
      StringBuilder yaml = new StringBuilder("name: " + name + "\nversion: \"" + version
          + "\"\nmodels:\n");
      for (Map.Entry<String, byte[]> m : models.entrySet()) {
        Files.write(dir.resolve(m.getKey() + ".onnx"), m.getValue());
        yaml.append("  - {name: ").append(m.getKey()).append(", path: ").append(m.getKey())
            .append(".onnx}\n");
      }
      yaml.append("apis:\n").append(apis);
      Path spec = dir.resolve("bundle.yaml");
      Files.writeString(spec, yaml.toString(), StandardCharsets.UTF_8);
      Path archive = root().resolve(name + "-" + version + ".bundle");
      return new Built(archive, buildOnce(spec, archive));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * The archive at {@code archive} of bundle {@code name} version 1: one model of about
   * {@code mb} MiB (a lookup table, {@code OnnxModels.writeLargeModel} with {@code seed}) behind
   * API {@code lookup} (int64 column {@code index} in, {@code y} out), built in {@code dir}
   * unless the archive is already there (the on-demand benchmarks keep it between runs).
   */
  public static BundleInfo largeLookup(String name, Path dir, Path archive, long mb, long seed)
      throws IOException {
    if (Files.isRegularFile(archive)) {
      return dev.sidecar.bundle.BundleArchive.peek(archive);
    }
    Files.createDirectories(dir);
    OnnxModels.writeLargeModel(dir.resolve("large.onnx"), mb << 20, seed);
    Files.writeString(dir.resolve("bundle.yaml"), "name: " + name + "\nversion: \"1\"\n"
        + "models:\n  - name: large\n    path: large.onnx\n"
        + "apis:\n  - name: lookup\n    model: large\n    input: {kind: series, column: index,"
        + " model_input: index, dtype: int64}\n    outputs: [{name: y, from: y}]\n");
    BundleInfo info = BundleBuilder.fromSpec(dir.resolve("bundle.yaml")).build(archive);
    Files.delete(dir.resolve("large.onnx"));
    return info;
  }

  private static synchronized BundleInfo buildOnce(Path yaml, Path archive) {
    try {
      Files.createDirectories(archive.getParent());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return BundleBuilder.fromSpec(yaml).build(archive);
  }
}
