package dev.sidecar.tensor;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.sidecar.bundle.DType;
import dev.sidecar.proto.inference.InferTensorContents;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * The one raw tensor codec of the Open Inference Protocol's {@code raw_input_contents} and
 * {@code raw_output_contents}: row-major, unpadded, little-endian numbers; {@code BOOL} as one
 * byte (0 or 1); {@code FP16} as IEEE 754 half-precision bits; {@code BYTES} elements as a
 * 4-byte little-endian length followed by that many bytes (UTF-8 for strings).
 *
 * <p>Writers fill a caller's {@link ByteBuffer} (any byte order; the codec sets little-endian on
 * the buffer) or return a {@link ByteString} wrapping a fresh array without copying it again.
 * Readers take a {@link ByteString} and return primitive arrays; they throw
 * {@link IllegalArgumentException} with a message that says what was expected and what came.
 */
public final class RawCodec {
  private static final int LENGTH_PREFIX = 4;

  private RawCodec() {
  }

  // ---------------------------------------------------------------- sizes

  /** Bytes that {@code count} elements of a fixed-width dtype take; throws for BYTES. */
  public static long byteLength(DType dtype, long count) {
    requireFixed(dtype);
    return count * dtype.byteSize();
  }

  /** Bytes that the BYTES encoding of these strings takes. */
  public static long byteLength(String[] values, int offset, int length) {
    long n = 0;
    for (int i = offset; i < offset + length; i++) {
      n += LENGTH_PREFIX + utf8Length(values[i]);
    }
    return n;
  }

  // ---------------------------------------------------------------- writers into a ByteBuffer

  /** Writes {@code length} floats as FP32. */
  public static void writeFloats(ByteBuffer dst, float[] src, int offset, int length) {
    ByteBuffer b = le(dst);
    b.asFloatBuffer().put(src, offset, length);
    b.position(b.position() + length * 4);
  }

  /** Writes {@code length} doubles as FP64. */
  public static void writeDoubles(ByteBuffer dst, double[] src, int offset, int length) {
    ByteBuffer b = le(dst);
    b.asDoubleBuffer().put(src, offset, length);
    b.position(b.position() + length * 8);
  }

  /** Writes {@code length} longs as INT64. */
  public static void writeLongs(ByteBuffer dst, long[] src, int offset, int length) {
    ByteBuffer b = le(dst);
    b.asLongBuffer().put(src, offset, length);
    b.position(b.position() + length * 8);
  }

  /**
   * Writes {@code length} ints as {@code dtype}, one of INT8, INT16, INT32, UINT8 (narrowed to
   * the dtype's width; values out of range wrap as in a Java cast).
   */
  public static void writeInts(ByteBuffer dst, DType dtype, int[] src, int offset, int length) {
    ByteBuffer b = le(dst);
    switch (dtype) {
      case INT32:
        b.asIntBuffer().put(src, offset, length);
        b.position(b.position() + length * 4);
        break;
      case INT16:
        for (int i = offset; i < offset + length; i++) {
          b.putShort((short) src[i]);
        }
        break;
      case INT8:
      case UINT8:
        for (int i = offset; i < offset + length; i++) {
          b.put((byte) src[i]);
        }
        break;
      default:
        throw new IllegalArgumentException("ints cannot be written as " + dtype.oipName()
            + ", expected one of [INT8, INT16, INT32, UINT8]");
    }
  }

  /** Writes {@code length} booleans as BOOL bytes (1 = true). */
  public static void writeBooleans(ByteBuffer dst, boolean[] src, int offset, int length) {
    for (int i = offset; i < offset + length; i++) {
      dst.put(src[i] ? (byte) 1 : (byte) 0);
    }
  }

  /** Writes {@code length} floats as FP16 half-precision bits (round to nearest even). */
  public static void writeHalfs(ByteBuffer dst, float[] src, int offset, int length) {
    ByteBuffer b = le(dst);
    for (int i = offset; i < offset + length; i++) {
      b.putShort(floatToHalf(src[i]));
    }
  }

