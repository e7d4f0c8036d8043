package dev.sidecar.spark;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A {@link ScoringProgress.Listener} for tests: keeps what it heard and waits for the counts to
 * arrive. Spark delivers progress on its listener thread, after the action that caused it may
 * have returned, so a test waits for the row count it expects before it reads the other counts.
 */
final class ProgressRecorder implements ScoringProgress.Listener {
  private static final long WAIT_SECONDS = 120;
  private final List<ScoringProgress> heard = new ArrayList<>();
  private ScoringProgress last = new ScoringProgress(0, 0, 0, 0, 0);

  @Override
  public synchronized void onProgress(ScoringProgress progress) {
    heard.add(progress);
    last = progress;
    notifyAll();
  }

  /** The progress once {@code rows} rows are reported scored (failing after two minutes). */
  synchronized ScoringProgress awaitRows(long rows) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
    while (last.rowsScored() < rows) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        throw new AssertionError("the progress never reported " + rows + " rows scored; heard "
            + heard);
      }
      TimeUnit.NANOSECONDS.timedWait(this, left);
    }
    return last;
  }

  /** Everything heard so far, in order. */
  synchronized List<ScoringProgress> heard() {
    return List.copyOf(heard);
  }
}
