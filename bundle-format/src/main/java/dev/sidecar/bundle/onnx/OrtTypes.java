package dev.sidecar.bundle.onnx;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.TensorInfo;
import dev.sidecar.bundle.DType;

/** The one mapping between ONNX Runtime's Java types and {@link DType}. */
public final class OrtTypes {
  private OrtTypes() {
  }

  /** The dtype of an ONNX Runtime tensor; throws IllegalArgumentException for unsupported ones. */
  public static DType dtype(TensorInfo info) {
    // TensorInfo.OnnxTensorType.value is ONNX Runtime's Java numbering, not ONNX's; map by name.
    switch (info.onnxType) {
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL: return DType.BOOL;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8: return DType.INT8;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16: return DType.INT16;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32: return DType.INT32;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64: return DType.INT64;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8: return DType.UINT8;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16: return DType.FLOAT16;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: return DType.FLOAT32;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: return DType.FLOAT64;
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING: return DType.STRING;
      default:
        throw new IllegalArgumentException("unsupported element type "
            + info.onnxType.name().replace("ONNX_TENSOR_ELEMENT_DATA_TYPE_", "").toLowerCase(
                java.util.Locale.ROOT) + ", expected one of " + java.util.Arrays.toString(
                    java.util.Arrays.stream(DType.values()).map(DType::id).toArray()));
    }
  }

  /** The ONNX Runtime Java type used to create tensors of this dtype. */
  public static OnnxJavaType javaType(DType t) {
    switch (t) {
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
      default: throw new IllegalArgumentException("no ONNX Runtime type for " + t);
    }
  }
}
