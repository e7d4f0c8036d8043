package dev.sidecar.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.sidecar.bundle.DType;
import dev.sidecar.proto.inference.InferTensorContents;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

class RawCodecTest {

  @Test
  void numbersAreLittleEndianAndRoundTrip() {
    ByteString f = RawCodec.encodeFloats(new float[] {9f, 1.5f, -2f, 9f}, 1, 2);
    assertEquals(8, f.size());
    assertEquals(ByteString.copyFrom(new byte[] {0, 0, (byte) 0xC0, 0x3F, 0, 0, 0, (byte) 0xC0}), f);
    assertArrayEquals(new float[] {1.5f, -2f}, RawCodec.decodeFloats(f));
    assertArrayEquals(new double[] {Math.PI, -0.0},
        RawCodec.decodeDoubles(RawCodec.encodeDoubles(new double[] {Math.PI, -0.0}, 0, 2)));
    assertArrayEquals(new long[] {Long.MIN_VALUE, 7},
        RawCodec.decodeLongs(RawCodec.encodeLongs(new long[] {Long.MIN_VALUE, 7}, 0, 2)));
    ByteString i64 = RawCodec.encodeLongs(new long[] {1}, 0, 1);
    assertEquals(1, i64.byteAt(0));
    int[] ints = {-3, 200, 70000};
    assertArrayEquals(new int[] {-3, 200, 70000},
        RawCodec.decodeInts(DType.INT32, RawCodec.encodeInts(DType.INT32, ints, 0, 3)));
    assertArrayEquals(new int[] {-3, 200, 4464},
        RawCodec.decodeInts(DType.INT16, RawCodec.encodeInts(DType.INT16, ints, 0, 3)));
    assertArrayEquals(new int[] {-3, -56, 112},
        RawCodec.decodeInts(DType.INT8, RawCodec.encodeInts(DType.INT8, ints, 0, 3)));
    assertArrayEquals(new int[] {253, 200, 112},
        RawCodec.decodeInts(DType.UINT8, RawCodec.encodeInts(DType.UINT8, ints, 0, 3)));
    ByteString b = RawCodec.encodeBooleans(new boolean[] {true, false, true}, 0, 3);
    assertEquals(ByteString.copyFrom(new byte[] {1, 0, 1}), b);
    assertArrayEquals(new boolean[] {true, false, true}, RawCodec.decodeBooleans(b));
  }

  @Test
  void writersFillACallersBufferInPlace() {
    ByteBuffer buf = ByteBuffer.allocateDirect(64);
    RawCodec.writeFloats(buf, new float[] {1f, 2f}, 0, 2);
    RawCodec.writeLongs(buf, new long[] {3L}, 0, 1);
    RawCodec.writeStrings(buf, new String[] {"hé"}, 0, 1);
    assertEquals(4 * 2 + 8 + 4 + 3, buf.position());
    buf.flip();
    ByteString all = ByteString.copyFrom(buf);
    assertArrayEquals(new float[] {1f, 2f}, RawCodec.decodeFloats(all.substring(0, 8)));
    assertArrayEquals(new long[] {3L}, RawCodec.decodeLongs(all.substring(8, 16)));
    assertArrayEquals(new String[] {"hé"}, RawCodec.decodeStrings(all.substring(16), 1));
  }

