package dev.sidecar.bundle;

import java.util.List;

/** One API of a bundle: a model, its input and output descriptors, and batching settings. */
public record ApiSpec(String name, String model, InputDescriptor input, List<OutputSpec> outputs,
    BatchingSpec batching) {
  public ApiSpec {
    outputs = List.copyOf(outputs);
  }
}
