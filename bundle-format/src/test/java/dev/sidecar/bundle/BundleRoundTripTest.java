package dev.sidecar.bundle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BundleRoundTripTest {
  static final Path IRIS = Path.of("..", "examples", "iris", "bundle.yaml");
  static final Instant T0 = Instant.parse("2026-11-23T10:00:00Z");

  @TempDir
  Path tmp;

  @Test
  void irisBuildsInspectsAndUnpacks() throws Exception {
    Path out = tmp.resolve("iris.bundle");
    BundleInfo built = BundleBuilder.fromSpec(IRIS).createdAt(T0).build(out);
    Manifest m = built.manifest();
    assertEquals("iris_classifier:1.0.0", m.tag());
    assertTrue(built.digest().matches("sha256:[0-9a-f]{64}"));

    ApiSpec classify = m.api("classify");
    assertEquals(InputDescriptor.Kind.DATAFRAME, classify.input().kind());
    assertEquals("input", classify.input().packedInput());
    assertEquals(List.of("sepal_length", "sepal_width", "petal_length", "petal_width"),
        classify.input().columns().stream().map(ColumnSpec::name).toList());
    for (ColumnSpec c : classify.input().columns()) {
      assertEquals(DType.FLOAT32, c.dtype());
      assertEquals(List.of(-1L), c.shape());
      assertEquals("input", c.modelInput());
    }
    OutputSpec label = classify.outputs().get(0);
    assertEquals(DType.INT64, label.dtype());
    assertEquals(List.of(-1L), label.shape());
    assertEquals(List.of("setosa", "versicolor", "virginica"), label.classLabels());
    assertEquals(DType.STRING, label.columnDType());
    OutputSpec probs = classify.outputs().get(1);
    assertEquals(DType.FLOAT32, probs.dtype());
    assertEquals(List.of(-1L, 3L), probs.shape());
    assertTrue(probs.classLabels().isEmpty());

    ApiSpec tensor = m.api("classify_tensor");
    assertEquals(InputDescriptor.Kind.TENSOR, tensor.input().kind());
    assertFalse(tensor.input().packed());
    assertEquals(List.of(new ColumnSpec("features", DType.FLOAT32, List.of(-1L, 4L), "input")),
        tensor.input().columns());

    assertEquals(List.of("README.md", "iris_classifier.onnx"),
        m.files().stream().map(FileEntry::path).toList());

    BundleInfo inspected = BundleArchive.inspect(out);
    assertEquals(built, inspected);

    Bundle unpacked = BundleArchive.unpack(out, tmp.resolve("unpacked"));
    assertEquals(built.digest(), unpacked.digest());
    assertArrayEquals(Files.readAllBytes(IRIS.resolveSibling("iris_classifier.onnx")),
        Files.readAllBytes(unpacked.modelPath("classifier")));
    Bundle reopened = Bundle.open(tmp.resolve("unpacked"));
    assertEquals(built.manifest(), reopened.manifest());
    assertEquals(built.digest(), reopened.digest());
  }
}
