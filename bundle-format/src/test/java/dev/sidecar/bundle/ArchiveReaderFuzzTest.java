package dev.sidecar.bundle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.sidecar.bundle.files.FileTrees;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;

/**
 * Any bytes given to the archive reader ({@link BundleArchive#inspect} and
 * {@link BundleArchive#unpack}) are either read or refused with a {@link BundleException} that
 * has a message: no other exception, nothing written outside the target, nothing left behind
 * on failure, and allocation bounded by small {@link BundleArchive.Limits}. Input that is not
 * gzip is gzip-compressed first, so the fuzzer reaches the tar and manifest layers too. Seeds
 * and kept regression inputs: {@code src/test/resources/dev/sidecar/bundle/
 * ArchiveReaderFuzzTestInputs/readOrRefuse/}.
 */
class ArchiveReaderFuzzTest {
  private static final BundleArchive.Limits LIMITS = new BundleArchive.Limits(1 << 20, 64);

  @FuzzTest(maxDuration = "50s")
  void readOrRefuse(byte[] data) throws IOException {
    Path dir = Files.createTempDirectory("archive-fuzz");
    try {
      Path archive = Files.write(dir.resolve("in.bundle"), gzipUnlessGzip(data));
      Path box = Files.createDirectory(dir.resolve("box"));
      Path target = box.resolve("out");
      Bundle unpacked = null;
      try {
        BundleArchive.inspect(archive, LIMITS);
      } catch (BundleException e) {
        assertNotNull(e.getMessage());
      }
      try {
        unpacked = BundleArchive.unpack(archive, target, LIMITS);
      } catch (BundleException e) {
        assertNotNull(e.getMessage());
      }
      assertEquals(List.of("in.bundle", "box"), names(dir), "nothing written beside the target");
      assertEquals(unpacked == null ? List.of() : List.of("out"), names(box),
          "only the target, and only when the archive was accepted");
      if (unpacked != null) {
        Bundle.open(target, unpacked.digest());
        try (Stream<Path> s = Files.walk(target)) {
          assertTrue(s.allMatch(p -> p.normalize().startsWith(target)
              && !Files.isSymbolicLink(p)));
        }
      }
    } finally {
      FileTrees.deleteRecursively(dir);
    }
  }

  private static List<String> names(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted((a, b) -> a.equals("in.bundle") ? -1
          : b.equals("in.bundle") ? 1 : a.compareTo(b)).toList();
    }
  }

  private static byte[] gzipUnlessGzip(byte[] data) throws IOException {
    if (data.length >= 2 && (data[0] & 0xff) == 0x1f && (data[1] & 0xff) == 0x8b) {
      return data;
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (GzipCompressorOutputStream gz = new GzipCompressorOutputStream(out)) {
      gz.write(data);
    }
    return out.toByteArray();
  }
}
