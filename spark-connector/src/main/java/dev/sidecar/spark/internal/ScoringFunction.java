package dev.sidecar.spark.internal;

import java.util.Collections;
import java.util.Iterator;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.util.TaskCompletionListener;

/**
 * The task side of {@code runSpark}: an empty partition returns at once (no bundle, no sidecar);
 * otherwise a {@link PartitionScorer} leases this JVM's sidecar for the plan's bundle from the
 * {@link ConnectorRuntime}, and the task's completion stops its stream and returns the lease.
 * Its counts go to the {@link ScoringCounters} of the {@code runSpark} call.
 */
public final class ScoringFunction implements FlatMapFunction<Iterator<InternalRow>, InternalRow> {
  private static final long serialVersionUID = 1L;
  private final ScoringPlan plan;
  private final ScoringCounters counters;

  public ScoringFunction(ScoringPlan plan, ScoringCounters counters) {
    this.plan = plan;
    this.counters = counters;
  }

  @Override
  public Iterator<InternalRow> call(Iterator<InternalRow> input) {
    if (!input.hasNext()) {
      return Collections.emptyIterator();
    }
    TaskContext task = TaskContext.get();
    PartitionScorer scorer = new PartitionScorer(plan, input,
        () -> ConnectorRuntime.get().lease(plan),
        task == null ? -1 : task.partitionId(), counters);
    if (task != null) {
      task.addTaskCompletionListener((TaskCompletionListener) context -> scorer.close());
    }
    return scorer;
  }
}
