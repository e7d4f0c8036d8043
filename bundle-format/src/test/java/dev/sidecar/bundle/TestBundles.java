package dev.sidecar.bundle;

import dev.sidecar.bundle.files.Digests;
import dev.sidecar.bundle.internal.ManifestJson;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;

/** Fixtures: the iris model in a fresh directory with a bundle.yaml, and hand-made archives. */
final class TestBundles {
  static final Path IRIS_DIR = Path.of("..", "examples", "iris");
  static final Instant T0 = Instant.parse("2026-11-23T10:00:00Z");

  private TestBundles() {
  }

  static byte[] irisModel() {
    try {
      return Files.readAllBytes(IRIS_DIR.resolve("iris_classifier.onnx"));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A directory holding iris_classifier.onnx and a bundle.yaml with this text. */
  static Path spec(Path dir, String yaml) {
    try {
      Files.createDirectories(dir);
      Files.write(dir.resolve("iris_classifier.onnx"), irisModel());
      Path p = dir.resolve("bundle.yaml");
      Files.writeString(p, yaml);
      return p;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A one-API iris spec whose api block (indented by 4) is given. */
  static String irisYaml(String name, String apiBlock) {
    return "name: " + name + "\n"
        + "models:\n"
        + "  - {name: classifier, path: iris_classifier.onnx}\n"
        + "apis:\n"
        + "  - name: classify\n"
        + apiBlock;
  }

  static final String PACKED_API =
        "    input:\n"
      + "      kind: dataframe\n"
      + "      pack_into: input\n"
      + "      columns: [a, b, c, d]\n"
      + "    outputs:\n"
      + "      - {name: label, labels: [setosa, versicolor, virginica]}\n"
      + "      - probabilities\n";

  /** Builds a small iris bundle (one API) with this name/version/time into {@code out}. */
  static BundleInfo buildIris(Path work, String name, String version, Instant createdAt,
      Path out) {
    Path yaml = spec(work.resolve("src-" + name + "-" + version + "-" + createdAt.getEpochSecond()),
        irisYaml(name, PACKED_API));
    return BundleBuilder.fromSpec(yaml).version(version).createdAt(createdAt).build(out);
  }

  /**
   * The iris bundle (iris 1, built at {@link #T0}) at {@code archive}, built in {@code tmp}'s
   * {@code work} directory the first time it is asked for.
   */
  static Path irisArchive(Path tmp, Path archive) {
    if (!Files.exists(archive)) {
      buildIris(tmp.resolve("work"), "iris", "1", T0, archive);
    }
    return archive;
  }

  /** Files under {@code dir} whose name contains "tmp", "unpack" or "trash" (leftovers). */
  static List<Path> leftovers(Path dir) {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(p -> {
        String n = p.getFileName().toString();
        return n.contains(".tmp-") || n.contains(".unpack-") || n.contains(".trash-");
      }).toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  // ---- hand-made archives ------------------------------------------------------------------

  /** One tar entry to write, possibly hostile. */
  record Entry(String name, byte[] data, byte type, String link) {
    static Entry file(String name, byte[] data) {
      return new Entry(name, data, TarConstants.LF_NORMAL, null);
    }

    static Entry symlink(String name, String target) {
      return new Entry(name, new byte[0], TarConstants.LF_SYMLINK, target);
    }

    static Entry hardlink(String name, String target) {
      return new Entry(name, new byte[0], TarConstants.LF_LINK, target);
    }

    static Entry fifo(String name) {
      return new Entry(name, new byte[0], TarConstants.LF_FIFO, null);
    }
  }

  static FileEntry fileEntry(String path, byte[] data) {
    return new FileEntry(path, data.length, Digests.sha256Hex(data));
  }

  /** A valid manifest for the iris model (and optional extra files), as canonical JSON. */
  static byte[] manifest(int formatVersion, List<FileEntry> extra) {
    FileEntry model = fileEntry("model.onnx", irisModel());
    List<FileEntry> files = new ArrayList<>(extra);
    files.add(model);
    ApiSpec api = new ApiSpec("classify", "m",
        new InputDescriptor(InputDescriptor.Kind.TENSOR,
            List.of(new ColumnSpec("features", DType.FLOAT32, List.of(-1L, 4L), "input")), null),
        List.of(new OutputSpec("label", "label", DType.INT64, List.of(-1L), List.of())),
        BatchingSpec.defaults());
    Manifest m = new Manifest(Manifest.FORMAT_VERSION, "hostile", "1", T0, "", Map.of(),
        List.of(new ModelEntry("m", "model.onnx", "onnx", model.sha256())), List.of(api),
        files.stream().sorted(java.util.Comparator.comparing(FileEntry::path)).toList());
    String json = new String(ManifestJson.write(m), StandardCharsets.UTF_8);
    if (formatVersion != Manifest.FORMAT_VERSION) {
      json = json.replace("\"format_version\" : 1", "\"format_version\" : " + formatVersion);
    }
    return json.getBytes(StandardCharsets.UTF_8);
  }

  static Entry manifestEntry(List<FileEntry> extra) {
    return Entry.file("manifest.json", manifest(Manifest.FORMAT_VERSION, extra));
  }

  static Entry modelEntry() {
    return Entry.file("model.onnx", irisModel());
  }

  /** Writes a gzip'd tar of exactly these entries, without any checks. */
  static Path write(Path out, List<Entry> entries) {
    try (OutputStream os = Files.newOutputStream(out);
        TarArchiveOutputStream tar = new TarArchiveOutputStream(
            new GzipCompressorOutputStream(os))) {
      tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
      for (Entry e : entries) {
        TarArchiveEntry te = new TarArchiveEntry(e.name(), e.type(), true);
        if (e.link() != null) {
          te.setLinkName(e.link());
        }
        te.setSize(e.type() == TarConstants.LF_NORMAL ? e.data().length : 0);
        tar.putArchiveEntry(te);
        tar.write(e.data());
        tar.closeArchiveEntry();
      }
    } catch (IOException ex) {
      throw new UncheckedIOException(ex);
    }
    return out;
  }
}
