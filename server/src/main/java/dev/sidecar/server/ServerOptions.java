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
 * @param streamWindow requests one ModelStreamInfer stream may have in flight before the server
 *     stops reading from it (back-pressure)
 * @param gracefulTimeout how long {@link ModelServer#close()} lets accepted work finish
 */
public record ServerOptions(int intraOpThreads, int interOpThreads, int inferenceWorkers,
    int maxInboundMessageBytes, int maxQueuedRows, int streamWindow, Duration gracefulTimeout) {

  public static final int DEFAULT_MAX_INBOUND_MESSAGE_BYTES = 64 * 1024 * 1024;
  public static final int DEFAULT_MAX_QUEUED_ROWS = 262_144;
  public static final int DEFAULT_STREAM_WINDOW = 16;
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
    if (gracefulTimeout == null || gracefulTimeout.isNegative()) {
      throw new IllegalArgumentException("gracefulTimeout must be >= 0");
    }
  }

  /**
   * Defaults: 1 intra-op thread (batching, not operator parallelism, is what scales a sidecar
   * sharing cores with its Spark executor), ONNX Runtime's inter-op default, one inference
   * worker per API, 64 MiB messages, 262144 queued rows per API, a stream window of 16 requests
   * and 30 s to drain on close.
   */
  public static ServerOptions defaults() {
    return new ServerOptions(1, 0, 1, DEFAULT_MAX_INBOUND_MESSAGE_BYTES, DEFAULT_MAX_QUEUED_ROWS,
        DEFAULT_STREAM_WINDOW, DEFAULT_GRACEFUL_TIMEOUT);
  }

  public ServerOptions withIntraOpThreads(int n) {
    return new ServerOptions(n, interOpThreads, inferenceWorkers, maxInboundMessageBytes,
        maxQueuedRows, streamWindow, gracefulTimeout);
  }

  public ServerOptions withInterOpThreads(int n) {
    return new ServerOptions(intraOpThreads, n, inferenceWorkers, maxInboundMessageBytes,
        maxQueuedRows, streamWindow, gracefulTimeout);
  }

  public ServerOptions withInferenceWorkers(int n) {
    return new ServerOptions(intraOpThreads, interOpThreads, n, maxInboundMessageBytes,
        maxQueuedRows, streamWindow, gracefulTimeout);
  }

  public ServerOptions withMaxInboundMessageBytes(int n) {
    return new ServerOptions(intraOpThreads, interOpThreads, inferenceWorkers, n, maxQueuedRows,
        streamWindow, gracefulTimeout);
  }

  public ServerOptions withMaxQueuedRows(int n) {
    return new ServerOptions(intraOpThreads, interOpThreads, inferenceWorkers,
        maxInboundMessageBytes, n, streamWindow, gracefulTimeout);
  }

  public ServerOptions withStreamWindow(int n) {
    return new ServerOptions(intraOpThreads, interOpThreads, inferenceWorkers,
        maxInboundMessageBytes, maxQueuedRows, n, gracefulTimeout);
  }

  public ServerOptions withGracefulTimeout(Duration d) {
    return new ServerOptions(intraOpThreads, interOpThreads, inferenceWorkers,
        maxInboundMessageBytes, maxQueuedRows, streamWindow, d);
  }
}
