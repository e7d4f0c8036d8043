package dev.sidecar.server;

import dev.sidecar.wire.SidecarChannels;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;

/**
 * Tuning of a {@link ModelServer}, with every default in one place ({@link #defaults()}), and its
 * one command-line form ({@link #toArgs()} / {@link #parseArgs}) shared by the sidecar process
 * ({@link SidecarMain}) and the Spark connector that launches it.
 *
 * <p>A thread count of 0 means "ONNX Runtime's choice" (typically one thread per core) wherever it
 * is given: here, {@code --intra-op-threads 0} / {@code --inter-op-threads 0} on the sidecar's
 * command line and on {@code sidecar serve}.
 *
 * @param intraOpThreads ONNX Runtime threads used inside one operator (0 = ONNX Runtime's choice)
 * @param interOpThreads ONNX Runtime threads used across operators (0 = ONNX Runtime's choice)
 * @param inferenceWorkers threads per API that run batches on the shared model session
 * @param maxInboundMessageBytes largest accepted gRPC message; larger ones get RESOURCE_EXHAUSTED
 * @param maxQueuedRows rows one API may hold waiting for inference; beyond it RESOURCE_EXHAUSTED
 *     (a single request larger than this is admitted alone, when the API's queue is empty)
 * @param streamWindow requests one ModelStreamInfer stream may have in flight before the server
 *     stops reading from it (back-pressure)
 * @param streamBufferBytes bytes one stream may hold in the server (requests read and not yet
 *     answered, answers its client has not taken yet) before the server stops reading it
 * @param totalStreamBufferBytes the same bound over all streams together
 * @param streamStallTimeout how long a stream's answers may wait for its client to take them
 *     before the server cancels the stream (RESOURCE_EXHAUSTED)
 * @param gracefulTimeout how long {@link ModelServer#close()} lets accepted work finish
 */
