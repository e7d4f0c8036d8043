/**
 * Builds real ONNX model files in Java ({@link dev.sidecar.testkit.OnnxModels}) so tests and
 * benchmarks run ONNX Runtime on genuine models of any dtype and shape, with plain-Java
 * reference implementations to check the outputs against.
 */
package dev.sidecar.testkit;
