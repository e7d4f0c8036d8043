/**
 * Tensor encodings shared by the server and its clients: {@link dev.sidecar.tensor.RawCodec} is
 * the one codec of the Open Inference Protocol's raw little-endian tensor contents.
 */
package dev.sidecar.tensor;
