package dev.sidecar.bundle.onnx;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.WireFormat;
import dev.sidecar.proto.onnx.AttributeProto;
import dev.sidecar.proto.onnx.GraphProto;
import dev.sidecar.proto.onnx.ModelProto;
import dev.sidecar.proto.onnx.NodeProto;
import dev.sidecar.proto.onnx.ValueInfoProto;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The nodes of an ONNX model's main graph, read from the {@code .onnx} protobuf (the
 * {@code onnx_model.proto} subset) in one streaming pass that skips initializers, so large
 * weights are never held in memory. Used for what ONNX Runtime's Java API does not expose:
 * node attributes such as a classifier's class labels.
 */
public final class OnnxGraph {
  /** Ops that pass a value through unchanged in meaning (followed back to the classifier). */
  private static final Set<String> PASS_THROUGH = Set.of("Identity", "Cast", "Reshape",
      "Squeeze", "Flatten");
  private static final List<String> CLASS_LABEL_ATTRS = List.of("classlabels_int64s",
      "classlabels_ints", "classlabels_strings");

  private final Map<String, NodeProto> producers = new HashMap<>();
  private final Set<String> graphInputs;
  private final Set<String> graphOutputs;

  private OnnxGraph(List<NodeProto> nodes, Set<String> graphInputs, Set<String> graphOutputs) {
    this.graphInputs = graphInputs;
    this.graphOutputs = graphOutputs;
    for (NodeProto n : nodes) {
      for (String out : n.getOutputList()) {
        producers.put(out, n);
      }
    }
  }

  /** Reads the main graph's nodes of the model at {@code model}. */
  public static OnnxGraph read(Path model) throws IOException {
    List<NodeProto> nodes = new ArrayList<>();
    Set<String> ins = new LinkedHashSet<>();
    Set<String> outs = new LinkedHashSet<>();
    try (InputStream in = new BufferedInputStream(Files.newInputStream(model), 1 << 16)) {
      CodedInputStream c = CodedInputStream.newInstance(in);
      c.setSizeLimit(Integer.MAX_VALUE);
      int tag;
      while ((tag = c.readTag()) != 0) {
        if (!isMessage(tag, ModelProto.GRAPH_FIELD_NUMBER)) {
          c.skipField(tag);
          continue;
        }
        int old = c.pushLimit(c.readRawVarint32());
        int t;
        while ((t = c.readTag()) != 0) {
          if (isMessage(t, GraphProto.NODE_FIELD_NUMBER)) {
            nodes.add(NodeProto.parseFrom(c.readBytes()));
          } else if (isMessage(t, GraphProto.INPUT_FIELD_NUMBER)) {
            ins.add(ValueInfoProto.parseFrom(c.readBytes()).getName());
          } else if (isMessage(t, GraphProto.OUTPUT_FIELD_NUMBER)) {
            outs.add(ValueInfoProto.parseFrom(c.readBytes()).getName());
          } else {
            c.skipField(t);
          }
        }
        c.popLimit(old);
      }
    }
    return new OnnxGraph(nodes, ins, outs);
  }

  private static boolean isMessage(int tag, int field) {
    return WireFormat.getTagFieldNumber(tag) == field
        && WireFormat.getTagWireType(tag) == WireFormat.WIRETYPE_LENGTH_DELIMITED;
  }

  /**
   * The classes a classifier node declares ({@code classlabels_int64s}, {@code classlabels_ints}
   * or {@code classlabels_strings}) for the value {@code output}, following pass-through ops
   * ({@code Identity}, {@code Cast}, ...) back to the node; empty when no such node produces it.
   */
  public Optional<Classes> classesOf(String output) {
    String value = output;
    for (int depth = 0; depth < 16; depth++) {
      NodeProto n = producers.get(value);
      if (n == null) {
        return Optional.empty();
      }
      for (String name : CLASS_LABEL_ATTRS) {
        for (AttributeProto a : n.getAttributeList()) {
          if (!a.getName().equals(name)) {
            continue;
          }
          int count = name.endsWith("strings") ? a.getStringsCount() : a.getIntsCount();
          if (count > 0) {
            return Optional.of(new Classes(count, name.endsWith("strings") ? List.of()
                : a.getIntsList(), name, n.getOpType(), n.getName()));
          }
        }
      }
      if (!n.getDomain().isEmpty() || !PASS_THROUGH.contains(n.getOpType())
          || n.getInputCount() == 0) {
        return Optional.empty();
      }
      value = n.getInput(0);
    }
    return Optional.empty();
  }

  /**
   * The keys of the {@code ZipMap} node (domain {@code ai.onnx.ml}) that produces {@code output}:
   * its {@code classlabels_int64s} (in decimal) or {@code classlabels_strings}, in the node's
   * order, which is the order of the classifier's classes; empty when no ZipMap node produces
   * it or the node has no keys.
   */
  public Optional<ZipMapKeys> zipMapOf(String output) {
    NodeProto n = producers.get(output);
    if (n == null || !n.getOpType().equals("ZipMap") || !n.getDomain().equals("ai.onnx.ml")) {
      return Optional.empty();
    }
    for (AttributeProto a : n.getAttributeList()) {
      if (a.getName().equals("classlabels_int64s") && a.getIntsCount() > 0) {
        return Optional.of(new ZipMapKeys(false, a.getIntsList().stream().map(String::valueOf)
            .toList(), n.getName(), input(n)));
      }
      if (a.getName().equals("classlabels_strings") && a.getStringsCount() > 0) {
        return Optional.of(new ZipMapKeys(true, a.getStringsList().stream()
            .map(b -> b.toStringUtf8()).toList(), n.getName(), input(n)));
      }
    }
    return Optional.empty();
  }

  private static String input(NodeProto n) {
    return n.getInputCount() == 0 ? "" : n.getInput(0);
  }

  /** True if {@code value} is an input of the main graph. */
  public boolean isGraphInput(String value) {
    return graphInputs.contains(value);
  }

  /** The outputs of the main graph, in the model's order. */
  public Set<String> graphOutputs() {
    return java.util.Collections.unmodifiableSet(graphOutputs);
  }

  /** True if {@code value} is an output of the main graph. */
  public boolean isGraphOutput(String value) {
    return graphOutputs.contains(value);
  }

  /**
   * A ZipMap node's keys: strings or integers (then in decimal), in order, its name and the
   * value it reads (its input tensor, the probabilities in key order; empty if it has none).
   */
  public record ZipMapKeys(boolean strings, List<String> keys, String nodeName, String input) {
  }

  /**
   * A classifier node's classes: how many, their integer values (empty for string classes),
   * and where they were read: the attribute, the node's op type and name.
   */
  public record Classes(int count, List<Long> values, String attribute, String opType,
      String nodeName) {
  }
}
