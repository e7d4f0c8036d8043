package dev.sidecar.bench;

import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;

/** A way to score the benchmark DataFrame. */
enum Way {
  /** {@code runSpark} with the sidecar as a separate JVM process (the default). */
  PROCESS("process", "runSpark, sidecar process"),
  /** {@code runSpark} with the server inside the executor JVM. */
  IN_PROCESS("inproc", "runSpark, in-process"),
  /**
   * {@code runSpark} with a sidecar process and {@code sharedMemory(false)}: every chunk as bytes
   * on the gRPC stream, the path before shared memory (and the fallback).
   */
  PROCESS_STREAM("process-stream", "runSpark, sidecar process, stream only"),
  /** ONNX Runtime called directly inside {@code mapPartitions}: the in-JVM limit. */
  DIRECT("direct", "direct ORT in mapPartitions"),
  /** SynapseML's {@code ONNXModel}, the peer (only in the {@code -Pscala-2.12} build). */
  SYNAPSEML("synapseml", "SynapseML ONNXModel");

  final String id;
  final String label;

  Way(String id, String label) {
    this.id = id;
    this.label = label;
  }

  /** The ways this build can run: all but {@code synapseml} unless SynapseML is on the classpath. */
  static List<Way> available() {
    return Arrays.stream(values()).filter(w -> w != SYNAPSEML || SynapseScorer.available()).toList();
  }

  static Way parse(String id) {
    for (Way w : values()) {
      if (w.id.equalsIgnoreCase(id.trim())) {
        return w;
      }
    }
    throw new IllegalArgumentException("unknown way '" + id + "', expected one of "
        + Arrays.stream(values()).map(w -> w.id).collect(Collectors.joining(", ", "[", "]")));
  }
}