public record ServerOptions(int intraOpThreads, int interOpThreads, int inferenceWorkers,
    int maxInboundMessageBytes, int maxQueuedRows, int streamWindow, long streamBufferBytes,
    long totalStreamBufferBytes, Duration streamStallTimeout, Duration gracefulTimeout) {

  /** One thread per operator: batching, not operator parallelism, scales a sidecar. */
  public static final int DEFAULT_INTRA_OP_THREADS = 1;
  /** The default largest message accepted: {@link SidecarChannels#MAX_MESSAGE_BYTES}. */
  public static final int DEFAULT_MAX_INBOUND_MESSAGE_BYTES = SidecarChannels.MAX_MESSAGE_BYTES;
  public static final int DEFAULT_MAX_QUEUED_ROWS = 262_144;
  public static final int DEFAULT_STREAM_WINDOW = 16;
  public static final long DEFAULT_STREAM_BUFFER_BYTES = 32L * 1024 * 1024;
  /** The cap of the default {@link #totalStreamBufferBytes}: 1 GiB. */
  public static final long MAX_DEFAULT_TOTAL_STREAM_BUFFER_BYTES = 1L << 30;
  public static final Duration DEFAULT_STREAM_STALL_TIMEOUT = Duration.ofSeconds(60);
  public static final Duration DEFAULT_GRACEFUL_TIMEOUT = Duration.ofSeconds(30);

  public ServerOptions {
    if (intraOpThreads < 0 || interOpThreads < 0) {
      throw new IllegalArgumentException("thread counts must be >= 0 (0 = ONNX Runtime's choice),"
          + " got intraOpThreads " + intraOpThreads + ", interOpThreads " + interOpThreads);
    }
    if (inferenceWorkers < 1) {
      throw new IllegalArgumentException("inferenceWorkers must be >= 1, got " + inferenceWorkers);
    }
    if (maxInboundMessageBytes < 1024) {
      throw new IllegalArgumentException("maxInboundMessageBytes must be >= 1024, got "
          + maxInboundMessageBytes);
    }
    if (maxQueuedRows < 1) {
      throw new IllegalArgumentException("maxQueuedRows must be >= 1, got " + maxQueuedRows);
    }
    if (streamWindow < 1) {
      throw new IllegalArgumentException("streamWindow must be >= 1, got " + streamWindow);
    }
    if (streamBufferBytes < 1) {
      throw new IllegalArgumentException("streamBufferBytes must be >= 1, got "
          + streamBufferBytes);
    }
    if (totalStreamBufferBytes < streamBufferBytes) {
      throw new IllegalArgumentException("totalStreamBufferBytes (" + totalStreamBufferBytes
          + ") must be >= streamBufferBytes (" + streamBufferBytes + ")");
    }
    if (streamStallTimeout == null || streamStallTimeout.isNegative()
        || streamStallTimeout.isZero()) {
      throw new IllegalArgumentException("streamStallTimeout must be > 0");
    }
    if (gracefulTimeout == null || gracefulTimeout.isNegative()) {
      throw new IllegalArgumentException("gracefulTimeout must be >= 0");
    }
  }

  /**
   * Defaults: 1 intra-op thread (batching, not operator parallelism, is what scales a sidecar
   * sharing cores with its Spark executor), ONNX Runtime's inter-op default, one inference
   * worker per API, 64 MiB messages, 262144 queued rows per API, a stream window of 16 requests,
   * 32 MiB held per stream and a quarter of the JVM's maximum heap (at most 1 GiB) over all
   * streams, 60 s before a stream whose client takes no answers is cancelled, and 30 s to drain
   * on close.
   */
  public static ServerOptions defaults() {
    long total = Math.min(MAX_DEFAULT_TOTAL_STREAM_BUFFER_BYTES,
        Math.max(DEFAULT_STREAM_BUFFER_BYTES, Runtime.getRuntime().maxMemory() / 4));
    return new ServerOptions(DEFAULT_INTRA_OP_THREADS, 0, 1, DEFAULT_MAX_INBOUND_MESSAGE_BYTES, DEFAULT_MAX_QUEUED_ROWS,
        DEFAULT_STREAM_WINDOW, DEFAULT_STREAM_BUFFER_BYTES, total, DEFAULT_STREAM_STALL_TIMEOUT,
        DEFAULT_GRACEFUL_TIMEOUT);
  }

  /**
   * This configuration as command-line flags for {@link #parseArgs}: each setting that differs
   * from {@link #defaults()} as {@code --flag value} (durations in whole milliseconds). Settings
   * left at their default stay off the command line, so the receiving process applies its own
   * default (the total stream buffer follows that process's heap).
   */
  public List<String> toArgs() {
    ServerOptions d = defaults();
    List<String> args = new ArrayList<>();
    flag(args, "--intra-op-threads", intraOpThreads, d.intraOpThreads);
    flag(args, "--inter-op-threads", interOpThreads, d.interOpThreads);
    flag(args, "--inference-workers", inferenceWorkers, d.inferenceWorkers);
    flag(args, "--max-message-bytes", maxInboundMessageBytes, d.maxInboundMessageBytes);
    flag(args, "--max-queued-rows", maxQueuedRows, d.maxQueuedRows);
    flag(args, "--stream-window", streamWindow, d.streamWindow);
    flag(args, "--stream-buffer-bytes", streamBufferBytes, d.streamBufferBytes);
    flag(args, "--total-stream-buffer-bytes", totalStreamBufferBytes, d.totalStreamBufferBytes);
    flag(args, "--stream-stall-timeout-ms", streamStallTimeout.toMillis(),
        d.streamStallTimeout.toMillis());
    flag(args, "--graceful-timeout-ms", gracefulTimeout.toMillis(), d.gracefulTimeout.toMillis());
    return args;
  }

  private static void flag(List<String> args, String flag, long value, long byDefault) {
    if (value != byDefault) {
      args.add(flag);
      args.add(Long.toString(value));
    }
  }

  /**
   * Reads {@code args}, pairs of {@code --flag value}, starting from {@link #defaults()}: the flags
   * {@link #toArgs()} writes set options; any other pair goes to {@code other} (which may refuse it
   * with an {@link IllegalArgumentException}). Without {@code --total-stream-buffer-bytes}, the
   * total stream buffer is the default, raised to {@code --stream-buffer-bytes} if that is larger.
   *
   * @throws IllegalArgumentException naming the flag, for a missing, non-numeric or out-of-range
   *     value
   */
  public static ServerOptions parseArgs(List<String> args, BiConsumer<String, String> other) {
    ServerOptions o = defaults();
    long perStream = o.streamBufferBytes;
    Long total = null;
    for (int i = 0; i < args.size(); i += 2) {
      String f = args.get(i);
      String v = i + 1 < args.size() ? args.get(i + 1) : null;
      ServerOptions next;
      try {
        next = switch (f) {
          case "--intra-op-threads" -> o.withIntraOpThreads(intValue(f, v));
          case "--inter-op-threads" -> o.withInterOpThreads(intValue(f, v));
          case "--inference-workers" -> o.withInferenceWorkers(intValue(f, v));
          case "--max-message-bytes" -> o.withMaxInboundMessageBytes(intValue(f, v));
          case "--max-queued-rows" -> o.withMaxQueuedRows(intValue(f, v));
          case "--stream-window" -> o.withStreamWindow(intValue(f, v));
          case "--stream-buffer-bytes" -> {
            perStream = longValue(f, v, 1);
            yield o;
          }
          case "--total-stream-buffer-bytes" -> {
            total = longValue(f, v, 1);
            yield o;
          }
          case "--stream-stall-timeout-ms" ->
              o.withStreamStallTimeout(Duration.ofMillis(longValue(f, v, 1)));
          case "--graceful-timeout-ms" ->
              o.withGracefulTimeout(Duration.ofMillis(longValue(f, v, 0)));
          default -> null;
        };
      } catch (IllegalArgumentException e) {
        throw e.getMessage().startsWith(f)
            ? e : new IllegalArgumentException(f + " " + v + ": " + e.getMessage(), e);
      }
      if (next == null) {
        other.accept(f, need(f, v));
      } else {
        o = next;
      }
    }
    long t = total != null ? total : Math.max(perStream, o.totalStreamBufferBytes);
    if (t < perStream) {
      throw new IllegalArgumentException("--total-stream-buffer-bytes (" + t + ") must be at least"
          + " --stream-buffer-bytes (" + perStream + ")");
    }
    return o.withStreamBufferBytes(perStream, t);
  }

  private static int intValue(String flag, String value) {
    long n = longValue(flag, value, 0);
    if (n > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(flag + " must be at most " + Integer.MAX_VALUE
          + ", got " + n);
    }
    return (int) n;
  }

  private static long longValue(String flag, String value, long min) {
    long n;
    try {
      n = Long.parseLong(need(flag, value));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(flag + " needs a number, got '" + value + "'");
    }
    if (n < min) {
      throw new IllegalArgumentException(flag + " must be >= " + min + ", got " + n);
    }
    return n;
  }

  private static String need(String flag, String value) {
    if (value == null || value.startsWith("--")) {
      throw new IllegalArgumentException(flag + " needs a value");
    }
    return value;
  }

  public ServerOptions withIntraOpThreads(int n) {
    return new ServerOptions(n, interOpThreads, inferenceWorkers, maxInboundMessageBytes,
        maxQueuedRows, streamWindow, streamBufferBytes, totalStreamBufferBytes,
        streamStallTimeout, gracefulTimeout);
  }

  public ServerOptions withInterOpThreads(int n) {
    return new ServerOptions(intraOpThreads, n, inferenceWorkers, maxInboundMessageBytes,
        maxQueuedRows, streamWindow, streamBufferBytes, totalStreamBufferBytes,
        streamStallTimeout, gracefulTimeout);
  }

  public ServerOptions withInferenceWorkers(int n) {
    return new ServerOptions(intraOpThreads, interOpThreads, n, maxInboundMessageBytes,
        maxQueuedRows, streamWindow, streamBufferBytes, totalStreamBufferBytes,
        streamStallTimeout, gracefulTimeout);
  }

  public ServerOptions withMaxInboundMessageBytes(int n) {
    return new ServerOptions(intraOpThreads, interOpThreads, inferenceWorkers, n, maxQueuedRows,
        streamWindow, streamBufferBytes, totalStreamBufferBytes, streamStallTimeout,
        gracefulTimeout);
  }

  public ServerOptions withMaxQueuedRows(int n) {
    return new ServerOptions(intraOpThreads, interOpThreads, inferenceWorkers,
        maxInboundMessageBytes, n, streamWindow, streamBufferBytes, totalStreamBufferBytes,
        streamStallTimeout, gracefulTimeout);
  }

  public ServerOptions withStreamWindow(int n) {
    return new ServerOptions(intraOpThreads, interOpThreads, inferenceWorkers,
        maxInboundMessageBytes, maxQueuedRows, n, streamBufferBytes, totalStreamBufferBytes,
        streamStallTimeout, gracefulTimeout);
  }

  /** Bytes one stream may hold ({@code perStream}) and all streams together ({@code total}). */
  public ServerOptions withStreamBufferBytes(long perStream, long total) {
    return new ServerOptions(intraOpThreads, interOpThreads, inferenceWorkers,
        maxInboundMessageBytes, maxQueuedRows, streamWindow, perStream, total,
        streamStallTimeout, gracefulTimeout);
  }

  public ServerOptions withStreamStallTimeout(Duration d) {
    return new ServerOptions(intraOpThreads, interOpThreads, inferenceWorkers,
        maxInboundMessageBytes, maxQueuedRows, streamWindow, streamBufferBytes,
        totalStreamBufferBytes, d, gracefulTimeout);
  }

  public ServerOptions withGracefulTimeout(Duration d) {
    return new ServerOptions(intraOpThreads, interOpThreads, inferenceWorkers,
        maxInboundMessageBytes, maxQueuedRows, streamWindow, streamBufferBytes,
        totalStreamBufferBytes, streamStallTimeout, d);
  }
}
