package dev.sidecar.bench;

import dev.sidecar.bundle.BundleBuilder;
import dev.sidecar.bundle.BundleInfo;
import dev.sidecar.testkit.OnnxModels;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Builds the benchmark models in Java (no downloads) with the testkit, and a bundle archive for
 * each through {@code bundle.yaml} and {@link BundleBuilder}, exactly as a user would.
 */
final class BenchModels {
  static final String API = "predict";
  static final long SEED = 20261123L;

  private BenchModels() {}

  /** The tiny classifier: iris-shaped multinomial logistic regression, 4 features → label + 3 probabilities. */
  static BenchModel tiny(Path dir) {
    return tiny(dir, 4, 3);
  }

  static BenchModel tiny(Path dir, int features, int classes) {
    byte[] onnx = OnnxModels.linearClassifier("input", features, classes, SEED);
    List<BenchModel.Output> outs = List.of(
        new BenchModel.Output("label", "label", true, 0),
        new BenchModel.Output("probabilities", "probabilities", false, classes));
    return bundle(dir, "tiny", "tiny classifier " + features + "→" + classes + " (iris-shaped)",
        onnx, "input", features, outs);
  }

  /** The wide MLP: 256 → 512 → 512 → 16, float32. */
  static BenchModel mlp(Path dir) {
    return mlp(dir, 256, new int[] {512, 512}, 16);
  }

  static BenchModel mlp(Path dir, int in, int[] hidden, int out) {
    byte[] onnx = OnnxModels.mlp(in, hidden, out, SEED);
    String shape = in + "→" + Arrays.stream(hidden).mapToObj(Integer::toString)
        .collect(Collectors.joining("→")) + "→" + out;
    return bundle(dir, "mlp", "MLP " + shape + " float32", onnx, "x", in,
        List.of(new BenchModel.Output("y", "y", false, out)));
  }

  /** The tree ensemble: 300 trees of depth 8 over 32 features, one score per row. */
  static BenchModel trees(Path dir) {
    return trees(dir, 300, 8, 32);
  }

  static BenchModel trees(Path dir, int trees, int depth, int features) {
    byte[] onnx = OnnxModels.treeEnsemble(trees, depth, features, SEED);
    return bundle(dir, "trees", trees + " trees depth " + depth + " over " + features + " features",
        onnx, "x", features, List.of(new BenchModel.Output("score", "y", false, 0)));
  }

  private static BenchModel bundle(Path dir, String key, String description, byte[] onnx,
      String modelInput, int features, List<BenchModel.Output> outputs) {
    try {
      Path modelDir = Files.createDirectories(dir.resolve(key));
      Path onnxFile = modelDir.resolve(key + ".onnx");
      Files.write(onnxFile, onnx);
      String bundleName = "bench_" + key;
      Path yaml = modelDir.resolve("bundle.yaml");
      Files.writeString(yaml, bundleYaml(bundleName, key, modelInput, features, outputs));
      Path archive = modelDir.resolve(bundleName + ".bundle");
      BundleInfo info = BundleBuilder.fromSpec(yaml).version("1").build(archive);
      if (!info.manifest().name().equals(bundleName)) {
        throw new IllegalStateException("built bundle " + info.tag() + ", expected " + bundleName);
      }
      return new BenchModel(key, description, bundleName, API, onnxFile, archive, modelInput,
          features, outputs);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the " + key + " benchmark model under " + dir, e);
    }
  }

  /** The bundle.yaml: one tensor API reading the {@code features} array column. */
  static String bundleYaml(String bundleName, String model, String modelInput, int features,
      List<BenchModel.Output> outputs) {
    StringBuilder y = new StringBuilder();
    y.append("name: ").append(bundleName).append('\n');
    y.append("description: sidecar benchmark model ").append(model).append('\n');
    y.append("models:\n  - name: ").append(model).append("\n    path: ").append(model).append(".onnx\n");
    y.append("apis:\n  - name: ").append(API).append('\n');
    y.append("    input: {kind: tensor, column: ").append(BenchModel.FEATURES)
        .append(", model_input: ").append(modelInput)
        .append(", dtype: float32, shape: [-1, ").append(features).append("]}\n");
    y.append("    outputs:\n");
    for (BenchModel.Output o : outputs) {
      y.append("      - {name: ").append(o.column()).append(", from: ").append(o.modelOutput())
          .append(", dtype: ").append(o.int64() ? "int64" : "float32")
          .append(", shape: ").append(o.scalar() ? "[-1]" : "[-1, " + o.width() + "]").append("}\n");
    }
    return y.toString();
  }
}
