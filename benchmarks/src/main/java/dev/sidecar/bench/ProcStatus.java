package dev.sidecar.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/** Linux {@code /proc/<pid>/status} readings (resident memory) and the sidecar processes of this JVM. */
final class ProcStatus {
  /** The main class every sidecar process runs. */
  static final String SIDECAR_MAIN = "dev.sidecar.server.SidecarMain";

  private ProcStatus() {}

  /** A field of {@code /proc/<pid>/status} in bytes (e.g. {@code VmHWM}, {@code VmRSS}), or -1 when unreadable. */
  static long kb(long pid, String field) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"), StandardCharsets.US_ASCII)) {
        if (line.startsWith(field + ":")) {
          String v = line.substring(field.length() + 1).trim();
          int sp = v.indexOf(' ');
          return Long.parseLong(sp < 0 ? v : v.substring(0, sp)) * 1024;
        }
      }
    } catch (IOException | RuntimeException e) {
      return -1;
    }
    return -1;
  }

  /** Resident set size now, bytes; -1 when unreadable. */
  static long rss(long pid) {
    return kb(pid, "VmRSS");
  }

  /** Peak resident set size (since start or the last {@link #resetPeak}), bytes; -1 when unreadable. */
  static long peakRss(long pid) {
    return kb(pid, "VmHWM");
  }

  /**
   * Resets the process's peak RSS ({@code echo 5 > /proc/<pid>/clear_refs}, Linux 4.0+).
   * Returns false when that is not allowed; then {@link #peakRss} is the peak since start.
   */
  static boolean resetPeak(long pid) {
    try {
      Files.writeString(Path.of("/proc/" + pid + "/clear_refs"), "5");
      return true;
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  /** The sidecar processes started by this JVM (any depth), alive now. */
  static List<ProcessHandle> sidecars() {
    return ProcessHandle.current().descendants()
        .filter(ProcessHandle::isAlive)
        .filter(ProcStatus::isSidecar)
        .toList();
  }

  /** True when the process runs {@link #SIDECAR_MAIN} (read from /proc: the JDK may not report long command lines). */
  static boolean isSidecar(ProcessHandle p) {
    try {
      byte[] raw = Files.readAllBytes(Path.of("/proc/" + p.pid() + "/cmdline"));
      return new String(raw, StandardCharsets.UTF_8).contains(SIDECAR_MAIN);
    } catch (IOException e) {
      Optional<String> cmd = p.info().commandLine();
      return cmd.isPresent() && cmd.get().contains(SIDECAR_MAIN);
    }
  }

  /** CPU time used so far by the process, nanoseconds; 0 when unknown. */
  static long cpuNanos(ProcessHandle p) {
    return p.info().totalCpuDuration().map(Duration::toNanos).orElse(0L);
  }
}
