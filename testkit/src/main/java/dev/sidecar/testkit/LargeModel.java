package dev.sidecar.testkit;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.WireFormat;
import dev.sidecar.proto.onnx.ModelProto;
import dev.sidecar.proto.onnx.TensorProto;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * {@link OnnxModels#largeModel}: {@code y = Gather(weights, index)} with one big FLOAT
 * initializer whose values are a function of (seed, index), so the model is written in
 * chunks — the protobuf framing around the initializer's {@code raw_data} is computed up
 * front and the data streamed, never held in memory.
 */
final class LargeModel {
  /** Model metadata key holding the number of floats in {@code weights}. */
  static final String WEIGHT_COUNT_KEY = "weight_count";
  /** Protobuf's (and so ONNX Runtime's) limit for one serialized message. */
  static final long MAX_BYTES = Integer.MAX_VALUE;
  private static final int CHUNK_FLOATS = 256 * 1024;

  private final long seed;
  private final long weightCount;
  private final byte[] modelWithoutGraph;
  private final byte[] graphWithoutWeights;
  private final byte[] weightsHeader;

  private LargeModel(long seed, long weightCount) {
    this.seed = seed;
    this.weightCount = weightCount;
    OnnxModels.GraphBuilder g = OnnxModels.graph("large_model")
        .input("index", TensorProto.DataType.INT64_VALUE, -1)
        .output("y", TensorProto.DataType.FLOAT_VALUE, -1)
        .metadata(WEIGHT_COUNT_KEY, Long.toString(weightCount))
        .metadata("seed", Long.toString(seed));
    TensorProto header = g.tensorHeader("weights", TensorProto.DataType.FLOAT_VALUE, weightCount).build();
    g.node("Gather", List.of("weights", "index"), List.of("y"), OnnxModels.Attr.i("axis", 0));
    ModelProto model = g.model();
    this.modelWithoutGraph = model.toBuilder().clearGraph().build().toByteArray();
    this.graphWithoutWeights = model.getGraph().toByteArray();
    this.weightsHeader = header.toByteArray();
  }

  /** The model whose serialized size is as close to {@code approxBytes} as the framing allows. */
  static LargeModel ofApproxBytes(long approxBytes, long seed) {
    if (approxBytes < 1 || approxBytes > MAX_BYTES) {
      throw new IllegalArgumentException("largeModel size must be between 1 and " + MAX_BYTES
          + " bytes (protobuf's limit), got " + approxBytes);
    }
    long count = Math.max(1, approxBytes / 4);
    for (int i = 0; i < 3; i++) {
      long overhead = new LargeModel(seed, count).totalBytes() - 4 * count;
      count = Math.max(1, (approxBytes - overhead) / 4);
    }
    LargeModel m = new LargeModel(seed, count);
    if (m.totalBytes() > MAX_BYTES) {
      m = new LargeModel(seed, count - 8);
    }
    return m;
  }

  long weightCount() {
    return weightCount;
  }

  private long rawBytes() {
    return 4 * weightCount;
  }

  private long tensorBytes() {
    return weightsHeader.length + CodedOutputStream.computeTagSize(9)
        + CodedOutputStream.computeUInt64SizeNoTag(rawBytes()) + rawBytes();
  }

  private long graphBytes() {
    return graphWithoutWeights.length + CodedOutputStream.computeTagSize(5)
        + CodedOutputStream.computeUInt64SizeNoTag(tensorBytes()) + tensorBytes();
  }

  long totalBytes() {
    return modelWithoutGraph.length + CodedOutputStream.computeTagSize(7)
        + CodedOutputStream.computeUInt64SizeNoTag(graphBytes()) + graphBytes();
  }

  /** The whole model in one array (the only copy). */
  byte[] toByteArray() {
    long total = totalBytes();
    if (total > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("a model of " + total + " bytes does not fit in a byte[]; use writeLargeModel");
    }
    byte[] out = new byte[(int) total];
    CodedOutputStream coded = CodedOutputStream.newInstance(out);
    try {
      writeTo(coded);
    } catch (IOException e) {
      throw new IllegalStateException("writing into an array cannot fail", e);
    }
    coded.checkNoSpaceLeft();
    return out;
  }

  /** Streams the model; protobuf fields may come in any order, so the big initializer goes last. */
  void writeTo(OutputStream out) throws IOException {
    CodedOutputStream coded = CodedOutputStream.newInstance(out, 1 << 16);
    writeTo(coded);
  }

  private void writeTo(CodedOutputStream coded) throws IOException {
    coded.writeRawBytes(modelWithoutGraph);
    coded.writeTag(7, WireFormat.WIRETYPE_LENGTH_DELIMITED);
    coded.writeUInt64NoTag(graphBytes());
    coded.writeRawBytes(graphWithoutWeights);
    coded.writeTag(5, WireFormat.WIRETYPE_LENGTH_DELIMITED);
    coded.writeUInt64NoTag(tensorBytes());
    coded.writeRawBytes(weightsHeader);
    coded.writeTag(9, WireFormat.WIRETYPE_LENGTH_DELIMITED);
    coded.writeUInt64NoTag(rawBytes());
    ByteBuffer chunk = ByteBuffer.allocate(CHUNK_FLOATS * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (long start = 0; start < weightCount; start += CHUNK_FLOATS) {
      long end = Math.min(weightCount, start + CHUNK_FLOATS);
      chunk.clear();
      for (long i = start; i < end; i++) {
        chunk.putFloat(weight(seed, i));
      }
      chunk.flip();
      coded.writeRawBytes(chunk.array(), 0, chunk.limit());
    }
    coded.flush();
  }

  /** The weight at {@code index}: a SplitMix64 hash of (seed, index) mapped to [-1, 1). */
  static float weight(long seed, long index) {
    long z = seed + (index + 1) * 0x9E3779B97F4A7C15L;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    z = z ^ (z >>> 31);
    return (z >>> 40) * 0x1.0p-23f - 1f;
  }
}
