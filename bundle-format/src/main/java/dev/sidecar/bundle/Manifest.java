package dev.sidecar.bundle;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.stream.Collectors;

/**
 * What a bundle holds: format version, name, version, creation time, description, labels, its
 * models, its APIs and every file with its SHA-256. Written as {@code manifest.json} at the root
 * of the archive; the bundle digest is the SHA-256 of those bytes.
 */
public record Manifest(int formatVersion, String name, String version, Instant createdAt,
    String description, Map<String, String> labels, List<ModelEntry> models, List<ApiSpec> apis,
    List<FileEntry> files) {
  public static final int FORMAT_VERSION = 1;

  public Manifest {
    labels = Map.copyOf(labels);
    models = List.copyOf(models);
    apis = List.copyOf(apis);
    files = List.copyOf(files);
  }

  /**
   * The canonical {@code manifest.json} text: sorted keys, two-space indentation, {@code \n}
   * line ends. The bundle digest is the SHA-256 of its UTF-8 bytes.
   */
  public String toJson() {
    return new String(dev.sidecar.bundle.internal.ManifestJson.write(this),
        java.nio.charset.StandardCharsets.UTF_8);
  }

  /** Parses and checks manifest.json bytes (refuses unknown format versions and keys). */
  public static Manifest fromJson(byte[] json) {
    return dev.sidecar.bundle.internal.ManifestJson.read(json, "manifest.json");
  }

  /** {@code name:version}. */
  public String tag() {
    return name + ":" + version;
  }

  /** The API with this name; the message names the APIs that exist. */
  public ApiSpec api(String apiName) {
    return apis.stream().filter(a -> a.name().equals(apiName)).findFirst()
        .orElseThrow(() -> new NoSuchElementException("bundle " + tag() + " has no API '" + apiName
            + "', expected one of " + apis.stream().map(ApiSpec::name)
            .collect(Collectors.joining(", ", "[", "]"))));
  }

  /** The model with this name; the message names the models that exist. */
  public ModelEntry model(String modelName) {
    return models.stream().filter(m -> m.name().equals(modelName)).findFirst()
        .orElseThrow(() -> new NoSuchElementException("bundle " + tag() + " has no model '"
            + modelName + "', expected one of " + models.stream().map(ModelEntry::name)
            .collect(Collectors.joining(", ", "[", "]"))));
  }
}
