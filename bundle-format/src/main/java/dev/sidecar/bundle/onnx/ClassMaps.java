package dev.sidecar.bundle.onnx;

import ai.onnxruntime.OnnxMap;
import ai.onnxruntime.OnnxSequence;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtException;
import dev.sidecar.bundle.DType;
import dev.sidecar.bundle.OutputSpec;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Reads a model output that is a sequence of maps from class keys to probabilities (what an
 * ONNX {@code ZipMap} gives, one map per row) as a row-major FLOAT32 {@code [rows, k]} array
 * in the order of the declared keys. A map that lacks a declared key, or holds another one, is
 * an error naming the output and the row: probabilities are never filled in or dropped.
 */
public final class ClassMaps {
  private ClassMaps() {
  }

  /**
   * The probabilities of {@code rows} rows of model output {@code output}, {@code k} per row in
   * the order of {@code map.keys()}; throws {@link IllegalStateException} naming the output when
   * {@code value} is not a sequence of {@code rows} maps with exactly those keys.
   */
  public static float[] toFloats(String output, OnnxValue value, OutputSpec.ClassMap map,
      int rows) throws OrtException {
    if (!(value instanceof OnnxSequence)) {
      throw new IllegalStateException("model output '" + output + "' is a " + kind(value)
          + ", expected a sequence of maps");
    }
    List<String> keys = map.keys();
    int k = keys.size();
    Map<Object, Integer> index = new HashMap<>();
    for (int j = 0; j < k; j++) {
      index.put(map.keyType() == DType.INT64 ? (Object) Long.valueOf(keys.get(j)) : keys.get(j), j);
    }
    List<? extends OnnxValue> seq = ((OnnxSequence) value).getValue();
    try {
      if (seq.size() != rows) {
        throw new IllegalStateException("model output '" + output + "' holds " + seq.size()
            + " maps for " + rows + " rows");
      }
      float[] out = new float[Math.multiplyExact(rows, k)];
      for (int r = 0; r < rows; r++) {
        OnnxValue v = seq.get(r);
        if (!(v instanceof OnnxMap)) {
          throw new IllegalStateException("model output '" + output + "' row " + r + " is a "
              + kind(v) + ", expected a map");
        }
        Map<?, ?> m = ((OnnxMap) v).getValue();
        boolean[] seen = new boolean[k];
        for (Map.Entry<?, ?> e : m.entrySet()) {
          Integer j = index.get(e.getKey());
          if (j == null) {
            throw new IllegalStateException(differs(output, r, m, keys) + " (key " + e.getKey()
                + " is not declared)");
          }
          if (!(e.getValue() instanceof Number)) {
            throw new IllegalStateException("model output '" + output + "' row " + r
                + " maps key " + e.getKey() + " to " + e.getValue() + ", not a number");
          }
          out[r * k + j] = ((Number) e.getValue()).floatValue();
          seen[j] = true;
        }
        for (int j = 0; j < k; j++) {
          if (!seen[j]) {
            throw new IllegalStateException(differs(output, r, m, keys) + " (no probability for"
                + " key " + keys.get(j) + ")");
          }
        }
      }
      return out;
    } finally {
      for (OnnxValue v : seq) {
        v.close();
      }
    }
  }

  private static String kind(OnnxValue v) {
    return v.getType().name().replace("ONNX_TYPE_", "").toLowerCase(java.util.Locale.ROOT);
  }

  /**
   * The one message for a row whose map keys are not the declared ones: the output, the row,
   * the keys found (sorted) and the keys declared. The caller appends which key is the problem.
   */
  public static String differs(String output, int r, Map<?, ?> m, List<String> keys) {
    List<String> found = new ArrayList<>();
    for (Object o : new TreeSet<>(m.keySet())) {
      found.add(String.valueOf(o));
    }
    return "model output '" + output + "' row " + r + " maps the keys " + found
        + " but the bundle declares the keys " + keys;
  }
}
