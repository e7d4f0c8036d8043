package dev.sidecar.server.internal;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.sidecar.bundle.onnx.ApiBinding;
import dev.sidecar.bundle.onnx.ApiBinding.Port;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One ONNX Runtime session of one bundle model, created once and shared by every API and
 * inference worker that uses the model (sessions are safe for concurrent {@code run}).
 *
 * <p>A ZipMap output (a sequence of maps, as skl2onnx converts classifiers) is fetched as the
 * float {@code [N, k]} tensor its ZipMap node reads ({@link ZipMapTensors}): the session is
 * created from a copy of the model in memory that also has that tensor as a graph output (the
 * bundle's verified file is untouched; the added output is hidden from {@link #ports}), and
 * {@link #run} fetches the tensor instead, so the maps are never read through the Java API
 * (ONNX Runtime still runs the ZipMap node: its inference builds run the whole graph). A
 * ZipMap whose input does not fit is read as a sequence of maps, as before, and the reason
 * logged once.
 */
final class ModelRuntime implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ModelRuntime.class);
  private final String name;
  private final OrtSession session;
  private final ApiBinding.Model ports;
  private final Map<String, Port> inputs;
  private final Map<String, Port> outputs;
  /** The ZipMap outputs read from their input tensor instead, by output name. */
  private final Map<String, ZipMapTensors.Tap> taps;
  /** Outputs added to the model for {@link #taps}, hidden from the model's description. */
  private final Set<String> hidden;

  ModelRuntime(String name, Path file, int intraOpThreads, int interOpThreads) throws OrtException {
    this.name = name;
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    ZipMapTensors plan = null;
    try {
      plan = ZipMapTensors.plan(file);
    } catch (IOException | RuntimeException e) {
      LOG.info("model '{}': ZipMap outputs, if any, are read as sequences of maps: its graph"
          + " cannot be read for them: {}", name, e.toString());
    }
    OrtSession s = null;
    try (OrtSession.SessionOptions so = new OrtSession.SessionOptions()) {
      if (intraOpThreads > 0) {
        so.setIntraOpNumThreads(intraOpThreads);
      }
      if (interOpThreads > 0) {
        so.setInterOpNumThreads(interOpThreads);
      }
      so.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
      if (plan != null && plan.model() != null) {
        try {
          s = env.createSession(plan.model(), so);
        } catch (OrtException | RuntimeException e) {
          LOG.info("model '{}': ZipMap outputs {} are read as sequences of maps: ONNX Runtime"
              + " cannot load the model with their inputs as outputs: {}", name,
              plan.taps().keySet(), e.getMessage());
          plan = null;
        }
      }
      this.session = s != null ? s : env.createSession(file.toString(), so);
    }
    try {
      ApiBinding.Model all = ApiBinding.Model.of(name, session);
      Map<String, ZipMapTensors.Tap> taps = new LinkedHashMap<>();
      Set<String> hidden = new HashSet<>();
      if (plan != null) {
        for (String why : plan.skipped()) {
          LOG.info("model '{}': ZipMap {}; it is read as a sequence of maps", name, why);
        }
        for (ZipMapTensors.Tap t : plan.taps().values()) {
          if (t.added()) {
            hidden.add(t.tensor());
          }
          String why = ZipMapTensors.misfit(t, all.outputs().get(t.tensor()));
          if (why != null) {
            LOG.info("model '{}': ZipMap {}; it is read as a sequence of maps", name, why);
          } else {
            taps.put(t.output(), t);
            LOG.debug("model '{}': ZipMap output '{}' is read from tensor '{}'", name,
                t.output(), t.tensor());
          }
        }
      }
      Map<String, Port> outs = new LinkedHashMap<>(all.outputs());
      outs.keySet().removeAll(hidden);
      this.ports = new ApiBinding.Model(name, all.inputs(), outs);
      this.hidden = Set.copyOf(hidden);
      this.taps = Collections.unmodifiableMap(taps);
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
    Set<String> names = new LinkedHashSet<>(session.getOutputNames());
    names.removeAll(hidden);
    return names;
  }

  /**
   * The ZipMap outputs that {@link #run} computes as their ZipMap node's input tensor (the
   * maps are then never read), by output name; read them with {@link ZipMapTensors#read}.
   */
  Map<String, ZipMapTensors.Tap> zipMapTaps() {
    return taps;
  }

  /** The value ONNX Runtime computes for {@code output}: its tensor if it is a tapped ZipMap. */
  String requested(String output) {
    ZipMapTensors.Tap t = taps.get(output);
    return t == null ? output : t.tensor();
  }

  /** Model output {@code output} of a {@link #run} result (a tapped ZipMap's tensor). */
  OnnxValue output(OrtSession.Result r, String output) {
    String req = requested(output);
    return r.get(req).orElseThrow(() -> new IllegalStateException("ONNX Runtime gave no value"
        + " for model output '" + output + "'" + (req.equals(output) ? "" : " (tensor '" + req
        + "')")));
  }

  Set<String> allInputNames() {
    return session.getInputNames();
  }

  /**
   * Runs the model for the {@code wanted} outputs; read each with {@link #output}, as a tapped
   * ZipMap output is computed as its input tensor.
   */
  OrtSession.Result run(Map<String, OnnxTensor> feeds, Set<String> wanted) throws OrtException {
    return run(feeds, wanted, Map.of());
  }

  /**
   * As {@link #run(Map, Set)}, with the outputs in {@code pinned} (model output names, never a
   * tapped ZipMap) written by ONNX Runtime into the given tensors instead of into new ones; those
   * are not read from the result.
   */
  OrtSession.Result run(Map<String, OnnxTensor> feeds, Set<String> wanted,
      Map<String, OnnxTensor> pinned) throws OrtException {
    if (taps.isEmpty() && pinned.isEmpty()) {
      return session.run(feeds, wanted);
    }
    Set<String> req = new LinkedHashSet<>();
    for (String w : wanted) {
      if (!pinned.containsKey(w)) {
        req.add(requested(w));
      }
    }
    return pinned.isEmpty() ? session.run(feeds, req) : session.run(feeds, req, pinned);
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
