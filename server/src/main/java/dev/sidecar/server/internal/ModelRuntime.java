package dev.sidecar.server.internal;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.sidecar.bundle.internal.ApiBinding;
import dev.sidecar.bundle.internal.ApiBinding.Port;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/**
 * One ONNX Runtime session of one bundle model, created once and shared by every API and
 * inference worker that uses the model (sessions are safe for concurrent {@code run}).
 */
final class ModelRuntime implements AutoCloseable {
  private final String name;
  private final OrtSession session;
  private final ApiBinding.Model ports;
  private final Map<String, Port> inputs;
  private final Map<String, Port> outputs;

  ModelRuntime(String name, Path file, int intraOpThreads, int interOpThreads) throws OrtException {
    this.name = name;
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession.SessionOptions so = new OrtSession.SessionOptions()) {
      if (intraOpThreads > 0) {
        so.setIntraOpNumThreads(intraOpThreads);
      }
      if (interOpThreads > 0) {
        so.setInterOpNumThreads(interOpThreads);
      }
      so.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
      this.session = env.createSession(file.toString(), so);
    }
    try {
      this.ports = ApiBinding.Model.of(name, session);
      this.inputs = ports.tensorInputs();
      this.outputs = ports.tensorOutputs();
    } catch (RuntimeException e) {
      session.close();
      throw e;
    }
  }

  String name() {
    return name;
  }

  /** The model's inputs and outputs as ONNX Runtime describes them, to bind APIs to. */
  ApiBinding.Model ports() {
    return ports;
  }

  /** The tensor inputs. */
  Map<String, Port> inputs() {
    return inputs;
  }

  /** The tensor outputs. */
  Map<String, Port> outputs() {
    return outputs;
  }

  /** All output names of the model, tensors or not (for error messages). */
  Set<String> allOutputNames() {
    return session.getOutputNames();
  }

  Set<String> allInputNames() {
    return session.getInputNames();
  }

  OrtSession.Result run(Map<String, OnnxTensor> feeds, Set<String> wanted) throws OrtException {
    return session.run(feeds, wanted);
  }

  @Override
  public void close() {
    try {
      session.close();
    } catch (OrtException e) {
      throw new IllegalStateException("closing ONNX Runtime session of model " + name, e);
    }
  }
}
