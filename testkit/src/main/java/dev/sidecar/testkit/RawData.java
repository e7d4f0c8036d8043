package dev.sidecar.testkit;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Little-endian {@code raw_data} for TensorProto initializers, built without extra copies. */
final class RawData {
  private RawData() {}

  static ByteString of(float[] data) {
    ByteBuffer b = allocate(data.length, 4);
    b.asFloatBuffer().put(data);
    return wrap(b.array());
  }

  static ByteString of(double[] data) {
    ByteBuffer b = allocate(data.length, 8);
    b.asDoubleBuffer().put(data);
    return wrap(b.array());
  }

  static ByteString of(int[] data) {
    ByteBuffer b = allocate(data.length, 4);
    b.asIntBuffer().put(data);
    return wrap(b.array());
  }

  static ByteString of(long[] data) {
    ByteBuffer b = allocate(data.length, 8);
    b.asLongBuffer().put(data);
    return wrap(b.array());
  }

  static ByteString wrap(byte[] bytes) {
    return UnsafeByteOperations.unsafeWrap(bytes);
  }

  /** Bytes per element of an ONNX element type, or -1 when it has no fixed width (STRING). */
  static int width(int elemType) {
    return switch (elemType) {
      case 2, 3, 9 -> 1; // UINT8, INT8, BOOL
      case 4, 5, 10, 16 -> 2; // UINT16, INT16, FLOAT16, BFLOAT16
      case 1, 6, 12 -> 4; // FLOAT, INT32, UINT32
      case 7, 11, 13, 14 -> 8; // INT64, DOUBLE, UINT64, COMPLEX64
      case 15 -> 16; // COMPLEX128
      default -> -1;
    };
  }

  private static ByteBuffer allocate(int count, int width) {
    long bytes = (long) count * width;
    if (bytes > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("initializer of " + count + " elements is too large for one array ("
          + bytes + " bytes)");
    }
    return ByteBuffer.allocate((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
  }
}
