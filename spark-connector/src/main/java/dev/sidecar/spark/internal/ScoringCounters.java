package dev.sidecar.spark.internal;

import dev.sidecar.spark.ScoringProgress;
import java.io.Serializable;
import java.lang.reflect.InvocationTargetException;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import org.apache.spark.SparkContext;
import org.apache.spark.scheduler.AccumulableInfo;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorMetricsUpdate;
import org.apache.spark.scheduler.SparkListenerExecutorRemoved;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.util.AccumulatorV2;
import org.apache.spark.util.LongAccumulator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Option;
import scala.Tuple4;

/**
 * The counts behind {@link ScoringProgress}: Spark accumulators the tasks of one
 * {@code runSpark} result add to, and, on the driver, a {@link SparkListener} that turns them into
 * progress for the user's listener. A finished task's counts are merged into the driver's
 * accumulators before Spark announces its end; a running task's come with its executor's
 * heartbeats and are dropped when it ends (a failed attempt's counts are never merged). Without a
 * listener ({@link #NONE}) tasks count nothing.
 */
public final class ScoringCounters implements Serializable {
  private static final long serialVersionUID = 1L;
  private static final Logger LOG = LoggerFactory.getLogger(ScoringCounters.class);
  /** Counts nothing: no listener was given. */
  public static final ScoringCounters NONE = new ScoringCounters(null, null, null, null, null);

  private final LongAccumulator rows;
  private final LongAccumulator shared;
  private final LongAccumulator streamed;
  private final MaxAccumulator inFlight;
  private final MaxAccumulator rowsHeld;

  private ScoringCounters(LongAccumulator rows, LongAccumulator shared, LongAccumulator streamed,
      MaxAccumulator inFlight, MaxAccumulator rowsHeld) {
    this.rows = rows;
    this.shared = shared;
    this.streamed = streamed;
    this.inFlight = inFlight;
    this.rowsHeld = rowsHeld;
  }

  /**
   * Counters reporting to {@code listener} on the driver of {@code sc}, or {@link #NONE} when
   * {@code listener} is null.
   */
  public static ScoringCounters reportingTo(SparkContext sc, ScoringProgress.Listener listener) {
    if (listener == null) {
      return NONE;
    }
    ScoringCounters c = new ScoringCounters(new LongAccumulator(), new LongAccumulator(),
        new LongAccumulator(), new MaxAccumulator(), new MaxAccumulator());
    for (AccumulatorV2<?, ?> a : c.all()) {
      sc.register(a);
    }
    sc.addSparkListener(new Reporter(c, listener));
    return c;
  }

  private AccumulatorV2<?, ?>[] all() {
    return new AccumulatorV2<?, ?>[] {rows, shared, streamed, inFlight, rowsHeld};
  }

  // ---- task side -------------------------------------------------------------------------

  void scored(long n) {
    if (rows != null) {
      rows.add(n);
    }
  }

  void sent(boolean throughSharedMemory) {
    if (shared != null) {
      (throughSharedMemory ? shared : streamed).add(1L);
    }
  }

  void inFlight(long chunks) {
    if (inFlight != null) {
      inFlight.add(chunks);
    }
  }

  void rowsHeld(long n) {
    if (rowsHeld != null) {
      rowsHeld.add(n);
    }
  }

  // ---- driver side -----------------------------------------------------------------------

  /**
   * Turns the driver's accumulators plus the running tasks' heartbeat values into progress. Spark
   * calls a listener on one thread, so its state needs no locking.
   *
   * <p>A heartbeat taken before a task ended can be heard after the task's end: its values are
   * then already in the driver's accumulators. An executor's heartbeats are sent one at a time,
   * each after the last was answered, so the next heartbeat heard from that executor was taken
   * after the task ended: until then the ended task is remembered and its late values ignored.
   */
  private static final class Reporter extends SparkListener {
    private final ScoringCounters counters;
    private final ScoringProgress.Listener listener;
    private final long[] ids;
    /** Per executor, per running task: its counts as of the executor's last heartbeat. */
    private final Map<String, Map<Long, long[]>> running = new HashMap<>();
    /** Per executor: tasks that ended since its last heartbeat. */
    private final Map<String, Set<Long>> ended = new HashMap<>();
    private ScoringProgress last;

