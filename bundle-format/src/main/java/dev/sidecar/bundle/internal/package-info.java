/**
 * Internals of the bundle module: canonical manifest JSON, the bundle.yaml reader, archive
 * writing and safe reading, model checks through ONNX Runtime, digests and file locks.
 * Not an API: use the types of {@code dev.sidecar.bundle}.
 */
package dev.sidecar.bundle.internal;
