/**
 * A bundle's APIs bound to ONNX models as ONNX Runtime describes them: the one place of the
 * rules between an API and its model ({@link dev.sidecar.bundle.onnx.ApiBinding}: columns,
 * feeds, outputs, and their messages), the one map between ONNX Runtime's types and
 * {@code DType} ({@link dev.sidecar.bundle.onnx.OrtTypes}), sequences of maps read as class
 * probabilities ({@link dev.sidecar.bundle.onnx.ClassMaps}), and the graph facts ONNX Runtime
 * does not expose, such as class labels and ZipMap keys
 * ({@link dev.sidecar.bundle.onnx.OnnxGraph}).
 * The bundle builder binds every API at build time; the server binds it again when it loads
 * the bundle, and serves with the binding.
 *
 * <p>For sidecar's own modules, not a user API: no compatibility promise.
 */
package dev.sidecar.bundle.onnx;
