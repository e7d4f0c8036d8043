package dev.sidecar.spark.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The connector keeps its process-wide state in one place, {@link ConnectorRuntime}: no other
 * class of {@code dev.sidecar.spark} (nested classes included) has a static field that is not
 * final, or that holds something that changes: a mutable map or collection, an atomic, a lock,
 * a thread-local, or an object of the connector's with fields of its own (a singleton).
 * Constants (loggers, strings, immutable lists, stateless observers) are fine.
 */
class StaticStateTest {
  /** The holder of the one runtime: the only static field allowed to change. */
  private static final String HOLDER = ConnectorRuntime.class.getName() + ".current";

  @Test
  void onlyTheRuntimesHolderIsStaticState() throws Exception {
    Path classes = Path.of(ConnectorRuntime.class.getProtectionDomain().getCodeSource()
        .getLocation().toURI());
    Path root = classes.resolve("dev/sidecar/spark");
    List<String> names;
    try (Stream<Path> files = Files.walk(root)) {
      names = files.map(p -> classes.relativize(p).toString())
          .filter(n -> n.endsWith(".class") && !n.endsWith("package-info.class"))
          .map(n -> n.substring(0, n.length() - ".class".length()).replace('/', '.'))
          .sorted().toList();
    }
    assertTrue(names.size() > 40, "the connector's classes in " + classes + ": " + names);

    List<String> holders = new ArrayList<>();
    List<String> state = new ArrayList<>();
    for (String name : names) {
      Class<?> c = Class.forName(name, true, getClass().getClassLoader());
      for (Field f : c.getDeclaredFields()) {
        int m = f.getModifiers();
        if (!Modifier.isStatic(m) || f.isSynthetic() || f.isEnumConstant()) {
          continue;
        }
        String field = name + "." + f.getName();
        if (!Modifier.isFinal(m)) {
          (field.equals(HOLDER) ? holders : state).add(field + " (not final)");
          continue;
        }
        f.setAccessible(true);
        String why = changing(f.get(null));
        if (why != null) {
          state.add(field + " (" + why + ")");
        }
      }
    }
    assertEquals(List.of(), state, "static state outside ConnectorRuntime's holder");
    assertEquals(List.of(HOLDER + " (not final)"), holders);
  }

  /** Why {@code value} held in a static final field is state, or null when it is a constant. */
  private static String changing(Object value) {
    if (value == null) {
      return null;
    }
    Class<?> c = value.getClass();
    String type = c.getName();
    if ((value instanceof Map || value instanceof Collection)
        && !type.startsWith("java.util.ImmutableCollections")
        && !type.startsWith("java.util.Collections$Unmodifiable")
        && !type.startsWith("java.util.Collections$Empty")) {
      return "a mutable " + type;
    }
    if (type.startsWith("java.util.concurrent.atomic.")
        || type.startsWith("java.util.concurrent.locks.") || value instanceof ThreadLocal) {
      return "a " + type;
    }
    if (type.startsWith("dev.sidecar.spark.") && !c.isEnum() && !c.isRecord()) {
      // A connector object is a constant only when it holds nothing: every instance field
      // final and empty (e.g. ScoringCounters.NONE, the counters of a call without a listener).
      for (Field f : c.getDeclaredFields()) {
        if (!Modifier.isStatic(f.getModifiers()) && !isFinalAndNull(f, value)) {
          return "a " + type + " with fields";
        }
      }
    }
    return null;
  }

  private static boolean isFinalAndNull(Field f, Object owner) {
    if (!Modifier.isFinal(f.getModifiers()) || f.getType().isPrimitive()) {
      return false;
    }
    try {
      f.setAccessible(true);
      return f.get(owner) == null;
    } catch (ReflectiveOperationException | RuntimeException e) {
      return false;
    }
  }
}
