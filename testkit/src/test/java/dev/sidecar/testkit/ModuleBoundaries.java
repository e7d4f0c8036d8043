package dev.sidecar.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
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
import java.util.stream.Stream;

/**
 * The rule between the project's Maven modules, checked on their sources: a package with an
 * {@code internal} segment ({@code dev.sidecar.server.internal}, and any package below it) belongs
 * to the one module whose main sources declare it, and only that module's sources (main and test)
 * may name it — in an import, a static import, a fully qualified name in code or a class name in
 * a string. Comments may mention anything. A test may not sit in another module's internal
 * package either, and no package is declared by the main sources of two modules (a split package
 * would let one module reach into another's package-private code).
 */
final class ModuleBoundaries {
  /** The project's namespace: only internal packages under it are checked. */
  static final String NAMESPACE = "dev.sidecar";
  /** A dotted name of the project that reaches an {@code internal} segment: its root is group 1. */
  private static final Pattern INTERNAL_REF = Pattern.compile("\\b(" + Pattern.quote(NAMESPACE)
      + "(?:\\.[a-z_][a-z0-9_]*)*?\\.internal)\\b(?:\\.[A-Za-z_][A-Za-z0-9_]*)*");
  private static final Pattern PACKAGE = Pattern.compile("(?m)^\\s*package\\s+([\\w.]+)\\s*;");
  private static final Pattern MODULES = Pattern.compile("<modules>(.*?)</modules>",
      Pattern.DOTALL);
  private static final Pattern MODULE = Pattern.compile("<module>\\s*([^<\\s]+)\\s*</module>");

  private ModuleBoundaries() {
  }

  /** Every breach of the rule under the multi-module project at {@code root}, one per line. */
  static List<String> violations(Path root) {
    List<String> modules = modules(root);
    // Package -> the modules whose main sources declare it.
    Map<String, Set<String>> declaredBy = new TreeMap<>();
    for (String m : modules) {
      for (Path f : javaFiles(root.resolve(m).resolve("src/main/java"))) {
        String pkg = packageOf(read(f));
        if (pkg != null) {
          declaredBy.computeIfAbsent(pkg, k -> new TreeSet<>()).add(m);
        }
      }
    }
    List<String> out = new ArrayList<>();
    for (Map.Entry<String, Set<String>> e : declaredBy.entrySet()) {
      if (e.getValue().size() > 1) {
        out.add("package " + e.getKey() + " is declared by the main sources of more than one"
            + " module: " + String.join(", ", e.getValue()));
      }
    }
    for (String m : modules) {
      Path src = root.resolve(m).resolve("src");
      for (Path f : javaFiles(src)) {
        String text = read(f);
        String where = root.relativize(f).toString().replace('\\', '/');
        String pkg = packageOf(text);
        if (pkg != null) {
          String internal = internalRoot(pkg);
          if (internal != null && !owns(declaredBy, m, internal)) {
            out.add(where + ": declares package " + pkg + ", " + ownership(declaredBy, internal)
                + "; only module " + m + "'s own internal packages are open to it");
          }
        }
        String code = withoutComments(text);
        Matcher r = INTERNAL_REF.matcher(code);
        while (r.find()) {
          String internal = r.group(1);
          if (internal.equals(internalRoot(pkg == null ? "" : pkg)) || owns(declaredBy, m,
              internal)) {
            continue;
          }
          out.add(where + ":" + lineOf(code, r.start()) + ": module " + m + " uses "
              + r.group() + ", " + ownership(declaredBy, internal));
        }
      }
    }
    return out;
  }

  /** The modules of the root pom's {@code <modules>}, in order. */
  static List<String> modules(Path root) {
    Matcher block = MODULES.matcher(read(root.resolve("pom.xml")));
    if (!block.find()) {
      throw new IllegalStateException(root.resolve("pom.xml") + " lists no <modules>");
    }
    List<String> out = new ArrayList<>();
    Matcher m = MODULE.matcher(block.group(1));
    while (m.find()) {
      out.add(m.group(1));
    }
    return out;
  }

  /** {@code a.b.internal} for {@code a.b.internal} and {@code a.b.internal.c}; else null. */
  static String internalRoot(String pkg) {
    int at = ("." + pkg + ".").indexOf(".internal.");
    return at < 0 ? null : pkg.substring(0, at + ".internal".length() - 1);
  }

  private static boolean owns(Map<String, Set<String>> declaredBy, String module,
      String internal) {
    for (Map.Entry<String, Set<String>> e : declaredBy.entrySet()) {
      if (internal.equals(internalRoot(e.getKey())) && e.getValue().contains(module)) {
        return true;
      }
    }
    return false;
  }

  private static String ownership(Map<String, Set<String>> declaredBy, String internal) {
    Set<String> owners = new TreeSet<>();
    for (Map.Entry<String, Set<String>> e : declaredBy.entrySet()) {
      if (internal.equals(internalRoot(e.getKey()))) {
        owners.addAll(e.getValue());
      }
    }
    return owners.isEmpty() ? "an internal package no module's main sources declare"
        : "internal to module " + String.join(", ", owners);
  }

  private static String packageOf(String text) {
    Matcher m = PACKAGE.matcher(withoutComments(text));
    return m.find() ? m.group(1) : null;
  }

  /**
   * The text with comments blanked (newlines kept, so offsets keep their line numbers); string
   * and character literals are kept, since a class name in a string is a reference by name.
   */
  static String withoutComments(String s) {
    StringBuilder b = new StringBuilder(s.length());
    int i = 0;
    int n = s.length();
    while (i < n) {
      char c = s.charAt(i);
      if (c == '/' && i + 1 < n && s.charAt(i + 1) == '/') {
        while (i < n && s.charAt(i) != '\n') {
          b.append(' ');
          i++;
        }
      } else if (c == '/' && i + 1 < n && s.charAt(i + 1) == '*') {
        int end = s.indexOf("*/", i + 2);
        end = end < 0 ? n : end + 2;
        for (; i < end; i++) {
          b.append(s.charAt(i) == '\n' ? '\n' : ' ');
        }
      } else if (c == '"' || c == '\'') {
        boolean block = c == '"' && s.startsWith("\"\"\"", i);
        String close = block ? "\"\"\"" : String.valueOf(c);
        int j = i + close.length();
        while (j < n && !s.startsWith(close, j)) {
          j += s.charAt(j) == '\\' ? 2 : 1;
        }
        int end = Math.min(n, j + close.length());
        b.append(s, i, end);
        i = end;
      } else {
        b.append(c);
        i++;
      }
    }
    return b.toString();
  }

  private static int lineOf(String s, int offset) {
    int line = 1;
    for (int i = 0; i < offset; i++) {
      if (s.charAt(i) == '\n') {
        line++;
      }
    }
    return line;
  }

  private static List<Path> javaFiles(Path dir) {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(p -> p.toString().endsWith(".java") && Files.isRegularFile(p)).sorted()
          .toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static String read(Path f) {
    try {
      return Files.readString(f);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
