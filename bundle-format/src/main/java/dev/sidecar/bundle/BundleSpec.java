package dev.sidecar.bundle;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A parsed {@code bundle.yaml}: what the user declared, before it is resolved against the
 * models. Omitted dtypes, shapes and model inputs are {@code null} here and filled from the
 * ONNX model by {@link BundleBuilder}. The format is described in the module README.
 *
 * <p>Parsing is strict: unknown keys, bad names and bad dtypes are refused with a
 * {@link BundleException} naming the file, line and field path, e.g.
 * {@code bundle.yaml:14:28: apis[0].input.columns[2].dtype: unknown dtype 'flaot32', expected
 * one of [...]}.
 */
public final class BundleSpec {
  private final Path source;
  private final String name;
  private final String version;
  private final String description;
  private final Map<String, String> labels;
  private final List<ModelDecl> models;
  private final List<ApiDecl> apis;
  private final List<String> files;
  private final Map<String, String> locations;

  /** A model file: its name in the bundle and its path relative to bundle.yaml. */
  public record ModelDecl(String name, String path) {
  }

  /** An input column as declared; dtype, shape and modelInput may be null (taken from the model). */
  public record ColumnDecl(String name, DType dtype, List<Long> shape, String modelInput) {
  }

  /** An API's input as declared; {@code packInto} is null unless a dataframe is packed. */
  public record InputDecl(InputDescriptor.Kind kind, List<ColumnDecl> columns, String packInto) {
    public InputDecl {
      columns = List.copyOf(columns);
    }
  }

  /**
   * An output as declared; dtype and shape may be null (taken from the model). {@code as} is
   * {@code "array"} or {@code "map"} for a model output that is a sequence of maps (a ZipMap),
   * null when not declared (an array).
   */
  public record OutputDecl(String name, String from, DType dtype, List<Long> shape,
      List<String> labels, String as) {
    public OutputDecl {
      labels = labels == null ? List.of() : List.copyOf(labels);
    }

    /** An output declared without {@code as}. */
    public OutputDecl(String name, String from, DType dtype, List<Long> shape,
        List<String> labels) {
      this(name, from, dtype, shape, labels, null);
    }
  }

  /**
   * An API as declared; {@code model} is null when the bundle has one model, {@code outputs} is
   * null when every model output is to be exposed.
   */
  public record ApiDecl(String name, String model, InputDecl input, List<OutputDecl> outputs,
      BatchingSpec batching) {
  }

  BundleSpec(Path source, String name, String version, String description,
      Map<String, String> labels, List<ModelDecl> models, List<ApiDecl> apis, List<String> files,
      Map<String, String> locations) {
    this.source = source;
    this.name = name;
    this.version = version;
    this.description = description;
    this.labels = Map.copyOf(labels);
    this.models = List.copyOf(models);
    this.apis = List.copyOf(apis);
    this.files = List.copyOf(files);
    this.locations = Map.copyOf(locations);
  }

  /** Reads and checks a bundle.yaml; throws {@link BundleException} naming the field. */
  public static BundleSpec parse(Path yaml) {
    return SpecParser.parse(yaml);
  }

  /** The bundle.yaml file this was read from. */
  public Path source() {
    return source;
  }

  /** The directory that model and file paths are relative to. */
  public Path baseDir() {
    Path parent = source.toAbsolutePath().normalize().getParent();
    return parent == null ? Path.of(".").toAbsolutePath() : parent;
  }

  public String name() {
    return name;
  }

  /** The declared version, or null when it is to be derived at build time. */
  public String version() {
    return version;
  }

  public String description() {
    return description;
  }

  public Map<String, String> labels() {
    return labels;
  }

  public List<ModelDecl> models() {
    return models;
  }

  public List<ApiDecl> apis() {
    return apis;
  }

  /** Extra files to ship, relative to bundle.yaml. */
  public List<String> files() {
    return files;
  }

  /** {@code file:line:col} of a field path such as {@code apis[0].input}, or the file alone. */
  String where(String fieldPath) {
    String p = fieldPath;
    while (true) {
      String loc = locations.get(p);
      if (loc != null) {
        return loc;
      }
      int cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
      if (cut <= 0) {
        return source.toString();
      }
      p = p.substring(0, cut);
    }
  }
}
