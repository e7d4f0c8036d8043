package dev.sidecar.server.internal;

/**
 * A stage every batch passes on its inference worker just before ONNX Runtime runs it. The
 * server has none; tests use one to hold a worker busy for as long as they need, or to make a
 * batch fail, while every other part of the path stays real.
 */
@FunctionalInterface
public interface ModelCallHook {
  /** Runs on the worker before the model call of {@code rows} rows of API {@code api}. */
  void beforeModelCall(String api, int rows);
}
