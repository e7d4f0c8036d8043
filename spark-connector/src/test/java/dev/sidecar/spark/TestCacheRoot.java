package dev.sidecar.spark;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * Points the connector's cache ({@code sidecar.cache.dir}) of this test JVM at fresh private
 * directories under {@code target/tmp}, and puts the property back as it found it: one per test
 * class, made in {@code @BeforeAll}, {@link #restore()}d in {@code @AfterAll}.
 */
final class TestCacheRoot {
  static final String PROPERTY = "sidecar.cache.dir";

  private final String saved = System.getProperty(PROPERTY);

  /** A new 0700 cache root named after {@code name}, which the connector uses from now on. */
  Path fresh(String name) throws IOException {
    Path root = Files.createDirectories(Path.of("target", "tmp", name + "-" + System.nanoTime())
        .toAbsolutePath());
    Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwx------"));
    use(root);
    return root;
  }

  /** The connector's cache is {@code root} from now on (made by the connector if missing). */
  void use(Path root) {
    System.setProperty(PROPERTY, root.toString());
  }

  /** Puts the property back as it was when this was made. */
  void restore() {
    if (saved == null) {
      System.clearProperty(PROPERTY);
    } else {
      System.setProperty(PROPERTY, saved);
    }
  }
}
