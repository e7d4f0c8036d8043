package dev.sidecar.spark.internal;

import org.apache.spark.util.AccumulatorV2;

/** A Spark accumulator of the largest value any task added (0 when none was). */
final class MaxAccumulator extends AccumulatorV2<Long, Long> {
  private static final long serialVersionUID = 1L;
  /** Written by one task thread (or the driver's scheduler), read by heartbeats and listeners. */
  private volatile long max;

  @Override
  public boolean isZero() {
    return max == 0;
  }

  @Override
  public MaxAccumulator copy() {
    MaxAccumulator c = new MaxAccumulator();
    c.max = max;
    return c;
  }

  @Override
  public void reset() {
    max = 0;
  }

  @Override
  public void add(Long v) {
    add(v.longValue());
  }

  void add(long v) {
    if (v > max) {
      max = v;
    }
  }

  @Override
  public void merge(AccumulatorV2<Long, Long> other) {
    add(other.value().longValue());
  }

  @Override
  public Long value() {
    return max;
  }
}
