package dev.sidecar.wire;

import java.util.Optional;

/**
 * The one line a sidecar process prints on its stdout once it serves: {@code SIDECAR READY
 * <target>}, where the target is what {@link SidecarChannels#forTarget(String)} dials
 * ({@code unix:///abs/path.sock} or {@code 127.0.0.1:PORT}). The server's {@code SidecarMain}
 * writes it with {@link #of}; the Spark connector, which launched the process, waits for it and
 * reads the target back with {@link #target}.
 */
public final class ReadyLine {
  /** What the line starts with, the space included. */
  public static final String PREFIX = "SIDECAR READY ";

  private ReadyLine() {
  }

  /** The ready line announcing {@code target} (without a line terminator). */
  public static String of(String target) {
    if (target == null || target.isBlank() || target.indexOf('\n') >= 0
        || target.indexOf('\r') >= 0) {
      throw new IllegalArgumentException("not a sidecar target for the ready line: '" + target
          + "'");
    }
    return PREFIX + target.strip();
  }

  /**
   * The target a line announces, or empty when the line is not a ready line (or names no
   * target): any other output of the process.
   */
  public static Optional<String> target(String line) {
    if (line == null || !line.startsWith(PREFIX)) {
      return Optional.empty();
    }
    String target = line.substring(PREFIX.length()).strip();
    return target.isEmpty() ? Optional.empty() : Optional.of(target);
  }

  /** How the line looks, for messages about a process that never printed it. */
  public static String describe() {
    return PREFIX + "<target>";
  }
}
