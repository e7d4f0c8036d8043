package dev.sidecar.server.internal;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.LocalTime;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import org.slf4j.ILoggerFactory;
import org.slf4j.IMarkerFactory;
import org.slf4j.Logger;
import org.slf4j.Marker;
import org.slf4j.event.Level;
import org.slf4j.helpers.BasicMarkerFactory;
import org.slf4j.helpers.LegacyAbstractLogger;
import org.slf4j.helpers.MessageFormatter;
import org.slf4j.helpers.NOPMDCAdapter;
import org.slf4j.spi.MDCAdapter;
import org.slf4j.spi.SLF4JServiceProvider;

/**
 * A small SLF4J provider that writes one line per event to stderr, for the sidecar process.
 * Loading a full logging backend (Log4j 2 from the executor's class path) cost a sidecar about
 * a third of a second of its start; the sidecar's stderr goes to a log file the connector quotes
 * on failure, so lines of {@code time LEVEL logger: message} are all it needs. The level comes
 * from {@code -Dsidecar.log.level} (default INFO).
 *
 * <p>It is not registered in {@code META-INF/services}: the connector names it for the sidecar
 * JVM only, so it never competes with the provider of a JVM that embeds the server.
 */
public final class StderrLoggerProvider implements SLF4JServiceProvider {
  /** The system property holding the threshold: TRACE, DEBUG, INFO, WARN or ERROR. */
  public static final String LEVEL_PROPERTY = "sidecar.log.level";

  private final IMarkerFactory markers = new BasicMarkerFactory();
  private final MDCAdapter mdc = new NOPMDCAdapter();
  private final ConcurrentMap<String, Logger> loggers = new ConcurrentHashMap<>();
  private Level threshold = Level.INFO;
  private final ILoggerFactory factory = name -> loggers.computeIfAbsent(name,
      n -> new StderrLogger(n, threshold));

  @Override
  public ILoggerFactory getLoggerFactory() {
    return factory;
  }

  @Override
  public IMarkerFactory getMarkerFactory() {
    return markers;
  }

  @Override
  public MDCAdapter getMDCAdapter() {
    return mdc;
  }

  @Override
  public String getRequestedApiVersion() {
    return "2.0.99";
  }

  @Override
  public void initialize() {
    String level = System.getProperty(LEVEL_PROPERTY, "INFO").trim().toUpperCase(Locale.ROOT);
    try {
      threshold = Level.valueOf(level);
    } catch (IllegalArgumentException e) {
      System.err.println("sidecar: unknown -D" + LEVEL_PROPERTY + "=" + level + ", using INFO");
    }
  }

  private static final class StderrLogger extends LegacyAbstractLogger {
    private static final long serialVersionUID = 1L;
    private final int threshold;
    private final String shortName;

    StderrLogger(String name, Level threshold) {
      this.name = name;
      this.threshold = threshold.toInt();
      this.shortName = name.substring(name.lastIndexOf('.') + 1);
    }

    @Override
    public boolean isTraceEnabled() {
      return Level.TRACE.toInt() >= threshold;
    }

    @Override
    public boolean isDebugEnabled() {
      return Level.DEBUG.toInt() >= threshold;
    }

    @Override
    public boolean isInfoEnabled() {
      return Level.INFO.toInt() >= threshold;
    }

    @Override
    public boolean isWarnEnabled() {
      return Level.WARN.toInt() >= threshold;
    }

    @Override
    public boolean isErrorEnabled() {
      return Level.ERROR.toInt() >= threshold;
    }

    @Override
    protected String getFullyQualifiedCallerName() {
      return null;
    }

    @Override
    protected void handleNormalizedLoggingCall(Level level, Marker marker, String pattern,
        Object[] args, Throwable thrown) {
      StringBuilder line = new StringBuilder(128).append(LocalTime.now()).append(' ')
          .append(level).append(' ').append(shortName).append(": ")
          .append(MessageFormatter.basicArrayFormat(pattern, args));
      if (thrown != null) {
        StringWriter trace = new StringWriter();
        thrown.printStackTrace(new PrintWriter(trace));
        line.append(System.lineSeparator()).append(trace.toString().stripTrailing());
      }
      System.err.println(line);
    }
  }
}
