package dev.sidecar.tensor;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.sidecar.bundle.DType;
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
 * FP16 values are converted by {@link Float16}; the protocol's typed {@code contents} fields by
 * {@link TypedContents}.
 */
public final class RawCodec {
  static final int LENGTH_PREFIX = 4;

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

  // ---------------------------------------------------------------- internals

  private static void requireFixed(DType dtype) {
    if (!dtype.isFixedWidth()) {
      throw new IllegalArgumentException(dtype.oipName() + " elements have no fixed width");
    }
  }

  static ByteBuffer le(ByteBuffer b) {
    return b.order(ByteOrder.LITTLE_ENDIAN);
  }

  static ByteString wrap(ByteBuffer b) {
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
