package dev.sidecar.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.sidecar.bundle.Bundle;
import dev.sidecar.proto.inference.GRPCInferenceServiceGrpc;
import dev.sidecar.proto.inference.InferTensorContents;
import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.proto.inference.ModelInferResponse;
import dev.sidecar.proto.onnx.TensorProto;
import dev.sidecar.proto.stats.ApiStats;
import dev.sidecar.tensor.RawCodec;
import dev.sidecar.testkit.OnnxModels;
import dev.sidecar.wire.SidecarChannels;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every kind of bad request gets INVALID_ARGUMENT (or RESOURCE_EXHAUSTED for an oversize
 * message) naming the input and what was expected and received; the server keeps serving.
 */
class BadInputTest {
  @TempDir
  static Path tmp;

  private static ModelServer iris;
  private static ModelServer words;
  private static ModelServer labels;
  private static ManagedChannel irisCh;
  private static ManagedChannel wordsCh;
  private static ManagedChannel labelsCh;

  @BeforeAll
  static void start() throws Exception {
    ServerOptions small = ServerOptions.defaults().withMaxInboundMessageBytes(64 * 1024);
    iris = ModelServer.builder(Fixtures.iris(tmp)).options(small).start();
    irisCh = SidecarChannels.forTarget(iris.target());
    String yaml = String.join("\n",
        "name: words",
        "version: \"1\"",
        "models:",
        "  - {name: enc, path: enc.onnx}",
        "apis:",
        "  - name: encode",
        "    model: enc",
        "    input: {kind: series, column: word, model_input: x, dtype: string}",
        "    outputs:",
        "      - {name: code, from: y, dtype: int64}",
        "");
    Bundle b = Fixtures.bundle(tmp.resolve("words"), yaml, Map.of("enc.onnx",
        OnnxModels.stringLabelEncoder(new String[] {"cat", "dog", "émeu"}, new long[] {1, 2, 3})));
    words = ModelServer.builder(b).unixSocket(tmp.resolve("w.sock")).start();
    wordsCh = SidecarChannels.forTarget(words.target());
    // The model passes its input through as the class index: any index can come out, as from a
    // classifier with more classes than the bundle has labels.
    String yaml2 = String.join("\n",
        "name: animals",
        "version: \"1\"",
        "models:",
        "  - {name: pass, path: pass.onnx}",
        "apis:",
        "  - name: name_of",
        "    model: pass",
        "    input: {kind: series, column: index, model_input: x, dtype: int64}",
        "    outputs:",
        "      - {name: animal, from: y, labels: [cat, dog]}",
        "");
    Bundle b2 = Fixtures.bundle(tmp.resolve("animals"), yaml2, Map.of("pass.onnx",
        OnnxModels.identity(TensorProto.DataType.INT64_VALUE, -1)));
    labels = ModelServer.builder(b2).start();
    labelsCh = SidecarChannels.forTarget(labels.target());
  }

  @AfterAll
  static void stop() throws Exception {
    Fixtures.close(irisCh);
    Fixtures.close(wordsCh);
    Fixtures.close(labelsCh);
    iris.close();
    words.close();
    labels.close();
  }

