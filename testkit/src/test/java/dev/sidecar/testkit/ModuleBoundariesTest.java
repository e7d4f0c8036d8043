package dev.sidecar.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Module boundaries that hold: no module of this build names another module's {@code internal}
 * package (see {@link ModuleBoundaries} for the rule). What modules share is public: the wire
 * module, bundle-format's {@code files} and {@code onnx} packages, the connector's {@code tools}.
 * Runs in testkit, which every build runs early, over the sources of every module of the root
 * pom; the other tests show it reports each kind of breach with the file, line and name.
 */
class ModuleBoundariesTest {
  @TempDir
  Path tmp;

  @Test
  void noModuleNamesAnotherModulesInternalPackage() {
    Path root = projectRoot();
    List<String> modules = ModuleBoundaries.modules(root);
    assertTrue(modules.containsAll(List.of("bundle-format", "wire", "server", "spark-connector",
        "cli", "benchmarks")), "the modules of " + root + ": " + modules);
    List<String> found = ModuleBoundaries.violations(root);
    assertTrue(found.isEmpty(), "modules reach into other modules' internals (make what they"
        + " share public, or move it to the one module that needs it):\n"
        + String.join("\n", found));
  }

  @Test
  void eachKindOfBreachIsReportedWithItsFileAndLine() throws IOException {
    Path root = tmp.resolve("project");
    write(root.resolve("pom.xml"), "<project><modules>\n<module>a</module>\n"
        + "<module>b</module>\n</modules></project>\n");
    write(root.resolve("a/src/main/java/dev/sidecar/a/internal/Hidden.java"),
        "package dev.sidecar.a.@internal;\npublic class Hidden {}\n");
    write(root.resolve("a/src/main/java/dev/sidecar/a/Api.java"),
        "package dev.sidecar.a;\nimport dev.sidecar.a.@internal.Hidden;\npublic class Api {}\n");
    write(root.resolve("b/src/main/java/dev/sidecar/b/Uses.java"), String.join("\n",
        "package dev.sidecar.b;",
        "",
        "import static dev.sidecar.a.@internal.Hidden.helper;",
        "import dev.sidecar.a.@internal.Hidden;",
        "// Comments may say dev.sidecar.a.@internal.Hidden freely.",
        "/** Nor is {@link dev.sidecar.a.@internal.Hidden} in javadoc a breach. */",
        "class Uses {",
        "  Object o = new dev.sidecar.a.@internal.Hidden();",
        "  String byName = \"dev.sidecar.a.@internal.Hidden\";",
        "  String notOurs = \"jdk.@internal.misc.Unsafe\";",
        "}", ""));
    write(root.resolve("b/src/main/java/dev/sidecar/a/Split.java"),
        "package dev.sidecar.a;\nclass Split {}\n");
    write(root.resolve("b/src/test/java/dev/sidecar/a/internal/HiddenTest.java"),
        "package dev.sidecar.a.@internal;\nclass HiddenTest {}\n");

    assertEquals(List.of(
        "package dev.sidecar.a is declared by the main sources of more than one module: a, b",
        "b/src/main/java/dev/sidecar/b/Uses.java:3: module b uses "
            + i("dev.sidecar.a.@internal.Hidden.helper") + ", internal to module a",
        "b/src/main/java/dev/sidecar/b/Uses.java:4: module b uses "
            + i("dev.sidecar.a.@internal.Hidden") + ", internal to module a",
        "b/src/main/java/dev/sidecar/b/Uses.java:8: module b uses "
            + i("dev.sidecar.a.@internal.Hidden") + ", internal to module a",
        "b/src/main/java/dev/sidecar/b/Uses.java:9: module b uses "
            + i("dev.sidecar.a.@internal.Hidden") + ", internal to module a",
        "b/src/test/java/dev/sidecar/a/internal/HiddenTest.java: declares package "
            + i("dev.sidecar.a.@internal") + ", internal to module a; only module b's own"
            + " internal packages are open to it"),
        ModuleBoundaries.violations(root));
  }

  @Test
  void aModulesOwnInternalsAndPublicPackagesAreOpen() throws IOException {
    Path root = tmp.resolve("clean");
    write(root.resolve("pom.xml"), "<project><modules><module>a</module><module>b</module>"
        + "</modules></project>");
    write(root.resolve("a/src/main/java/dev/sidecar/a/internal/deep/Hidden.java"),
        "package dev.sidecar.a.@internal.deep;\npublic class Hidden {}\n");
    write(root.resolve("a/src/test/java/dev/sidecar/a/HiddenTest.java"),
        "package dev.sidecar.a;\nimport dev.sidecar.a.@internal.deep.Hidden;\n"
            + "class HiddenTest {}\n");
    write(root.resolve("a/src/main/java/dev/sidecar/a/Api.java"),
        "package dev.sidecar.a;\npublic class Api {}\n");
    write(root.resolve("b/src/main/java/dev/sidecar/b/Uses.java"),
        "package dev.sidecar.b;\nimport dev.sidecar.a.Api;\nclass Uses {}\n");
    assertEquals(List.of(), ModuleBoundaries.violations(root));
  }

  /**
   * This file names internal packages of made-up modules in its own strings; they are written
   * with {@code @internal} so that the check over the real sources, this file included, does
   * not take them for references.
   */
  private static String i(String s) {
    return s.replace("@internal", "internal");
  }

  private static void write(Path file, String text) throws IOException {
    Files.createDirectories(file.getParent());
    Files.writeString(file, i(text));
  }

  /** The multi-module root: the first directory up from here whose pom lists testkit. */
  private static Path projectRoot() {
    for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
      Path pom = d.resolve("pom.xml");
      try {
        if (Files.isRegularFile(pom)
            && Files.readString(pom).contains("<module>testkit</module>")) {
          return d;
        }
      } catch (IOException e) {
        throw new IllegalStateException("cannot read " + pom, e);
      }
    }
    throw new IllegalStateException("no project root (a pom.xml listing testkit) above "
        + Path.of("").toAbsolutePath());
  }
}
