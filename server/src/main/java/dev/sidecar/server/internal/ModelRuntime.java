package dev.sidecar.server.internal;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.sidecar.bundle.DType;
import dev.sidecar.bundle.internal.OrtTypes;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * One ONNX Runtime session of one bundle model, created once and shared by every API and
 * inference worker that uses the model (sessions are safe for concurrent {@code run}).
 */
final class ModelRuntime implements AutoCloseable {
  /** A model input or output that is a tensor: its dtype and shape (-1 = dynamic). */
  record Port(String name, DType dtype, long[] shape) {
    String describe() {
      return dtype.oipName() + " " + Arrays.toString(shape);
    }
  }

  private final String name;
  private final OrtSession session;
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
      this.inputs = ports(session.getInputInfo(), "input");
      this.outputs = ports(session.getOutputInfo(), "output");
    } catch (RuntimeException e) {
      session.close();
      throw e;
    }
  }

  private Map<String, Port> ports(Map<String, NodeInfo> infos, String kind) {
    Map<String, Port> out = new LinkedHashMap<>();
    for (NodeInfo ni : infos.values()) {
      if (!(ni.getInfo() instanceof TensorInfo)) {
        // Non-tensor outputs are not ports; a ZipMap's sequence of maps is read by ApiEndpoint.
        continue;
      }
      TensorInfo ti = (TensorInfo) ni.getInfo();
      DType dt;
      try {
        dt = OrtTypes.dtype(ti);
      } catch (IllegalArgumentException e) {
        continue;
      }
      long[] shape = ti.getShape().clone();
      for (int i = 0; i < shape.length; i++) {
        if (shape[i] < 0) {
          shape[i] = -1;
        }
      }
      out.put(ni.getName(), new Port(ni.getName(), dt, shape));
    }
    return out;
  }

  String name() {
    return name;
  }

  Map<String, Port> inputs() {
    return inputs;
  }

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