  private static String invalid(ManagedChannel ch, ModelInferRequest r) {
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
        () -> GRPCInferenceServiceGrpc.newBlockingStub(ch).modelInfer(r));
    assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getMessage());
    return e.getStatus().getDescription();
  }

  private static void assertContains(String message, String... parts) {
    for (String p : parts) {
      assertTrue(message.contains(p), "'" + message + "' should contain '" + p + "'");
    }
  }

  private static ModelInferRequest.Builder df(int rows, String... cols) {
    ModelInferRequest.Builder r = ModelInferRequest.newBuilder().setModelName("classify");
    for (String c : cols) {
      r.addInputs(Fixtures.fp32(c, rows)).addRawInputContents(Fixtures.floats(new float[rows]));
    }
    return r;
  }

  @Test
  void unknownInputNamesTheExpectedOnes() {
    String m = invalid(irisCh, df(1, "sepal_length", "sepal_width", "petal_length", "petal_wdth")
        .build());
    assertContains(m, "unknown input 'petal_wdth'", "model 'classify'", "petal_width FP32 [-1]",
        "input FP32 [-1, 4]");
  }

  @Test
  void missingInputIsNamedWithItsDtypeAndShape() {
    String m = invalid(irisCh, df(2, "sepal_length", "sepal_width", "petal_length").build());
    assertContains(m, "missing input 'petal_width' (FP32 [-1])");
  }

  @Test
  void wrongDatatypeSaysExpectedAndReceived() {
    ModelInferRequest r = df(1, "sepal_length", "sepal_width", "petal_length", "petal_width")
        .setInputs(1, Fixtures.fp32("sepal_width", 1).toBuilder().setDatatype("FP64"))
        .setRawInputContents(1, ByteString.copyFrom(new byte[8])).build();
    assertContains(invalid(irisCh, r), "input 'sepal_width'", "expected datatype FP32",
        "received FP64");
    ModelInferRequest bogus = r.toBuilder()
        .setInputs(1, Fixtures.fp32("sepal_width", 1).toBuilder().setDatatype("FLOAT")).build();
    assertContains(invalid(irisCh, bogus), "expected datatype FP32, received 'FLOAT'");
  }

  @Test
  void wrongShapeSaysExpectedAndReceived() {
    assertContains(invalid(irisCh, Fixtures.rawRequest("classify_tensor", "features",
        new float[10], 2, 5)), "input 'features'", "expected shape [-1, 4], received [2, 5]");
    assertContains(invalid(irisCh, Fixtures.rawRequest("classify_tensor", "features",
        new float[8], 8)), "expected shape [-1, 4], received [8]");
    ModelInferRequest rows = df(2, "sepal_length", "sepal_width", "petal_length", "petal_width")
        .setInputs(3, Fixtures.fp32("petal_width", 3))
        .setRawInputContents(3, Fixtures.floats(new float[3])).build();
    assertContains(invalid(irisCh, rows), "input 'petal_width'", "has 3 rows", "has 2");
  }

  @Test
  void truncatedOrOverlongRawBytesAreRefused() {
    ModelInferRequest r = Fixtures.rawRequest("classify_tensor", "features", new float[8], 2, 4)
        .toBuilder().setRawInputContents(0, ByteString.copyFrom(new byte[28])).build();
    assertContains(invalid(irisCh, r), "input 'features'",
        "raw contents hold 28 bytes, expected 32 for FP32 [2, 4] (truncated)");
    ModelInferRequest longer = r.toBuilder().setRawInputContents(0,
        ByteString.copyFrom(new byte[36])).build();
    assertContains(invalid(irisCh, longer), "hold 36 bytes, expected 32");
    ModelInferRequest four = df(1, "sepal_length", "sepal_width", "petal_length", "petal_width")
        .build();
    ModelInferRequest count = four.toBuilder().clearRawInputContents()
        .addAllRawInputContents(four.getRawInputContentsList().subList(0, 3)).build();
    assertContains(invalid(irisCh, count), "3 raw_input_contents entries for 4 inputs");
  }

  @Test
  void rawAndTypedContentsMixedIsRefused() {
    ModelInferRequest r = df(1, "sepal_length", "sepal_width", "petal_length", "petal_width")
        .setInputs(2, Fixtures.fp32("petal_length", 1).toBuilder()
            .setContents(InferTensorContents.newBuilder().addFp32Contents(1f)))
        .build();
    assertContains(invalid(irisCh, r), "input 'petal_length'", "typed contents",
        "raw_input_contents");
  }

  @Test
  void typedContentsOfTheWrongSizeOrField() {
    ModelInferRequest.Builder r = ModelInferRequest.newBuilder().setModelName("classify_tensor")
        .addInputs(Fixtures.fp32("features", 1, 4).toBuilder().setContents(
            InferTensorContents.newBuilder().addFp32Contents(1).addFp32Contents(2)
                .addFp32Contents(3)));
    assertContains(invalid(irisCh, r.build()), "input 'features'",
        "fp32_contents holds 3 elements, expected 4");
    ModelInferRequest wrongField = ModelInferRequest.newBuilder().setModelName("classify_tensor")
        .addInputs(Fixtures.fp32("features", 1, 4).toBuilder().setContents(
            InferTensorContents.newBuilder().addFp64Contents(1).addFp64Contents(2)
                .addFp64Contents(3).addFp64Contents(4))).build();
    assertContains(invalid(irisCh, wrongField), "FP32 values must be sent in fp32_contents");
    ModelInferRequest none = ModelInferRequest.newBuilder().setModelName("classify_tensor")
        .addInputs(Fixtures.fp32("features", 1, 4)).build();
    assertContains(invalid(irisCh, none), "input 'features'", "has no contents");
  }

  @Test
  void unknownOutputAndEmptyRequest() {
    ModelInferRequest r = Fixtures.rawRequest("classify_tensor", "features", new float[4], 1, 4)
        .toBuilder().addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder()
            .setName("labels")).build();
    assertContains(invalid(irisCh, r), "unknown output 'labels'", "[label, probabilities]");
    assertContains(invalid(irisCh, ModelInferRequest.newBuilder().setModelName("classify")
        .build()), "has no inputs", "sepal_length FP32 [-1]");
  }

  @Test
  void messagesOverTheInboundLimitAreResourceExhausted() {
    float[] big = new float[20_000 * 4];
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () ->
        GRPCInferenceServiceGrpc.newBlockingStub(irisCh).modelInfer(
            Fixtures.rawRequest("classify_tensor", "features", big, 20_000, 4)));
    assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode(), e.getMessage());
    stillServes();
  }

  @Test
  void stringsWorkAndABadLengthPrefixIsNamed() {
    String[] in = {"dog", "émeu", "cat", "zebra"};
    ModelInferRequest.InferInputTensor word = ModelInferRequest.InferInputTensor.newBuilder()
        .setName("word").setDatatype("BYTES").addShape(4).build();
    ModelInferResponse ok = GRPCInferenceServiceGrpc.newBlockingStub(wordsCh).modelInfer(
        ModelInferRequest.newBuilder().setModelName("encode").addInputs(word)
            .addRawInputContents(RawCodec.encodeStrings(in, 0, 4)).build());
    assertEquals("INT64", ok.getOutputs(0).getDatatype());
    assertArrayEquals(new long[] {2, 3, 1, -1}, RawCodec.decodeLongs(ok.getRawOutputContents(0)));

    ByteString raw = RawCodec.encodeStrings(in, 0, 4);
    ByteString bad = raw.substring(0, 7).concat(ByteString.copyFrom(new byte[] {99, 0, 0, 0}))
        .concat(raw.substring(11));
    String m = invalid(wordsCh, ModelInferRequest.newBuilder().setModelName("encode")
        .addInputs(word).addRawInputContents(bad).build());
    assertContains(m, "input 'word'", "BYTES element 1 declares length 99 but only");
    String cut = invalid(wordsCh, ModelInferRequest.newBuilder().setModelName("encode")
        .addInputs(word).addRawInputContents(raw.substring(0, raw.size() - 2)).build());
    assertContains(cut, "BYTES element 3 declares length 5 but only 3 bytes remain");
    ApiStats st = Fixtures.stats(wordsCh, "encode");
    assertTrue(st.getErrorsByCodeOrDefault("INVALID_ARGUMENT", 0) >= 2);
  }

  /** Invalid UTF-8 in a BYTES input is refused, naming the input and the element. */
  @Test
  void invalidUtf8InBytesIsRefusedNamingTheInput() {
    ModelInferRequest.InferInputTensor word = ModelInferRequest.InferInputTensor.newBuilder()
        .setName("word").setDatatype("BYTES").addShape(2).build();
    ByteString good = ByteString.copyFromUtf8("dog");
    ByteString bad = ByteString.copyFrom(new byte[] {'c', (byte) 0xC3, '(', 't'});
    ByteString raw = ByteString.copyFrom(new byte[] {3, 0, 0, 0}).concat(good)
        .concat(ByteString.copyFrom(new byte[] {4, 0, 0, 0})).concat(bad);
    String m = invalid(wordsCh, ModelInferRequest.newBuilder().setModelName("encode")
        .addInputs(word).addRawInputContents(raw).build());
    assertContains(m, "input 'word'", "BYTES element 1 is not valid UTF-8");
    String typed = invalid(wordsCh, ModelInferRequest.newBuilder().setModelName("encode")
        .addInputs(word.toBuilder().setContents(InferTensorContents.newBuilder()
            .addBytesContents(good).addBytesContents(bad))).build());
    assertContains(typed, "input 'word'", "BYTES element 1 is not valid UTF-8");
    // A real U+FFFD sent as valid UTF-8 is a character like any other.
    ModelInferResponse ok = GRPCInferenceServiceGrpc.newBlockingStub(wordsCh).modelInfer(
        ModelInferRequest.newBuilder().setModelName("encode").addInputs(word)
            .addRawInputContents(RawCodec.encodeStrings(new String[] {"\uFFFD", "cat"}, 0, 2))
            .build());
    assertArrayEquals(new long[] {-1, 1}, RawCodec.decodeLongs(ok.getRawOutputContents(0)));
  }

  /**
   * A class index the bundle has no label for is FAILED_PRECONDITION naming the API, the output,
   * the index and the number of labels, not INTERNAL; rows with labels still work.
   */
  @Test
  void aClassIndexWithoutALabelIsAFailedPrecondition() {
    ModelInferRequest.InferInputTensor index = ModelInferRequest.InferInputTensor.newBuilder()
        .setName("index").setDatatype("INT64").addShape(3).build();
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () ->
        GRPCInferenceServiceGrpc.newBlockingStub(labelsCh).modelInfer(ModelInferRequest
            .newBuilder().setModelName("name_of").addInputs(index)
            .addRawInputContents(RawCodec.encodeLongs(new long[] {0, 1, 2}, 0, 3)).build()));
    assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode(), e.getMessage());
    assertContains(e.getStatus().getDescription(), "API 'name_of'", "output 'animal'",
        "class index 2", "2 labels");
    ModelInferResponse ok = GRPCInferenceServiceGrpc.newBlockingStub(labelsCh).modelInfer(
        ModelInferRequest.newBuilder().setModelName("name_of").addInputs(index)
            .addRawInputContents(RawCodec.encodeLongs(new long[] {1, 0, 1}, 0, 3)).build());
    assertArrayEquals(new String[] {"dog", "cat", "dog"},
        RawCodec.decodeStrings(ok.getRawOutputContents(0), 3));
  }

  private static void stillServes() {
    ModelInferResponse r = GRPCInferenceServiceGrpc.newBlockingStub(irisCh).modelInfer(
        Fixtures.rawRequest("classify_tensor", "features", new float[] {5.1f, 3.5f, 1.4f, 0.2f},
            1, 4));
    assertArrayEquals(new String[] {"setosa"}, RawCodec.decodeStrings(r.getRawOutputContents(0), 1));
  }

  @Test
  void afterAllThatTheServerStillAnswers() {
    invalid(irisCh, df(1, "nope").build());
    stillServes();
  }
}
