/**
 * Server internals: the Open Inference Protocol service, ONNX Runtime sessions, request and
 * descriptor mapping, the adaptive batcher and its latency model, metrics and authentication.
 */
package dev.sidecar.server.internal;