  @Test
  void float16ConvertsBothWays() {
    float[] values = {0f, -0f, 1f, -2.5f, 65504f, 6.1035156e-05f, 5.9604645e-08f, 0.333251953125f,
        Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
    short[] bits = {0x0000, (short) 0x8000, 0x3C00, (short) 0xC100, 0x7BFF, 0x0400, 0x0001, 0x3555,
        0x7C00, (short) 0xFC00};
    for (int i = 0; i < values.length; i++) {
      assertEquals(bits[i], Float16.toHalf(values[i]), "half of " + values[i]);
      assertEquals(values[i], Float16.toFloat(bits[i]), "float of " + bits[i]);
    }
    assertTrue(Float.isNaN(Float16.toFloat(Float16.toHalf(Float.NaN))));
    assertEquals(0x7C00, Float16.toHalf(1e6f), "overflow rounds to infinity");
    assertEquals(0x3C00, Float16.toHalf(1.0002f), "rounds to nearest");
    float[] back = Float16.decode(Float16.encode(new float[] {1f, -2.5f}, 0, 2));
    assertArrayEquals(new float[] {1f, -2.5f}, back);
  }

  @Test
  void stringsAreLengthPrefixedUtf8() {
    String[] s = {"", "a", "ünïcødé ✓", "😀"};
    ByteString raw = RawCodec.encodeStrings(s, 0, s.length);
    assertEquals(RawCodec.byteLength(s, 0, s.length), raw.size());
    assertEquals(s.length, RawCodec.countStrings(raw));
    assertArrayEquals(s, RawCodec.decodeStrings(raw, s.length));
  }

  @Test
  void badBytesElementsAreNamed() {
    ByteString raw = RawCodec.encodeStrings(new String[] {"ab", "cd"}, 0, 2);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> RawCodec.decodeStrings(raw.substring(0, raw.size() - 1), 2));
    assertEquals("BYTES element 1 declares length 2 but only 1 bytes remain", e.getMessage());
    ByteString huge = ByteString.copyFrom(new byte[] {(byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x7F});
    e = assertThrows(IllegalArgumentException.class, () -> RawCodec.countStrings(huge));
    assertTrue(e.getMessage().contains("element 0 declares length 2147483647"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> RawCodec.decodeStrings(raw, 1));
    assertTrue(e.getMessage().contains("6 bytes after the 1 expected"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> RawCodec.decodeStrings(raw, 3));
    assertTrue(e.getMessage().contains("end after 2 of 3"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> RawCodec.decodeFloats(ByteString.copyFrom(new byte[6])));
    assertTrue(e.getMessage().contains("6 bytes, not a multiple of 4"), e.getMessage());
  }

  @Test
  void typedContentsConvertToRawAndBack() {
    InferTensorContents c = InferTensorContents.newBuilder().addFp32Contents(1f)
        .addFp32Contents(2f).build();
    ByteString raw = TypedContents.fromContents(c, DType.FLOAT32, 2);
    assertArrayEquals(new float[] {1f, 2f}, RawCodec.decodeFloats(raw));
    assertEquals(c, TypedContents.toContents(DType.FLOAT32, raw));
    InferTensorContents s = InferTensorContents.newBuilder()
        .addBytesContents(ByteString.copyFromUtf8("x")).addBytesContents(ByteString.EMPTY).build();
    ByteString sraw = TypedContents.fromContents(s, DType.STRING, 2);
    assertArrayEquals(new String[] {"x", ""}, RawCodec.decodeStrings(sraw, 2));
    assertEquals(s, TypedContents.toContents(DType.STRING, sraw));
    InferTensorContents i8 = InferTensorContents.newBuilder().addIntContents(-1).addIntContents(5)
        .build();
    assertEquals(ByteString.copyFrom(new byte[] {-1, 5}), TypedContents.fromContents(i8, DType.INT8, 2));
    InferTensorContents u8 = InferTensorContents.newBuilder().addUintContents(255).build();
    assertEquals(u8, TypedContents.toContents(DType.UINT8, TypedContents.fromContents(u8, DType.UINT8, 1)));
    InferTensorContents bools = InferTensorContents.newBuilder().addBoolContents(true).build();
    assertEquals(bools, TypedContents.toContents(DType.BOOL, TypedContents.fromContents(bools, DType.BOOL, 1)));

    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> TypedContents.fromContents(c, DType.FLOAT32, 3));
    assertEquals("fp32_contents holds 2 elements, expected 3", e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> TypedContents.fromContents(c, DType.FLOAT64, 2));
    assertEquals("FP64 values must be sent in fp64_contents, which is empty", e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> TypedContents.fromContents(c, DType.FLOAT16, 2));
    assertTrue(e.getMessage().contains("raw_input_contents"), e.getMessage());
  }
}
