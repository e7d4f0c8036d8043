package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.spi.ToolProvider;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The connector's compiled classes name no Scala collection type whose shape differs between
 * Scala 2.12 and 2.13. Spark's Scala API returns {@code Seq}, which erases to
 * {@code scala.collection.Seq} on 2.12 and {@code scala.collection.immutable.Seq} on 2.13: a
 * call compiled against one fails on the other with {@code NoSuchMethodError}. The connector may
 * use only {@code Iterable} and {@code Iterator}, whose methods it calls link on both.
 */
@EveryLine
class ScalaNeutralBytecodeTest {
  private static final Set<String> SAME_ON_212_AND_213 =
      Set.of("scala.collection.Iterable", "scala.collection.Iterator");
  /** A type in javap's output: internal form in the code's comments, dotted in declarations. */
  private static final Pattern SCALA_TYPE = Pattern.compile(
      "scala/(?:collection|jdk)/[A-Za-z0-9_$/]+|scala\\.(?:collection|jdk)\\.[A-Za-z0-9_$.]+");
  /** javap starts each class it prints with this line. */
  private static final Pattern CLASS_START = Pattern.compile("(?m)^Compiled from \"([^\"]+)\"$");

  @Test
  void connectorClassesNameOnlyScalaTypesThatLinkOnBothScalaVersions() throws Exception {
    Path classes = Path.of(Sidecar.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    assertTrue(Files.isDirectory(classes), "the connector's classes directory: " + classes);
    List<Path> files;
    try (Stream<Path> walk = Files.walk(classes)) {
      files = walk.filter(p -> p.toString().endsWith(".class")).sorted().toList();
    }
    assertFalse(files.isEmpty(), "no classes under " + classes);
    List<String> args = new ArrayList<>(List.of("-c", "-p"));
    files.forEach(f -> args.add(f.toString()));
    StringWriter out = new StringWriter();
    int rc = ToolProvider.findFirst("javap").orElseThrow()
        .run(new PrintWriter(out), new PrintWriter(out), args.toArray(String[]::new));
    String text = out.toString();
    assertEquals(0, rc, "javap on " + classes + ":\n" + text);
    assertEquals(files.size(), CLASS_START.matcher(text).results().count(), "javap printed each class");

    Map<String, Set<String>> offending = new TreeMap<>();
    String[] perClass = CLASS_START.split(text);
    Matcher source = CLASS_START.matcher(text);
    for (int i = 1; i < perClass.length && source.find(); i++) {
      Matcher m = SCALA_TYPE.matcher(perClass[i]);
      while (m.find()) {
        String type = m.group().replace('/', '.');
        if (!SAME_ON_212_AND_213.contains(type)) {
          offending.computeIfAbsent(source.group(1), k -> new TreeSet<>()).add(type);
        }
      }
    }
    assertTrue(offending.isEmpty(), "the connector names Scala collection types that differ between"
        + " Scala 2.12 and 2.13, so one shaded jar fails on the other Spark build with"
        + " NoSuchMethodError: " + offending + ". Use Spark's Java API, or call the method by name"
        + " and use the result as a scala.collection.Iterable (see BundleShipper.listFiles).");
  }
}
