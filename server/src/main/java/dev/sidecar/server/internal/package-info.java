/**
 * Server internals: the Open Inference Protocol service, ONNX Runtime sessions (and the ZipMap
 * tensors they expose), request and descriptor mapping, the adaptive batcher and its latency
 * model, shared-memory regions, metrics, authentication and logging. Private to the server
 * module: a build test refuses any other module naming this package.
 */
package dev.sidecar.server.internal;
