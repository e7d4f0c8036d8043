package dev.sidecar.tensor;

import com.google.protobuf.ByteString;
import dev.sidecar.bundle.DType;
import java.nio.ByteBuffer;

/**
 * IEEE 754 half precision ({@code FP16}) as the raw codec carries it: two little-endian bytes
 * per element, converted from and to Java floats (rounding to nearest even).
 */
public final class Float16 {
  private Float16() {
  }

  /** Writes {@code length} floats as FP16 half-precision bits (round to nearest even). */
  public static void write(ByteBuffer dst, float[] src, int offset, int length) {
    ByteBuffer b = RawCodec.le(dst);
    for (int i = offset; i < offset + length; i++) {
      b.putShort(toHalf(src[i]));
    }
  }

  /** Encodes floats as FP16. */
  public static ByteString encode(float[] src, int offset, int length) {
    ByteBuffer b = ByteBuffer.allocate(length * 2);
    write(b, src, offset, length);
    return RawCodec.wrap(b);
  }

  /** Decodes FP16 bits into floats. */
  public static float[] decode(ByteString raw) {
    float[] out = new float[RawCodec.elementCount(DType.FLOAT16, raw)];
    ByteBuffer b = RawCodec.le(raw.asReadOnlyByteBuffer());
    for (int i = 0; i < out.length; i++) {
      out[i] = toFloat(b.getShort());
    }
    return out;
  }

  /** IEEE 754 half-precision bits of {@code f}, rounding to nearest even. */
  public static short toHalf(float f) {
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
  public static float toFloat(short h) {
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
}