  /** Writes {@code length} strings as BYTES elements (UTF-8; null is written as empty). */
  public static void writeStrings(ByteBuffer dst, String[] src, int offset, int length) {
    ByteBuffer b = le(dst);
    for (int i = offset; i < offset + length; i++) {
      byte[] s = src[i] == null ? new byte[0] : src[i].getBytes(StandardCharsets.UTF_8);
      b.putInt(s.length);
      b.put(s);
    }
  }

  // ---------------------------------------------------------------- encoders returning ByteString

  public static ByteString encodeFloats(float[] src, int offset, int length) {
    ByteBuffer b = ByteBuffer.allocate(length * 4);
    writeFloats(b, src, offset, length);
    return wrap(b);
  }

  public static ByteString encodeDoubles(double[] src, int offset, int length) {
    ByteBuffer b = ByteBuffer.allocate(length * 8);
    writeDoubles(b, src, offset, length);
    return wrap(b);
  }

  public static ByteString encodeLongs(long[] src, int offset, int length) {
    ByteBuffer b = ByteBuffer.allocate(length * 8);
    writeLongs(b, src, offset, length);
    return wrap(b);
  }

  /** Encodes ints as INT8, INT16, INT32 or UINT8. */
  public static ByteString encodeInts(DType dtype, int[] src, int offset, int length) {
    ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(byteLength(dtype, length)));
    writeInts(b, dtype, src, offset, length);
    return wrap(b);
  }

  public static ByteString encodeBooleans(boolean[] src, int offset, int length) {
    ByteBuffer b = ByteBuffer.allocate(length);
    writeBooleans(b, src, offset, length);
    return wrap(b);
  }

  /** Encodes floats as FP16. */
  public static ByteString encodeHalfs(float[] src, int offset, int length) {
    ByteBuffer b = ByteBuffer.allocate(length * 2);
    writeHalfs(b, src, offset, length);
    return wrap(b);
  }

  public static ByteString encodeStrings(String[] src, int offset, int length) {
    ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(byteLength(src, offset, length)));
    writeStrings(b, src, offset, length);
    return wrap(b);
  }

  // ---------------------------------------------------------------- readers

  /** Number of elements in a raw fixed-width tensor; throws if the length is not a multiple. */
  public static int elementCount(DType dtype, ByteString raw) {
    requireFixed(dtype);
    if (raw.size() % dtype.byteSize() != 0) {
      throw new IllegalArgumentException("raw " + dtype.oipName() + " contents hold " + raw.size()
          + " bytes, not a multiple of " + dtype.byteSize() + " bytes per element");
    }
    return raw.size() / dtype.byteSize();
  }

  public static float[] decodeFloats(ByteString raw) {
    float[] out = new float[elementCount(DType.FLOAT32, raw)];
    le(raw.asReadOnlyByteBuffer()).asFloatBuffer().get(out);
    return out;
  }

  public static double[] decodeDoubles(ByteString raw) {
    double[] out = new double[elementCount(DType.FLOAT64, raw)];
    le(raw.asReadOnlyByteBuffer()).asDoubleBuffer().get(out);
    return out;
  }

  public static long[] decodeLongs(ByteString raw) {
    long[] out = new long[elementCount(DType.INT64, raw)];
    le(raw.asReadOnlyByteBuffer()).asLongBuffer().get(out);
    return out;
  }

  /** Decodes INT8, INT16, INT32 (sign-extended) or UINT8 (zero-extended) into ints. */
  public static int[] decodeInts(DType dtype, ByteString raw) {
    int[] out = new int[elementCount(dtype, raw)];
    ByteBuffer b = le(raw.asReadOnlyByteBuffer());
    switch (dtype) {
      case INT32:
        b.asIntBuffer().get(out);
        break;
      case INT16:
        for (int i = 0; i < out.length; i++) {
          out[i] = b.getShort();
        }
        break;
      case INT8:
        for (int i = 0; i < out.length; i++) {
          out[i] = b.get();
        }
        break;
      case UINT8:
        for (int i = 0; i < out.length; i++) {
          out[i] = b.get() & 0xFF;
        }
        break;
      default:
        throw new IllegalArgumentException(dtype.oipName()
            + " cannot be read as ints, expected one of [INT8, INT16, INT32, UINT8]");
    }
    return out;
  }

  /** Decodes BOOL bytes; any non-zero byte is true. */
  public static boolean[] decodeBooleans(ByteString raw) {
    boolean[] out = new boolean[raw.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = raw.byteAt(i) != 0;
    }
    return out;
  }

  /** Decodes FP16 bits into floats. */
  public static float[] decodeHalfs(ByteString raw) {
    float[] out = new float[elementCount(DType.FLOAT16, raw)];
    ByteBuffer b = le(raw.asReadOnlyByteBuffer());
    for (int i = 0; i < out.length; i++) {
      out[i] = halfToFloat(b.getShort());
    }
    return out;
  }

  /**
   * Decodes exactly {@code count} BYTES elements as UTF-8 strings; throws naming the element
   * whose length prefix is bad or whose bytes are not valid UTF-8, and on a count that differs
   * or on trailing bytes. Nothing is allocated for elements the contents cannot hold.
   */
  public static String[] decodeStrings(ByteString raw, int count) {
    if (count < 0 || (long) count * LENGTH_PREFIX > raw.size()) {
      throw new IllegalArgumentException("BYTES contents of " + raw.size() + " bytes cannot hold "
          + count + " elements (each takes at least " + LENGTH_PREFIX + " bytes)");
    }
    String[] out = new String[count];
    ByteBuffer b = le(raw.asReadOnlyByteBuffer());
    for (int i = 0; i < count; i++) {
      if (b.remaining() < LENGTH_PREFIX) {
        throw new IllegalArgumentException("BYTES contents end after " + i + " of " + count
            + " elements (" + raw.size() + " bytes)");
      }
      int len = b.getInt();
      if (len < 0 || len > b.remaining()) {
        throw new IllegalArgumentException("BYTES element " + i + " declares length "
            + Integer.toUnsignedString(len) + " but only " + b.remaining() + " bytes remain");
      }
      byte[] s = new byte[len];
      b.get(s);
      out[i] = utf8(s, i);
    }
    if (b.hasRemaining()) {
      throw new IllegalArgumentException("BYTES contents hold " + b.remaining()
          + " bytes after the " + count + " expected elements");
    }
    return out;
  }

  /**
   * The string {@code bytes} hold; throws if they are not valid UTF-8. Java's decoder replaces
   * every malformed sequence with U+FFFD, so only a result holding U+FFFD is checked strictly.
   */
  private static String utf8(byte[] bytes, int element) {
    String s = new String(bytes, StandardCharsets.UTF_8);
    if (s.indexOf('\uFFFD') < 0) {
      return s;
    }
    try {
      StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes));
      return s;
    } catch (CharacterCodingException e) {
      throw new IllegalArgumentException("BYTES element " + element + " is not valid UTF-8 ("
          + e.getMessage() + "); string inputs must be UTF-8 text");
    }
  }

  /** Counts the BYTES elements of raw contents, checking every length prefix. */
  public static int countStrings(ByteString raw) {
    ByteBuffer b = le(raw.asReadOnlyByteBuffer());
    int n = 0;
    while (b.hasRemaining()) {
      if (b.remaining() < LENGTH_PREFIX) {
        throw new IllegalArgumentException("BYTES element " + n + " has a truncated length prefix ("
            + b.remaining() + " of 4 bytes)");
      }
      int len = b.getInt();
      if (len < 0 || len > b.remaining()) {
        throw new IllegalArgumentException("BYTES element " + n + " declares length "
            + Integer.toUnsignedString(len) + " but only " + b.remaining() + " bytes remain");
      }
      b.position(b.position() + len);
      n++;
    }
    return n;
  }

  // ---------------------------------------------------------------- typed contents <-> raw

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
          size += LENGTH_PREFIX + c.getBytesContents(i).size();
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
    return wrap(b);
  }

  /** Typed contents holding the values of a raw tensor (FP16 has no typed field). */
  public static InferTensorContents toContents(DType dtype, ByteString raw) {
    InferTensorContents.Builder c = InferTensorContents.newBuilder();
    switch (dtype) {
      case FLOAT32:
        for (float v : decodeFloats(raw)) {
          c.addFp32Contents(v);
        }
        break;
      case FLOAT64:
        for (double v : decodeDoubles(raw)) {
          c.addFp64Contents(v);
        }
        break;
      case INT64:
        for (long v : decodeLongs(raw)) {
          c.addInt64Contents(v);
        }
        break;
      case INT32:
      case INT16:
      case INT8:
        for (int v : decodeInts(dtype, raw)) {
          c.addIntContents(v);
        }
        break;
      case UINT8:
        for (int v : decodeInts(dtype, raw)) {
          c.addUintContents(v);
        }
        break;
      case BOOL:
        for (boolean v : decodeBooleans(raw)) {
          c.addBoolContents(v);
        }
        break;
      case STRING: {
        ByteBuffer b = le(raw.asReadOnlyByteBuffer());
        int count = countStrings(raw);
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

  // ---------------------------------------------------------------- float16

  /** IEEE 754 half-precision bits of {@code f}, rounding to nearest even. */
  public static short floatToHalf(float f) {
    int bits = Float.floatToRawIntBits(f);
    int sign = (bits >>> 16) & 0x8000;
    int exp = (bits >>> 23) & 0xFF;
    int mant = bits & 0x7FFFFF;
    if (exp == 0xFF) {
      return (short) (sign | 0x7C00 | (mant != 0 ? 0x200 | (mant >>> 13) : 0));
    }
    int e = exp - 127 + 15;
    if (e >= 0x1F) {
      return (short) (sign | 0x7C00);
    }
    if (e <= 0) {
      if (e < -10) {
        return (short) sign;
      }
      int m = mant | 0x800000;
      int shift = 14 - e;
      int half = m >>> shift;
      int rem = m & ((1 << shift) - 1);
      int mid = 1 << (shift - 1);
      if (rem > mid || (rem == mid && (half & 1) != 0)) {
        half++;
      }
      return (short) (sign | half);
    }
    int half = (e << 10) | (mant >>> 13);
    int rem = mant & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1) != 0)) {
      half++;
    }
    return (short) (sign | half);
  }

  /** The float value of IEEE 754 half-precision bits. */
  public static float halfToFloat(short h) {
    int bits = h & 0xFFFF;
    int sign = (bits & 0x8000) << 16;
    int exp = (bits >>> 10) & 0x1F;
    int mant = bits & 0x3FF;
    if (exp == 0) {
      float v = mant * 0x1p-24f;
      return sign == 0 ? v : -v;
    }
    if (exp == 0x1F) {
      return Float.intBitsToFloat(sign | 0x7F800000 | (mant << 13));
    }
    return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
  }

  // ---------------------------------------------------------------- internals

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

  private static void requireFixed(DType dtype) {
    if (!dtype.isFixedWidth()) {
      throw new IllegalArgumentException(dtype.oipName() + " elements have no fixed width");
    }
  }

  private static ByteBuffer le(ByteBuffer b) {
    return b.order(ByteOrder.LITTLE_ENDIAN);
  }

  private static ByteString wrap(ByteBuffer b) {
    return UnsafeByteOperations.unsafeWrap(b.array(), 0, b.position());
  }

  private static int utf8Length(String s) {
    if (s == null) {
      return 0;
    }
    int n = 0;
    for (int i = 0; i < s.length(); i++) {
      char ch = s.charAt(i);
      if (ch < 0x80) {
        n++;
      } else if (ch < 0x800) {
        n += 2;
      } else if (Character.isHighSurrogate(ch) && i + 1 < s.length()
          && Character.isLowSurrogate(s.charAt(i + 1))) {
        n += 4;
        i++;
      } else {
        n += 3;
      }
    }
    return n;
  }
}
