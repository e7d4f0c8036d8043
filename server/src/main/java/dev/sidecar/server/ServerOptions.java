package dev.sidecar.server;

import java.time.Duration;

/**
 * Tuning of a {@link ModelServer}, with every default in one place ({@link #defaults()}).
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

  public static final int DEFAULT_MAX_INBOUND_MESSAGE_BYTES = 64 * 1024 * 1024;
  public static final int DEFAULT_MAX_QUEUED_ROWS = 262_144;
  public static final int DEFAULT_STREAM_WINDOW = 16;
  public static final long DEFAULT_STREAM_BUFFER_BYTES = 32L * 1024 * 1024;
  /** The cap of the default {@link #totalStreamBufferBytes}: 1 GiB. */
  public static final long MAX_DEFAULT_TOTAL_STREAM_BUFFER_BYTES = 1L << 30;
  public static final Duration DEFAULT_STREAM_STALL_TIMEOUT = Duration.ofSeconds(60);
  public static final Duration DEFAULT_GRACEFUL_TIMEOUT = Duration.ofSeconds(30);

  public ServerOptions {
    if (intraOpThreads < 0 || interOpThreads < 0) {
      throw new IllegalArgumentException("thread counts must be >= 0 (0 = ONNX Runtime default)");
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
    return new ServerOptions(1, 0, 1, DEFAULT_MAX_INBOUND_MESSAGE_BYTES, DEFAULT_MAX_QUEUED_ROWS,
        DEFAULT_STREAM_WINDOW, DEFAULT_STREAM_BUFFER_BYTES, total, DEFAULT_STREAM_STALL_TIMEOUT,
        DEFAULT_GRACEFUL_TIMEOUT);
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
