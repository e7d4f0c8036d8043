package dev.sidecar.wire;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The ready line a sidecar prints reads back as the target it was written with. */
class ReadyLineTest {
  @Test
  void writtenTargetsReadBack() {
    for (String target : new String[] {"unix:///tmp/sidecar-x/sidecar.sock", "127.0.0.1:40123",
        "[::1]:8001"}) {
      String line = ReadyLine.of(target);
      assertEquals("SIDECAR READY " + target, line);
      assertEquals(Optional.of(target), ReadyLine.target(line));
      // A reader that kept a trailing carriage return or blank still gets the target.
      assertEquals(Optional.of(target), ReadyLine.target(line + "\r"));
    }
  }

  @Test
  void otherOutputIsNotAReadyLine() {
    assertEquals(Optional.empty(), ReadyLine.target("Picked up JAVA_TOOL_OPTIONS: -Xss4m"));
    assertEquals(Optional.empty(), ReadyLine.target("SIDECAR READY "));
    assertEquals(Optional.empty(), ReadyLine.target("sidecar ready 127.0.0.1:1"));
    assertEquals(Optional.empty(), ReadyLine.target(null));
  }

  @Test
  void aTargetThatCannotBeOneLineIsRefused() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ReadyLine.of("127.0.0.1:1\nSIDECAR READY evil:2"));
    assertEquals("not a sidecar target for the ready line: '127.0.0.1:1\nSIDECAR READY evil:2'",
        e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> ReadyLine.of(" "));
  }
}
