package dev.sidecar.testkit;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The weights of {@link OnnxModels#mlp} and its plain-Java forward pass. Layer {@code l}
 * maps {@code sizes[l]} to {@code sizes[l + 1]} features with row-major
 * {@code [sizes[l], sizes[l + 1]]} weights (He-uniform from the seed) and biases in
 * [-0.1, 0.1); every layer but the last is followed by Relu.
 */
record Mlp(int[] sizes, List<float[]> weights, List<float[]> biases) {

  static Mlp of(int in, int[] hidden, int out, long seed) {
    int[] sizes = new int[hidden.length + 2];
    sizes[0] = in;
    System.arraycopy(hidden, 0, sizes, 1, hidden.length);
    sizes[sizes.length - 1] = out;
    for (int s : sizes) {
      if (s < 1) {
        throw new IllegalArgumentException("mlp layer sizes must be >= 1, got " + Arrays.toString(sizes));
      }
    }
    SplittableRandom random = new SplittableRandom(seed);
    float[][] w = new float[sizes.length - 1][];
    float[][] b = new float[sizes.length - 1][];
    for (int l = 0; l < sizes.length - 1; l++) {
      long count = (long) sizes[l] * sizes[l + 1];
      if (count > Integer.MAX_VALUE / 4) {
        throw new IllegalArgumentException("mlp layer " + l + " of " + sizes[l] + "x" + sizes[l + 1]
            + " is too large for one initializer");
      }
      w[l] = SeededValues.uniform(random, (int) count, (float) Math.sqrt(6.0 / sizes[l]));
      b[l] = SeededValues.uniform(random, sizes[l + 1], 0.1f);
    }
    return new Mlp(sizes, List.of(w), List.of(b));
  }

  int layers() {
    return sizes.length - 1;
  }

  /** Row-major {@code [N, in]} to row-major {@code [N, out]}, accumulating in double. */
  float[] predict(float[] x) {
    int in = sizes[0];
    if (x.length % in != 0) {
      throw new IllegalArgumentException("x has " + x.length + " floats, not a multiple of " + in + " inputs");
    }
    int rows = x.length / in;
    float[] current = x;
    for (int l = 0; l < layers(); l++) {
      int k = sizes[l];
      int m = sizes[l + 1];
      float[] w = weights.get(l);
      float[] bias = biases.get(l);
      float[] next = new float[rows * m];
      double[] acc = new double[m];
      for (int r = 0; r < rows; r++) {
        for (int j = 0; j < m; j++) {
          acc[j] = 0;
        }
        for (int i = 0; i < k; i++) {
          double v = current[r * k + i];
          if (v == 0) {
            continue;
          }
          int base = i * m;
          for (int j = 0; j < m; j++) {
            acc[j] += v * w[base + j];
          }
        }
        boolean relu = l < layers() - 1;
        for (int j = 0; j < m; j++) {
          float y = (float) (acc[j] + bias[j]);
          next[r * m + j] = relu && y < 0 ? 0f : y;
        }
      }
      current = next;
    }
    return current;
  }
}
