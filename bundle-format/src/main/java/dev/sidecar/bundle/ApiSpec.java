package dev.sidecar.bundle;

import java.util.List;
import java.util.Objects;

/**
 * One API of a bundle: a model, its input and output descriptors, and batching settings (never
 * null).
 */
public record ApiSpec(String name, String model, InputDescriptor input, List<OutputSpec> outputs,
    BatchingSpec batching) {
  public ApiSpec {
    Objects.requireNonNull(batching, "batching");
    outputs = List.copyOf(outputs);
  }
}
