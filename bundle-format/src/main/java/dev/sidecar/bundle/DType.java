package dev.sidecar.bundle;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The element types sidecar understands, and the one table that maps them between the
 * names users write in {@code bundle.yaml}, the Open Inference Protocol's datatype strings
 * and ONNX's {@code TensorProto.DataType} numbers. Other layers (ONNX Runtime's Java types,
 * Spark's SQL types) map from this enum in exactly one place each.
 */
public enum DType {
  BOOL("bool", "BOOL", 9, 1),
  INT8("int8", "INT8", 3, 1),
  INT16("int16", "INT16", 5, 2),
  INT32("int32", "INT32", 6, 4),
  INT64("int64", "INT64", 7, 8),
  UINT8("uint8", "UINT8", 2, 1),
  FLOAT16("float16", "FP16", 10, 2),
  FLOAT32("float32", "FP32", 1, 4),
  FLOAT64("float64", "FP64", 11, 8),
  STRING("string", "BYTES", 8, -1);

  private final String id;
  private final String oip;
  private final int onnx;
  private final int byteSize;

  DType(String id, String oip, int onnx, int byteSize) {
    this.id = id;
    this.oip = oip;
    this.onnx = onnx;
    this.byteSize = byteSize;
  }

  /** The name used in bundle.yaml and the manifest, e.g. {@code float32}. */
  public String id() {
    return id;
  }

  /** The Open Inference Protocol datatype string, e.g. {@code FP32}. */
  public String oipName() {
    return oip;
  }

  /** The ONNX {@code TensorProto.DataType} number, e.g. 1 for float. */
  public int onnxType() {
    return onnx;
  }

  /** Bytes per element in the raw encoding; -1 for {@link #STRING} (length-prefixed). */
  public int byteSize() {
    return byteSize;
  }

  public boolean isFixedWidth() {
    return byteSize > 0;
  }

  /** True for the integer and floating point types (not bool, not string). */
  public boolean isNumeric() {
    return this != BOOL && this != STRING;
  }

  /** Parses a bundle.yaml name (case-insensitive; {@code float}, {@code double}, {@code half} accepted as aliases). */
  public static DType parse(String name) {
    String n = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
    switch (n) {
      case "float": return FLOAT32;
      case "double": return FLOAT64;
      case "half": return FLOAT16;
      case "boolean": return BOOL;
      case "str": case "bytes": return STRING;
      default: break;
    }
    for (DType t : values()) {
      if (t.id.equals(n)) {
        return t;
      }
    }
    throw new IllegalArgumentException("unknown dtype '" + name + "', expected one of " + ids());
  }

  /** Maps an OIP datatype string (e.g. {@code FP32}); throws naming the valid choices. */
  public static DType fromOip(String datatype) {
    for (DType t : values()) {
      if (t.oip.equals(datatype)) {
        return t;
      }
    }
    throw new IllegalArgumentException("unsupported datatype '" + datatype + "', expected one of "
        + Arrays.stream(values()).map(DType::oipName).collect(Collectors.joining(", ", "[", "]")));
  }

  /** Maps an ONNX element type number; throws for types sidecar does not carry. */
  public static DType fromOnnx(int onnxType) {
    for (DType t : values()) {
      if (t.onnx == onnxType) {
        return t;
      }
    }
    throw new IllegalArgumentException("unsupported ONNX element type " + onnxType
        + ", expected one of " + ids());
  }

  static String ids() {
    return Arrays.stream(values()).map(DType::id).collect(Collectors.joining(", ", "[", "]"));
  }
}
