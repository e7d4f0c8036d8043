package dev.sidecar.server.internal;

import dev.sidecar.bundle.BatchingSpec;
import io.grpc.Status;
import io.grpc.StatusException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Merges the rows of every concurrent request of one API into model calls of at most
 * {@code max_batch_size} rows, strictly first in, first out.
 *
 * <p>A worker that becomes free takes what is queued. It waits for more rows only while waiting
 * pays, judged by a {@link LatencyModel} fitted online ({@code t(n) = fixed + perRow * n}) and the
 * measured arrival rate {@code λ} (rows per ms): running {@code R} queued rows now and the next
 * arrivals later costs one more fixed cost, and waiting beats it in throughput exactly when
 * {@code R < λ · fixed} (the rows expected during one fixed cost outnumber those queued). The
 * rate is judged pessimistically ({@code λ} falls while no request comes), and no row is held
 * longer than {@code max_latency_ms} before its batch starts. Callers in a closed loop (each
 * sends its next row when its answer arrives) are waited for too: right after a batch is
 * answered its callers come back in a burst, and when they usually take less than one fixed
 * cost to do so, waiting for them beats running the rows already queued as a half batch;
 * once they are all back the batch runs at once. A request larger than the batch limit is
 * split into slices; the queue holds at most {@code maxQueuedRows} rows and refuses more with
 * RESOURCE_EXHAUSTED (a single request larger than that is admitted alone, when the queue is
 * empty); calls whose deadline passed are dropped before inference.
 * With batching disabled each request runs alone, still in arrival order.
 *
 * <p>A worker never dies with a batch: whatever the batch throws (an {@link Error} such as
 * {@link OutOfMemoryError} too) fails that batch's calls with INTERNAL naming the cause, and
 * the worker goes on; a worker that fails outside a batch is replaced. After
 * {@value #FATAL_IN_A_ROW} batches in a row failed with an {@link Error}, or when no worker can
 * run, the API is reported as not serving until a batch succeeds again.
 */
final class AdaptiveBatcher implements AutoCloseable {
  /** Runs one batch on the model and completes its slices. */
  interface Runner {
    /**
     * @param answering to be run once the model call is over, just before the first slice is
     *     completed: callers may send their next rows from then on
     * @return the model time in ms, or a negative number when the batch failed
     */
    double run(List<InferCall.Slice> batch, Runnable answering);
  }

  /** Time as the batcher sees it; tests drive a batcher on a clock of their own. */
  interface Clock {
    Clock SYSTEM = new Clock() {
      @Override
      public long nanoTime() {
        return System.nanoTime();
      }

      @Override
      public void await(Condition condition, long nanos) throws InterruptedException {
        condition.awaitNanos(nanos);
      }

      @Override
      public void await(Condition condition) throws InterruptedException {
        condition.await();
      }
    };

    long nanoTime();

    /** Waits on {@code condition} (its lock held) for at most {@code nanos}. */
    void await(Condition condition, long nanos) throws InterruptedException;

    /** Waits on {@code condition} (its lock held) until signalled: the queue is empty. */
    void await(Condition condition) throws InterruptedException;
  }

  /** Batches failing with an {@link Error} in a row after which the API is not serving. */
  static final int FATAL_IN_A_ROW = 3;

  private static final Logger LOG = LoggerFactory.getLogger(AdaptiveBatcher.class);
  private static final double EWMA = 0.1;
  private static final long MIN_WAIT_NANOS = 20_000;

  private final String api;
  private final BatchingSpec spec;
  private final int maxQueuedRows;
  private final Runner runner;
  private final Clock clock;
  private final LatencyModel model = new LatencyModel();
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  private final ArrayDeque<InferCall.Slice> queue = new ArrayDeque<>();
  private final long maxLatencyNanos;
  private final List<Thread> workers = new CopyOnWriteArrayList<>();
  private volatile Consumer<Boolean> servingListener = serving -> { };

  private int queuedRows;
  private long lastArrivalNanos;
  private double gapMs = -1;
  private double rowsPerRequest = 1;
  /** When the last batch was answered, and how many of its rows have not come back since. */
  private long releasedAtNanos;
  private int awaitingRows;
  /** EWMA of how long after a batch is answered its callers' next rows arrive (ms); -1 = none yet. */
  private double returnMs = -1;
  /** Set when the last batch's callers are all back: nobody else is expected, run at once. */
  private boolean allBack;
  private boolean accepting = true;
  private boolean stopped;
  private int fatalInARow;
  private boolean serving = true;
  private int workerCount;

  /**
   * @param runner runs one batch and completes its slices
   */
  AdaptiveBatcher(String api, BatchingSpec spec, int maxQueuedRows, int workerThreads,
      Runner runner) {
    this(api, spec, maxQueuedRows, workerThreads, runner, Clock.SYSTEM);
  }

  /** As above, on {@code clock}; with 0 worker threads the caller runs batches by {@link #step}. */
  AdaptiveBatcher(String api, BatchingSpec spec, int maxQueuedRows, int workerThreads,
      Runner runner, Clock clock) {
    this.api = api;
    this.spec = spec;
    this.maxQueuedRows = maxQueuedRows;
    this.runner = runner;
    this.clock = clock;
    this.maxLatencyNanos = TimeUnit.MILLISECONDS.toNanos(spec.maxLatencyMs());
    for (int i = 0; i < workerThreads; i++) {
      startWorker();
    }
  }

  private void startWorker() {
    Thread t = new Thread(this::work, "sidecar-infer-" + api + "-" + workerCount++);
    t.setDaemon(true);
    workers.add(t);
    t.start();
  }

  /** Hears whether the API can be served ({@code false}) and when it can again ({@code true}). */
  void onServingChanged(Consumer<Boolean> listener) {
    this.servingListener = listener;
  }

  /** False while the API cannot be served: its batches keep failing with errors, or no worker. */
  boolean serving() {
    lock.lock();
    try {
      return serving;
    } finally {
      lock.unlock();
    }
  }

  LatencyModel latencyModel() {
    return model;
  }

  int queuedRows() {
    lock.lock();
    try {
      return queuedRows;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Queues a call (split if needed); RESOURCE_EXHAUSTED if its rows do not fit the queue. A
   * call larger than the whole queue is admitted alone, when nothing else is queued.
   */
  void submit(InferCall call) throws StatusException {
    int maxSlice = spec.enabled() && call.mergeable ? spec.maxBatchSize() : 0;
    lock.lock();
    try {
      if (!accepting) {
        throw Status.UNAVAILABLE.withDescription("server is shutting down; model '" + api
            + "' takes no new requests").asException();
      }
      if (call.rows > maxQueuedRows && queuedRows > 0) {
        throw Status.RESOURCE_EXHAUSTED.withDescription("model '" + api + "' is busy: this "
            + "request's " + call.rows + " rows are more than the queue limit of " + maxQueuedRows
            + " rows, so it is admitted only while nothing else is queued, and " + queuedRows
            + " rows are; retry later, or send at most " + maxQueuedRows + " rows per request")
            .asException();
      }
      if (call.rows <= maxQueuedRows && queuedRows + call.rows > maxQueuedRows) {
        throw Status.RESOURCE_EXHAUSTED.withDescription("model '" + api + "' is overloaded: "
            + queuedRows + " rows are queued, this request adds " + call.rows + " and the limit"
            + " is " + maxQueuedRows + " rows; retry later").asException();
      }
      long now = clock.nanoTime();
      call.queuedNanos = now;
      for (InferCall.Slice s : call.slice(maxSlice)) {
        queue.addLast(s);
      }
      queuedRows += call.rows;
      if (lastArrivalNanos != 0) {
        double gap = (now - lastArrivalNanos) / 1e6;
        gapMs = gapMs < 0 ? gap : EWMA * gap + (1 - EWMA) * gapMs;
      }
      rowsPerRequest = EWMA * call.rows + (1 - EWMA) * rowsPerRequest;
      lastArrivalNanos = now;
      if (awaitingRows > 0) {
        double back = (now - releasedAtNanos) / 1e6;
        returnMs = returnMs < 0 ? back : EWMA * back + (1 - EWMA) * returnMs;
        awaitingRows = Math.max(0, awaitingRows - call.rows);
        allBack = awaitingRows == 0;
      }
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  private void work() {
    try {
      while (step()) {
        // one batch after another until stopped
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Throwable t) {
      LOG.error("inference worker of model '{}' failed outside a batch: {}; starting another",
          api, t.toString());
      LOG.debug("inference worker failure", t);
      workers.remove(Thread.currentThread());
      replaceWorker();
    }
  }

  private void replaceWorker() {
    lock.lock();
    try {
      if (stopped) {
        return;
      }
      try {
        startWorker();
        return;
      } catch (Throwable t) {
        LOG.error("cannot start an inference worker for model '{}': {}", api, t.toString());
      }
    } finally {
      lock.unlock();
    }
    boolean anyAlive = workers.stream().anyMatch(Thread::isAlive);
    if (!anyAlive) {
      setServing(false);
    }
  }

  /**
   * Takes the next batch (waiting for it) and runs it; false once stopped. Whatever the batch
   * throws fails its calls with INTERNAL naming the cause.
   */
  boolean step() throws InterruptedException {
    List<InferCall.Slice> batch = next();
    if (batch == null) {
      return false;
    }
    if (batch.isEmpty()) {
      return true;
    }
    int rows = 0;
    for (InferCall.Slice s : batch) {
      rows += s.rowCount();
    }
    int n = rows;
    boolean[] told = {false};
    Runnable answering = () -> {
      if (!told[0]) {
        told[0] = true;
        answering(n);
      }
    };
    double ms;
    try {
      ms = runner.run(batch, answering);
    } catch (Throwable t) {
      ms = -1;
      LOG.error("inference of model '{}' failed on a batch of {} rows: {}", api, rows,
          t.toString());
      LOG.debug("inference failure", t);
      answering.run();
      // Health first: a caller told of the failure finds it reported.
      outcome(t instanceof Error ? 1 : -1);
      Status st = Status.INTERNAL.withDescription("inference of model '" + api
          + "' failed on a batch of " + rows + " rows: " + t);
      for (InferCall.Slice s : batch) {
        s.call().fail(st);
      }
    }
    answering.run();
    if (ms >= 0) {
      model.observe(rows, ms);
      outcome(0);
    }
    return true;
  }

  /** Counts batches failing with an Error in a row: 1 = one more, 0 = a success, -1 = neither. */
  private void outcome(int fatal) {
    Boolean now = null;
    lock.lock();
    try {
      if (fatal == 0) {
        fatalInARow = 0;
        now = serving ? null : Boolean.TRUE;
      } else if (fatal > 0 && ++fatalInARow >= FATAL_IN_A_ROW && serving) {
        now = Boolean.FALSE;
      }
    } finally {
      lock.unlock();
    }
    if (now != null) {
      setServing(now);
    }
  }

  private void setServing(boolean value) {
    lock.lock();
    try {
      if (serving == value) {
        return;
      }
      serving = value;
    } finally {
      lock.unlock();
    }
    if (value) {
      LOG.info("model '{}' is serving again", api);
    } else {
      LOG.error("model '{}' cannot be served: {}", api, fatalInARow >= FATAL_IN_A_ROW
          ? fatalInARow + " batches in a row failed with an error" : "no inference worker runs");
    }
    servingListener.accept(value);
  }

  /**
   * Notes that a batch of {@code rows} is being answered: its callers may send their next rows
   * from now on (noted before the first answer leaves, so that no fast caller is back before).
   */
  private void answering(int rows) {
    lock.lock();
    try {
      releasedAtNanos = clock.nanoTime();
      awaitingRows = Math.min(awaitingRows + rows, spec.maxBatchSize());
      allBack = false;
    } finally {
      lock.unlock();
    }
  }

  /** The next batch (maybe empty after drops), or null when stopped and drained. */
  private List<InferCall.Slice> next() throws InterruptedException {
    List<InferCall.Slice> batch = new ArrayList<>();
    List<InferCall.Slice> dropped = new ArrayList<>();
    List<Status> why = new ArrayList<>();
    lock.lock();
    try {
      while (true) {
        while (queue.isEmpty()) {
          if (stopped || !accepting) {
            return null;
          }
          clock.await(changed);
        }
        if (stopped) {
          return null;
        }
        long now = clock.nanoTime();
        InferCall.Slice head = queue.peekFirst();
        if (!spec.enabled() || !head.call().mergeable || queuedRows >= spec.maxBatchSize()
            || !accepting) {
          break;
        }
        long waited = now - head.call().queuedNanos;
        long budget = maxLatencyNanos - waited;
        if (budget <= 0) {
          break;
        }
        long wait = waitNanos(now);
        if (wait <= 0) {
          break;
        }
        clock.await(changed, Math.min(wait, budget));
      }
      int rows = 0;
      int limit = spec.enabled() ? spec.maxBatchSize() : Integer.MAX_VALUE;
      while (!queue.isEmpty()) {
        InferCall.Slice s = queue.peekFirst();
        if (!batch.isEmpty() && (!spec.enabled() || !s.call().mergeable
            || !batch.get(0).call().mergeable || rows + s.rowCount() > limit)) {
          break;
        }
        queue.pollFirst();
        queuedRows -= s.rowCount();
        if (s.call().finished()) {
          continue;
        }
        Status gone = s.call().goneStatus();
        if (gone != null) {
          dropped.add(s);
          why.add(gone);
          continue;
        }
        batch.add(s);
        rows += s.rowCount();
      }
      allBack = false;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    for (int i = 0; i < dropped.size(); i++) {
      dropped.get(i).call().fail(why.get(i));
    }
    return batch;
  }

  /** How long to wait for more rows before running what is queued (0 = run now). */
  private long waitNanos(long now) {
    if (!model.ready()) {
      return 0;
    }
    if (allBack && closedLoop()) {
      return 0;
    }
    return Math.max(returnWaitNanos(now), steadyWaitNanos(now));
  }

  /**
   * Closed-loop callers (each sends its next row when its previous answer arrives) come back in
   * a burst just after their batch is answered, a burst the mean arrival rate hides: without
   * this rule, 16 such callers settle into alternating batches of about 8. Running the rows
   * queued now and the returning ones as two batches costs one more fixed cost than running
   * them together, so waiting for them pays when they usually come back sooner than one fixed
   * cost: wait until they are back, or at most one fixed cost after the answer.
   */
  private long returnWaitNanos(long now) {
    double fixed = model.fixedMs();
    if (awaitingRows == 0 || !closedLoop()) {
      return 0;
    }
    long until = releasedAtNanos + (long) (fixed * 1e6);
    if (now >= until) {
      awaitingRows = 0;
      return 0;
    }
    return until - now;
  }

  /** True when answered callers usually send their next rows within one fixed cost. */
  private boolean closedLoop() {
    return returnMs >= 0 && returnMs < model.fixedMs();
  }

  /** The open-loop rule: wait while fewer rows are queued than arrive during one fixed cost. */
  private long steadyWaitNanos(long now) {
    if (gapMs < 0) {
      return 0;
    }
    double sinceLast = (now - lastArrivalNanos) / 1e6;
    double gap = Math.max(gapMs, sinceLast);
    if (gap <= 0) {
      return MIN_WAIT_NANOS;
    }
    double lambda = rowsPerRequest / gap;
    if (queuedRows >= lambda * model.fixedMs()) {
      return 0;
    }
    return Math.max(MIN_WAIT_NANOS, (long) (gapMs * 1e6));
  }

  /**
   * Stops taking calls and lets the workers finish what is queued, waiting up to
   * {@code timeoutMillis}; then fails whatever is left with UNAVAILABLE.
   */
  void drain(long timeoutMillis) {
    lock.lock();
    try {
      accepting = false;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
    for (Thread t : workers) {
      long left = TimeUnit.NANOSECONDS.toMillis(end - System.nanoTime());
      try {
        t.join(Math.max(1, left));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    close();
  }

  @Override
  public void close() {
    List<InferCall.Slice> left;
    lock.lock();
    try {
      accepting = false;
      stopped = true;
      left = new ArrayList<>(queue);
      queue.clear();
      queuedRows = 0;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    for (InferCall.Slice s : left) {
      s.call().fail(Status.UNAVAILABLE.withDescription("server stopped before model '" + api
          + "' ran this request"));
    }
    for (Thread t : workers) {
      try {
        t.join(TimeUnit.SECONDS.toMillis(10));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }
}
