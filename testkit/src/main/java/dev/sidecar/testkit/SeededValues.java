package dev.sidecar.testkit;

import java.util.SplittableRandom;

/** Deterministic pseudo-random weights: the same seed gives the same model and reference. */
final class SeededValues {
  private SeededValues() {}

  /** {@code count} floats uniform in [-scale, scale). */
  static float[] uniform(SplittableRandom random, int count, float scale) {
    float[] out = new float[count];
    for (int i = 0; i < count; i++) {
      out[i] = (float) ((random.nextDouble() * 2 - 1) * scale);
    }
    return out;
  }
}
