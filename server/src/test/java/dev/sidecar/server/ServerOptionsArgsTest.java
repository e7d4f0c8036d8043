package dev.sidecar.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.Test;

/**
 * One command-line form of {@link ServerOptions}: what the connector writes with
 * {@link ServerOptions#toArgs()} is what {@link SidecarMain} reads back, and a thread count of 0
 * means ONNX Runtime's choice on every path.
 */
class ServerOptionsArgsTest {
  private static final BiConsumer<String, String> NO_OTHER = (f, v) -> {
    throw new IllegalArgumentException("unknown argument '" + f + "'");
  };

  @Test
  void everySettingSurvivesTheCommandLine() {
    ServerOptions o = ServerOptions.defaults().withIntraOpThreads(3).withInterOpThreads(2)
        .withInferenceWorkers(5).withMaxInboundMessageBytes(4096).withMaxQueuedRows(77)
        .withStreamWindow(4).withStreamBufferBytes(1000, 5000)
        .withStreamStallTimeout(Duration.ofMillis(1234)).withGracefulTimeout(Duration.ZERO);
    List<String> args = o.toArgs();
    assertEquals(20, args.size(), args.toString());
    assertEquals(o, ServerOptions.parseArgs(args, NO_OTHER));
  }

  @Test
  void defaultsWriteNothingAndReadBackAsDefaults() {
    assertEquals(List.of(), ServerOptions.defaults().toArgs());
    assertEquals(ServerOptions.defaults(), ServerOptions.parseArgs(List.of(), NO_OTHER));
  }

  @Test
  void zeroThreadsMeansOnnxRuntimesChoiceInTheSidecarProcess() {
    ServerOptions ortChoice = ServerOptions.defaults().withIntraOpThreads(0);
    assertEquals(List.of("--intra-op-threads", "0"), ortChoice.toArgs());
    List<String> argv = new ArrayList<>(List.of("--bundle-dir", "/b", "--port", "0"));
    argv.addAll(ortChoice.toArgs());
    SidecarMain.Args parsed = SidecarMain.parse(argv.toArray(String[]::new));
    assertEquals(0, parsed.options().intraOpThreads());
    assertEquals(ortChoice, parsed.options());
  }

  @Test
  void launchFlagsAndTuningFlagsMix() {
    SidecarMain.Args a = SidecarMain.parse(new String[] {"--max-queued-rows", "9",
        "--socket", "/s", "--bundle-dir", "/b", "--parent-pid", "42"});
    assertEquals("/b", a.bundleDir().toString());
    assertEquals("/s", a.socket().toString());
    assertEquals(42, a.parentPid());
    assertEquals(ServerOptions.defaults().withMaxQueuedRows(9), a.options());
  }

  @Test
  void badValuesNameTheFlag() {
    assertEquals("--inference-workers 0: inferenceWorkers must be >= 1, got 0",
        refused("--inference-workers", "0"));
    assertEquals("--intra-op-threads must be >= 0, got -1", refused("--intra-op-threads", "-1"));
    assertEquals("--max-queued-rows needs a number, got 'many'",
        refused("--max-queued-rows", "many"));
    assertEquals("--stream-window needs a value", refused("--stream-window"));
    assertEquals("--total-stream-buffer-bytes (10) must be at least --stream-buffer-bytes (20)",
        refused("--stream-buffer-bytes", "20", "--total-stream-buffer-bytes", "10"));
    assertEquals("unknown argument '--nope'", refused("--nope", "1"));
  }

  private static String refused(String... args) {
    return assertThrows(IllegalArgumentException.class,
        () -> ServerOptions.parseArgs(List.of(args), NO_OTHER)).getMessage();
  }
}
