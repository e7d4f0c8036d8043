package dev.sidecar.bundle.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.sidecar.bundle.ApiSpec;
import dev.sidecar.bundle.BatchingSpec;
import dev.sidecar.bundle.ColumnSpec;
import dev.sidecar.bundle.DType;
import dev.sidecar.bundle.InputDescriptor;
import dev.sidecar.bundle.InputDescriptor.Kind;
import dev.sidecar.bundle.OutputSpec;
import dev.sidecar.testkit.OnnxModels;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link ApiBinding} on resolved APIs, as the server binds a loaded bundle (no bundle.yaml, no
 * filling of omitted fields): the same rules and messages the bundle builder reports, on real
 * ONNX Runtime sessions of testkit models.
 */
class ApiBindingTest {
  private static final List<Long> SCALAR = List.of(-1L);

  private static ApiBinding.Model model(byte[] onnx) throws Exception {
    try (OrtSession s = OrtEnvironment.getEnvironment().createSession(onnx)) {
      return ApiBinding.Model.of("m", s);
    }
  }

  private static ApiSpec api(InputDescriptor in, OutputSpec... outs) {
    return new ApiSpec("a", "m", in, List.of(outs), BatchingSpec.defaults());
  }

  private static InputDescriptor packed(DType firstType, int columns) {
    List<ColumnSpec> cols = new java.util.ArrayList<>();
    for (int i = 0; i < columns; i++) {
      cols.add(new ColumnSpec("c" + i, i == 0 ? firstType : DType.FLOAT32, SCALAR, "input"));
    }
    return new InputDescriptor(Kind.DATAFRAME, cols, "input");
  }

  private static String mismatch(ApiSpec api, ApiBinding.Model model) {
    return assertThrows(ApiBinding.Mismatch.class, () -> ApiBinding.bind(api, model))
        .getMessage();
  }

  @Test
  void packedColumnsFeedOneInputAndLabelsMapAnIntegerOutput() throws Exception {
    ApiBinding.Model m = model(OnnxModels.linearClassifier("input", 4, 3, 7));
    ApiBinding b = ApiBinding.bind(api(packed(DType.FLOAT32, 4),
        new OutputSpec("label", "label", DType.INT64, SCALAR, List.of("x", "y", "z")),
        new OutputSpec("p", "probabilities", DType.FLOAT32, List.of(-1L, 3L), List.of())), m);
    assertEquals(1, b.feeds().size());
    ApiBinding.Feed f = b.feeds().get(0);
    assertEquals("input", f.modelInput());
    assertArrayEquals(new long[] {4}, f.rowDims());
    assertArrayEquals(new int[] {0, 1, 2, 3}, f.sources());
    assertEquals(DType.STRING, b.outputs().get(0).wireType());
    assertEquals(DType.FLOAT32, b.outputs().get(1).wireType());
    assertArrayEquals(new long[] {3}, b.outputs().get(1).rowDims());
  }

  @Test
  void aColumnOfAnotherDtypeThanItsInputIsRefused() throws Exception {
    ApiBinding.Model m = model(OnnxModels.linearClassifier("input", 4, 3, 7));
    assertEquals("api 'a': column 'c0' feeds model input 'input' of dtype float32 but is"
        + " declared int64", mismatch(api(packed(DType.INT64, 4)), m));
  }

  @Test
  void packedColumnsMustFillTheInputsWidth() throws Exception {
    ApiBinding.Model m = model(OnnxModels.linearClassifier("input", 4, 3, 7));
    assertEquals("api 'a': the dataframe packs 3 columns into model input 'input' of shape"
        + " [N, 4], which takes 4 columns", mismatch(api(packed(DType.FLOAT32, 3)), m));
  }

  @Test
  void everyModelInputIsFedExactlyOnce() throws Exception {
    ApiBinding.Model m = model(OnnxModels.columnsSum("a", "b"));
    InputDescriptor twice = new InputDescriptor(Kind.DATAFRAME, List.of(
        new ColumnSpec("x", DType.FLOAT32, SCALAR, "a"),
        new ColumnSpec("y", DType.FLOAT32, SCALAR, "a")), null);
    assertEquals("api 'a': columns 'x' and 'y' both feed model input 'a'; use pack_into to pack"
        + " columns", mismatch(api(twice), m));
    InputDescriptor once = new InputDescriptor(Kind.DATAFRAME, List.of(
        new ColumnSpec("x", DType.FLOAT32, SCALAR, "a")), null);
    assertEquals("api 'a': model 'm' input 'b' is fed by no column; the model needs inputs"
        + " [a, b]", mismatch(api(once), m));
    InputDescriptor missing = new InputDescriptor(Kind.DATAFRAME, List.of(
        new ColumnSpec("x", DType.FLOAT32, SCALAR, "c")), null);
    assertEquals("api 'a': column 'x' feeds model input 'c', which model 'm' does not have; its"
        + " inputs are [a, b]", mismatch(api(missing), m));
  }

  @Test
  void outputsHaveTheirModelOutputsDtypeAndLabelsOnlyOnIntegers() throws Exception {
    ApiBinding.Model m = model(OnnxModels.linearClassifier("input", 4, 3, 7));
    assertEquals("api 'a': output 'p' comes from model output 'probabilities' of dtype float32"
        + " but is declared float64", mismatch(api(packed(DType.FLOAT32, 4),
            new OutputSpec("p", "probabilities", DType.FLOAT64, List.of(-1L, 3L), List.of())),
        m));
    assertEquals("api 'a': output 'p' has class labels but model output 'probabilities' is"
        + " float32; labels need an integer output", mismatch(api(packed(DType.FLOAT32, 4),
            new OutputSpec("p", "probabilities", DType.FLOAT32, List.of(-1L, 3L),
                List.of("x", "y", "z"))), m));
    assertEquals("api 'a': output 'p' comes from model output 'proba', which model 'm' does not"
        + " have; its outputs are [label, probabilities]", mismatch(api(packed(DType.FLOAT32, 4),
            new OutputSpec("p", "proba", DType.FLOAT32, List.of(-1L, 3L), List.of())), m));
  }
}
