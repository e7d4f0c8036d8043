package dev.sidecar.testkit;

import java.util.SplittableRandom;

/** The weights of {@link OnnxModels#linearClassifier} and its plain-Java forward pass. */
record LinearClassifier(int features, int classes, float[] weights, float[] bias) {

  /** Row-major {@code [classes, features]} weights, then {@code [classes]} biases, from {@code seed}. */
  static LinearClassifier of(int features, int classes, long seed) {
    if (features < 1 || classes < 1) {
      throw new IllegalArgumentException("linearClassifier needs features >= 1 and classes >= 1, got "
          + features + " and " + classes);
    }
    SplittableRandom random = new SplittableRandom(seed);
    float[] w = SeededValues.uniform(random, features * classes, 1f);
    float[] b = SeededValues.uniform(random, classes, 1f);
    return new LinearClassifier(features, classes, w, b);
  }

  float[] probabilities(float[] x) {
    if (x.length % features != 0) {
      throw new IllegalArgumentException("x has " + x.length + " floats, not a multiple of " + features + " features");
    }
    int rows = x.length / features;
    float[] out = new float[rows * classes];
    double[] logits = new double[classes];
    for (int r = 0; r < rows; r++) {
      double max = Double.NEGATIVE_INFINITY;
      for (int c = 0; c < classes; c++) {
        double z = bias[c];
        for (int f = 0; f < features; f++) {
          z += (double) x[r * features + f] * weights[c * features + f];
        }
        logits[c] = z;
        max = Math.max(max, z);
      }
      double sum = 0;
      for (int c = 0; c < classes; c++) {
        logits[c] = Math.exp(logits[c] - max);
        sum += logits[c];
      }
      for (int c = 0; c < classes; c++) {
        out[r * classes + c] = (float) (logits[c] / sum);
      }
    }
    return out;
  }

  static long[] argMax(float[] rowMajor, int classes) {
    long[] labels = new long[rowMajor.length / classes];
    for (int r = 0; r < labels.length; r++) {
      int best = 0;
      for (int c = 1; c < classes; c++) {
        if (rowMajor[r * classes + c] > rowMajor[r * classes + best]) {
          best = c;
        }
      }
      labels[r] = best;
    }
    return labels;
  }
}
