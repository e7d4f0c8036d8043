package dev.sidecar.server.internal;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.TensorInfo;
import dev.sidecar.bundle.DType;

/** The one mapping between sidecar's {@link DType} and ONNX Runtime's Java element types. */
final class OrtTypes {
  private OrtTypes() {
  }

  static OnnxJavaType javaType(DType dtype) {
    switch (dtype) {
      case BOOL: return OnnxJavaType.BOOL;
      case INT8: return OnnxJavaType.INT8;
      case INT16: return OnnxJavaType.INT16;
      case INT32: return OnnxJavaType.INT32;
      case INT64: return OnnxJavaType.INT64;
      case UINT8: return OnnxJavaType.UINT8;
      case FLOAT16: return OnnxJavaType.FLOAT16;
      case FLOAT32: return OnnxJavaType.FLOAT;
      case FLOAT64: return OnnxJavaType.DOUBLE;
      case STRING: return OnnxJavaType.STRING;
      default: throw new IllegalArgumentException("no ONNX Runtime type for " + dtype);
    }
  }

  /** The dtype of an ONNX Runtime tensor, by its ONNX element type number. */
  static DType dtypeOf(TensorInfo info) {
    return DType.fromOnnx(info.onnxType.value);
  }
}
