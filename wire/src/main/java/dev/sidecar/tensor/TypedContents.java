package dev.sidecar.tensor;

import com.google.protobuf.ByteString;
import dev.sidecar.bundle.DType;
import dev.sidecar.proto.inference.InferTensorContents;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The Open Inference Protocol's typed {@code contents} fields ({@code fp32_contents},
 * {@code int_contents}, ...) converted to and from the raw encoding of {@link RawCodec}, so the
 * server decodes one form only. Throws {@link IllegalArgumentException} naming the field and the
 * expected and received element counts.
 */
public final class TypedContents {
  private TypedContents() {
  }

  /**
   * The raw encoding of typed {@code contents} for a tensor of {@code dtype} with
   * {@code expectedCount} elements. The values must sit in the field the protocol assigns to the
   * dtype ({@code fp32_contents} for FP32, {@code int_contents} for INT8/INT16/INT32, ...);
   * FP16 has no typed field and must travel raw.
   */
  public static ByteString fromContents(InferTensorContents c, DType dtype, long expectedCount) {
    int n;
    ByteBuffer b;
    switch (dtype) {
      case FLOAT32:
        n = check(c, dtype, "fp32_contents", c.getFp32ContentsCount(), expectedCount);
        b = ByteBuffer.allocate(n * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
          b.putFloat(c.getFp32Contents(i));
        }
        break;
      case FLOAT64:
        n = check(c, dtype, "fp64_contents", c.getFp64ContentsCount(), expectedCount);
        b = ByteBuffer.allocate(n * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
          b.putDouble(c.getFp64Contents(i));
        }
        break;
      case INT64:
        n = check(c, dtype, "int64_contents", c.getInt64ContentsCount(), expectedCount);
        b = ByteBuffer.allocate(n * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
          b.putLong(c.getInt64Contents(i));
        }
        break;
      case INT32:
      case INT16:
      case INT8:
        n = check(c, dtype, "int_contents", c.getIntContentsCount(), expectedCount);
        b = ByteBuffer.allocate(n * dtype.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
          putNarrow(b, dtype, c.getIntContents(i));
        }
        break;
      case UINT8:
        n = check(c, dtype, "uint_contents", c.getUintContentsCount(), expectedCount);
        b = ByteBuffer.allocate(n);
        for (int i = 0; i < n; i++) {
          b.put((byte) c.getUintContents(i));
        }
        break;
      case BOOL:
        n = check(c, dtype, "bool_contents", c.getBoolContentsCount(), expectedCount);
        b = ByteBuffer.allocate(n);
        for (int i = 0; i < n; i++) {
          b.put(c.getBoolContents(i) ? (byte) 1 : (byte) 0);
        }
        break;
      case STRING:
        n = check(c, dtype, "bytes_contents", c.getBytesContentsCount(), expectedCount);
        long size = 0;
        for (int i = 0; i < n; i++) {
          size += RawCodec.LENGTH_PREFIX + c.getBytesContents(i).size();
        }
        b = ByteBuffer.allocate(Math.toIntExact(size)).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
          ByteString s = c.getBytesContents(i);
          b.putInt(s.size());
          s.copyTo(b);
        }
        break;
      case FLOAT16:
      default:
        throw new IllegalArgumentException(dtype.oipName()
            + " has no typed contents field; send it in raw_input_contents");
    }
    return RawCodec.wrap(b);
  }

  /** Typed contents holding the values of a raw tensor (FP16 has no typed field). */
  public static InferTensorContents toContents(DType dtype, ByteString raw) {
    InferTensorContents.Builder c = InferTensorContents.newBuilder();
    switch (dtype) {
      case FLOAT32:
        for (float v : RawCodec.decodeFloats(raw)) {
          c.addFp32Contents(v);
        }
        break;
      case FLOAT64:
        for (double v : RawCodec.decodeDoubles(raw)) {
          c.addFp64Contents(v);
        }
        break;
      case INT64:
        for (long v : RawCodec.decodeLongs(raw)) {
          c.addInt64Contents(v);
        }
        break;
      case INT32:
      case INT16:
      case INT8:
        for (int v : RawCodec.decodeInts(dtype, raw)) {
          c.addIntContents(v);
        }
        break;
      case UINT8:
        for (int v : RawCodec.decodeInts(dtype, raw)) {
          c.addUintContents(v);
        }
        break;
      case BOOL:
        for (boolean v : RawCodec.decodeBooleans(raw)) {
          c.addBoolContents(v);
        }
        break;
      case STRING: {
        ByteBuffer b = RawCodec.le(raw.asReadOnlyByteBuffer());
        int count = RawCodec.countStrings(raw);
        for (int i = 0; i < count; i++) {
          int len = b.getInt();
          c.addBytesContents(raw.substring(b.position(), b.position() + len));
          b.position(b.position() + len);
        }
        break;
      }
      case FLOAT16:
      default:
        throw new IllegalArgumentException(dtype.oipName() + " has no typed contents field");
    }
    return c.build();
  }

  /** True if any typed field of {@code c} holds a value. */
  public static boolean hasValues(InferTensorContents c) {
    return c.getBoolContentsCount() + c.getIntContentsCount() + c.getInt64ContentsCount()
        + c.getUintContentsCount() + c.getUint64ContentsCount() + c.getFp32ContentsCount()
        + c.getFp64ContentsCount() + c.getBytesContentsCount() > 0;
  }

  private static int check(InferTensorContents c, DType dtype, String field, int count,
      long expected) {
    if (count != expected) {
      if (count == 0 && hasValues(c)) {
        throw new IllegalArgumentException(dtype.oipName() + " values must be sent in " + field
            + ", which is empty");
      }
      throw new IllegalArgumentException(field + " holds " + count + " elements, expected "
          + expected);
    }
    return count;
  }

  private static void putNarrow(ByteBuffer b, DType dtype, int v) {
    switch (dtype) {
      case INT32:
        b.putInt(v);
        break;
      case INT16:
        b.putShort((short) v);
        break;
      default:
        b.put((byte) v);
        break;
    }
  }
}
