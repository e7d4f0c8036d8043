/**
 * Tensor encodings shared by the server and its clients (the wire module):
 * {@link dev.sidecar.tensor.RawCodec} is the one codec of the Open Inference Protocol's raw
 * little-endian tensor contents, {@link dev.sidecar.tensor.Float16} converts half-precision
 * values in it, and {@link dev.sidecar.tensor.TypedContents} turns the protocol's typed
 * {@code contents} fields into it and back.
 */
package dev.sidecar.tensor;