    Reporter(ScoringCounters counters, ScoringProgress.Listener listener) {
      this.counters = counters;
      this.listener = listener;
      AccumulatorV2<?, ?>[] all = counters.all();
      this.ids = new long[all.length];
      for (int i = 0; i < all.length; i++) {
        ids[i] = all[i].id();
      }
    }

    @Override
    public void onTaskEnd(SparkListenerTaskEnd end) {
      String executor = end.taskInfo().executorId();
      long task = end.taskInfo().taskId();
      ended.computeIfAbsent(executor, e -> new HashSet<>()).add(task);
      Map<Long, long[]> tasks = running.get(executor);
      if (tasks != null) {
        tasks.remove(task);
      }
      report();
    }

    @Override
    public void onExecutorMetricsUpdate(SparkListenerExecutorMetricsUpdate update) {
      Set<Long> endedHere = ended.computeIfAbsent(update.execId(), e -> new HashSet<>());
      Set<Long> inThisHeartbeat = new HashSet<>();
      Map<Long, long[]> counts = new HashMap<>();
      scala.collection.Iterator<?> tasks = accumUpdates(update).iterator();
      while (tasks.hasNext()) {
        Tuple4<?, ?, ?, ?> t = (Tuple4<?, ?, ?, ?>) tasks.next();
        long task = ((Number) t._1()).longValue();
        inThisHeartbeat.add(task);
        if (endedHere.contains(task)) {
          continue;
        }
        long[] values = null;
        scala.collection.Iterator<?> infos = ((scala.collection.Iterable<?>) t._4()).iterator();
        while (infos.hasNext()) {
          AccumulableInfo info = (AccumulableInfo) infos.next();
          for (int i = 0; i < ids.length; i++) {
            if (info.id() != ids[i]) {
              continue;
            }
            Option<Object> u = info.update();
            if (u.isDefined() && u.get() instanceof Number) {
              values = values == null ? new long[ids.length] : values;
              values[i] = ((Number) u.get()).longValue();
            }
          }
        }
        if (values != null) {
          counts.put(task, values);
        }
      }
      endedHere.retainAll(inThisHeartbeat);
      Map<Long, long[]> before = counts.isEmpty() ? running.remove(update.execId())
          : running.put(update.execId(), counts);
      if (before != null || !counts.isEmpty()) {
        report();
      }
    }

    @Override
    public void onExecutorRemoved(SparkListenerExecutorRemoved removed) {
      running.remove(removed.executorId());
      ended.remove(removed.executorId());
      report();
    }

    private void report() {
      long[] sum = new long[ids.length];
      for (Map<Long, long[]> tasks : running.values()) {
        for (long[] v : tasks.values()) {
          for (int i = 0; i < 3; i++) {
            sum[i] += v[i]; // rows, chunks through shared memory, chunks streamed: sums
          }
          for (int i = 3; i < ids.length; i++) {
            sum[i] = Math.max(sum[i], v[i]); // chunks in flight, rows held: maxima
          }
        }
      }
      ScoringProgress p = new ScoringProgress(counters.rows.value() + sum[0],
          counters.shared.value() + sum[1], counters.streamed.value() + sum[2],
          Math.max(counters.inFlight.value(), sum[3]), Math.max(counters.rowsHeld.value(), sum[4]));
      if (p.equals(last)) {
        return;
      }
      last = p;
      try {
        listener.onProgress(p);
      } catch (RuntimeException e) {
        LOG.warn("the scoring progress listener failed: {}", e.toString(), e);
      }
    }

    /**
     * The event's {@code accumUpdates}, called by name: it is a {@code scala.collection.Seq} on
     * Scala 2.12 and a {@code scala.collection.immutable.Seq} on 2.13, so a compiled call links on
     * one of them only (see {@code BundleShipper.listFiles}).
     */
    private static scala.collection.Iterable<?> accumUpdates(SparkListenerExecutorMetricsUpdate u) {
      try {
        return (scala.collection.Iterable<?>) SparkListenerExecutorMetricsUpdate.class
            .getMethod("accumUpdates").invoke(u);
      } catch (NoSuchMethodException | IllegalAccessException e) {
        throw new IllegalStateException("this Spark's executor heartbeats have no accumUpdates",
            e);
      } catch (InvocationTargetException e) {
        throw new IllegalStateException(e.getCause());
      }
    }
  }
}
