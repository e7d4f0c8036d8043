package dev.sidecar.server.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.SimpleFormatter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends what gRPC's server side logs through {@code java.util.logging} to SLF4J as one line per
 * event, the exception's stack trace only at DEBUG. Without it, every message over the size
 * limit (a client error) printed a 40-line stack trace on stderr. Only the loggers of gRPC's
 * server classes are taken over, so that a JVM embedding the server keeps its own logging of
 * gRPC clients.
 */
public final class GrpcLogBridge extends Handler {
  private static final String[] SERVER_LOGGERS = {
    "io.grpc.netty.NettyServerStream",
    "io.grpc.netty.NettyServerHandler",
    "io.grpc.netty.NettyServerTransport",
    "io.grpc.internal.ServerImpl",
    "io.grpc.internal.ServerCallImpl",
  };
  /** JUL keeps loggers weakly: held here so that their handler and level stay set. */
  private static final List<java.util.logging.Logger> TAKEN = new ArrayList<>();

  private final SimpleFormatter formatter = new SimpleFormatter();

  private GrpcLogBridge() {
  }

  /** Takes over gRPC's server loggers (once per JVM). */
  public static synchronized void install() {
    if (!TAKEN.isEmpty()) {
      return;
    }
    GrpcLogBridge bridge = new GrpcLogBridge();
    for (String name : SERVER_LOGGERS) {
      java.util.logging.Logger jul = java.util.logging.Logger.getLogger(name);
      jul.setUseParentHandlers(false);
      jul.addHandler(bridge);
      jul.setLevel(LoggerFactory.getLogger(name).isDebugEnabled() ? Level.FINE : Level.INFO);
      TAKEN.add(jul);
    }
  }

  @Override
  public void publish(LogRecord r) {
    Logger log = LoggerFactory.getLogger(r.getLoggerName() == null ? "io.grpc" : r.getLoggerName());
    String message = InferenceService.oneLine(String.valueOf(formatter.formatMessage(r)));
    Throwable t = r.getThrown();
    if (t != null) {
      message = message + ": " + InferenceService.oneLine(t.toString());
    }
    int level = r.getLevel().intValue();
    if (level >= Level.SEVERE.intValue()) {
      log.error(message);
    } else if (level >= Level.WARNING.intValue()) {
      log.warn(message);
    } else if (level >= Level.INFO.intValue()) {
      log.info(message);
    } else {
      log.debug(message);
    }
    if (t != null && log.isDebugEnabled()) {
      log.debug("stack trace of the above", t);
    }
  }

  @Override
  public void flush() {
  }

  @Override
  public void close() {
  }
}
