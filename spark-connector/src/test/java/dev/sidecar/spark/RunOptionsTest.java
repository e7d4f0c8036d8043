package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class RunOptionsTest {
  @Test
  void defaultsAreDeclaredOnce() {
    RunOptions d = RunOptions.defaults();
    assertEquals(RunOptions.DEFAULT_CHUNK_ROWS, d.chunkRows());
    // Automatic chunks: about 4 MiB of input, within [1024, 65536] rows; a set value wins.
    assertEquals(4096, d.chunkRowsFor(256 * 4));
    assertEquals(65536, d.chunkRowsFor(4 * 4));
    assertEquals(1024, d.chunkRowsFor(1 << 20));
    assertEquals(10, RunOptions.builder().chunkRows(10).build().chunkRowsFor(4));
    assertEquals(RunOptions.DEFAULT_CHUNKS_IN_FLIGHT, d.chunksInFlight());
    assertEquals(RunOptions.SidecarMode.PROCESS, d.sidecarMode());
    assertTrue(d.keepInputColumns());
    assertEquals("", d.outputPrefix());
    assertEquals(false, d.allowNulls());
    assertEquals(false, d.lineageColumns());
    assertEquals(RunOptions.DEFAULT_START_TIMEOUT, d.startTimeout());
  }

  @Test
  void survivesJavaSerialization() throws Exception {
    RunOptions o = RunOptions.builder().chunkRows(10).outputPrefix("p_")
        .sidecarJvmOptions(List.of("-Xmx256m")).requestTimeout(Duration.ofSeconds(5))
        .allowNulls(true).lineageColumns(true).build();
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeObject(o);
    }
    try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
      assertEquals(o, in.readObject());
    }
    assertEquals(o, o.toBuilder().build());
  }

  @Test
  void everyBuilderRoundTripGivesEqualOptions() {
    RunOptions defaults = RunOptions.defaults();
    assertEquals(defaults, defaults.toBuilder().build());
    assertEquals(defaults, RunOptions.builder().build());
    RunOptions all = RunOptions.builder().chunkRows(10).chunksInFlight(2)
        .sidecarMode(RunOptions.SidecarMode.IN_PROCESS).keepInputColumns(false)
        .outputPrefix("p_").sidecarJvmOptions(List.of("-Xmx256m")).sidecarIntraOpThreads(2)
        .startTimeout(Duration.ofSeconds(9)).requestTimeout(Duration.ofSeconds(5))
        .allowNulls(true).lineageColumns(true).build();
    assertEquals(all, all.toBuilder().build());
    assertEquals(defaults.toBuilder().allowNulls(true).build().chunkRows(), defaults.chunkRows());
  }

  /**
   * A progress listener stays on the driver: it survives toBuilder, and serialized options (what
   * tasks get) come without it, even when it is not serializable itself.
   */
  @Test
  void theProgressListenerIsNotSentToExecutors() throws Exception {
    Object driverOnly = new Object(); // captured: the listener is not serializable
    ScoringProgress.Listener listener = p -> driverOnly.hashCode();
    RunOptions o = RunOptions.builder().chunkRows(10).progressListener(listener).build();
    assertEquals(listener, o.progressListener());
    assertEquals(o, o.toBuilder().build());
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeObject(o);
    }
    try (ObjectInputStream in =
        new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
      RunOptions sent = (RunOptions) in.readObject();
      assertEquals(null, sent.progressListener());
      assertEquals(o.toBuilder().progressListener(null).build(), sent);
    }
  }

  @Test
  void badValuesAreNamed() {
    assertTrue(assertThrows(IllegalArgumentException.class,
        () -> RunOptions.builder().chunkRows(0)).getMessage().contains("chunkRows"));
    assertTrue(assertThrows(IllegalArgumentException.class,
        () -> RunOptions.builder().chunksInFlight(-1)).getMessage().contains("chunksInFlight"));
    assertTrue(assertThrows(IllegalArgumentException.class,
        () -> RunOptions.builder().requestTimeout(Duration.ZERO)).getMessage()
        .contains("requestTimeout"));
  }
}
