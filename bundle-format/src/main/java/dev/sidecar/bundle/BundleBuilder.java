package dev.sidecar.bundle;

import dev.sidecar.bundle.BundleSpec.ApiDecl;
import dev.sidecar.bundle.BundleSpec.ModelDecl;
import dev.sidecar.bundle.files.Digests;
import dev.sidecar.bundle.files.FileTrees;
import dev.sidecar.bundle.internal.ArchiveWriter;
import dev.sidecar.bundle.internal.ManifestJson;
import dev.sidecar.bundle.internal.Names;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Builds a bundle from a {@code bundle.yaml}: resolves every API against its ONNX model (fills
 * omitted dtypes, shapes and model inputs; checks names, dtypes and ranks through ONNX
 * Runtime), runs a smoke inference on generated rows, and only then writes the archive
 * atomically. A bundle that fails any check is not written.
 *
 * <pre>{@code
 * BundleInfo info = BundleBuilder.fromSpec(Path.of("bundle.yaml")).version("1.0.0").build(out);
 * }</pre>
 *
 * <p>The creation time defaults to {@code $SOURCE_DATE_EPOCH} when set, else now (whole
 * seconds). The version defaults to the spec's, else a derived, time-ordered one:
 * {@code yyyyMMdd.HHmmss.<6 hex of the content hash>}. Same inputs, version and creation time
 * give the same bytes and digest.
 */
public final class BundleBuilder {
  private static final Logger LOG = LoggerFactory.getLogger(BundleBuilder.class);
  private static final DateTimeFormatter VERSION_TIME =
      DateTimeFormatter.ofPattern("yyyyMMdd.HHmmss").withZone(ZoneOffset.UTC);

  private final BundleSpec spec;
  private String version;
  private Instant createdAt;

  private BundleBuilder(BundleSpec spec) {
    this.spec = Objects.requireNonNull(spec, "spec");
  }

  /** Parses the bundle.yaml (see {@link BundleSpec#parse(Path)}). */
  public static BundleBuilder fromSpec(Path bundleYaml) {
    return new BundleBuilder(BundleSpec.parse(bundleYaml));
  }

  /** Builds from an already parsed spec. */
  public static BundleBuilder fromSpec(BundleSpec spec) {
    return new BundleBuilder(spec);
  }

  /** Overrides the spec's version. */
  public BundleBuilder version(String version) {
    if (!Names.isVersion(version) || version.equals("latest")) {
      throw new BundleException("invalid version '" + version + "': use letters, digits, '.',"
          + " '_', '+' and '-', starting with a letter or digit ('latest' is reserved)");
    }
    this.version = version;
    return this;
  }

  /** Sets the creation time recorded in the manifest and as every entry's mtime. */
  public BundleBuilder createdAt(Instant createdAt) {
    this.createdAt = Objects.requireNonNull(createdAt, "createdAt").truncatedTo(ChronoUnit.SECONDS);
    return this;
  }

  /** Builds, checks and writes the archive to {@code archiveOut} (atomically). */
  public BundleInfo build(Path archiveOut) {
    Prepared p = prepare();
    ArchiveWriter.write(archiveOut, p.manifest, p.manifestBytes, p.sources);
    LOG.info("built {} ({}) into {}", p.manifest.tag(), p.digest, archiveOut);
    return new BundleInfo(p.manifest, p.digest);
  }

  /**
   * Builds, checks and imports the bundle into {@code store}. When the store already holds
   * this {@code name:version} with the same content (every file and the manifest except the
   * creation time), nothing changes and the stored bundle is returned; different content under
   * the same version is refused.
   */
  public BundleInfo buildInto(BundleStore store) {
    Prepared p = prepare();
    Path tmp = store.newTempDir("build");
    try {
      Path archive = tmp.resolve(p.manifest.name() + "-" + p.manifest.version() + ".bundle");
      ArchiveWriter.write(archive, p.manifest, p.manifestBytes, p.sources);
      return store.add(archive, true);
    } finally {
      FileTrees.deleteQuietly(tmp);
    }
  }

  private record Prepared(Manifest manifest, byte[] manifestBytes, String digest,
      Map<String, Path> sources) {
  }

  private Prepared prepare() {
    Path base = spec.baseDir();
    Map<String, Path> sources = new LinkedHashMap<>();
    Map<String, FileEntry> entries = new HashMap<>();
    List<ModelEntry> models = new ArrayList<>();
    for (int i = 0; i < spec.models().size(); i++) {
      ModelDecl m = spec.models().get(i);
      String field = "models[" + i + "].path";
      FileEntry fe = addFile(base, m.path(), field, sources, entries);
      models.add(new ModelEntry(m.name(), fe.path(), ModelEntry.FORMAT_ONNX, fe.sha256()));
    }
    for (int i = 0; i < spec.files().size(); i++) {
      addFile(base, spec.files().get(i), "files[" + i + "]", sources, entries);
    }

    List<ApiSpec> apis = new ArrayList<>();
    Map<String, ModelCheck> checks = new LinkedHashMap<>();
    try {
      for (int i = 0; i < spec.apis().size(); i++) {
        ApiDecl decl = spec.apis().get(i);
        String modelName = decl.model() != null ? decl.model() : spec.models().get(0).name();
        ModelEntry me = models.stream().filter(m -> m.name().equals(modelName)).findFirst()
            .orElseThrow();
        ModelCheck check = checks.get(modelName);
        if (check == null) {
          check = new ModelCheck(modelName, sources.get(me.path()).toString());
          checks.put(modelName, check);
        }
        ApiSpec api;
        try {
          api = check.resolve(decl);
          check.smoke(api);
        } catch (BundleException e) {
          throw new BundleException(spec.where("apis[" + i + "]") + ": " + e.getMessage(), e);
        }
        apis.add(api);
      }
    } finally {
      for (ModelCheck c : checks.values()) {
        c.close();
      }
    }

    List<FileEntry> files = new ArrayList<>(entries.values());
    files.sort(Comparator.comparing(FileEntry::path));
    Instant created = createdAt != null ? createdAt : defaultCreatedAt();
    String v = version != null ? version : spec.version() != null ? spec.version()
        : deriveVersion(created, files);
    if (v.equals("latest")) {
      throw new BundleException(spec.where("version") + ": version: 'latest' is reserved");
    }
    Manifest manifest = new Manifest(Manifest.FORMAT_VERSION, spec.name(), v, created,
        spec.description(), spec.labels(), models, apis, files);
    byte[] bytes = ManifestJson.write(manifest);
    return new Prepared(manifest, bytes, Digests.bundleDigest(bytes), sources);
  }

  private FileEntry addFile(Path base, String declared, String field, Map<String, Path> sources,
      Map<String, FileEntry> entries) {
    String where = spec.where(field);
    Path rel;
    try {
      rel = Path.of(declared);
    } catch (java.nio.file.InvalidPathException e) {
      throw new BundleException(where + ": " + field + ": invalid path '" + declared + "'");
    }
    if (rel.isAbsolute()) {
      throw new BundleException(where + ": " + field + ": '" + declared
          + "' is absolute; paths are relative to " + spec.source().getFileName());
    }
    String inBundle = rel.normalize().toString().replace('\\', '/');
    String why = Names.unsafePathReason(inBundle);
    if (why != null) {
      throw new BundleException(where + ": " + field + ": '" + declared + "' cannot be stored"
          + " in the bundle (" + why + "); keep files beside or below "
          + spec.source().getFileName());
    }
    if (inBundle.equals(Names.MANIFEST)) {
      throw new BundleException(where + ": " + field + ": 'manifest.json' is reserved");
    }
    Path file = base.resolve(inBundle);
    if (!Files.isRegularFile(file)) {
      throw new BundleException(where + ": " + field + ": " + file
          + (Files.exists(file) ? " is not a regular file" : " does not exist"));
    }
    if (sources.containsKey(inBundle)) {
      throw new BundleException(where + ": " + field + ": '" + inBundle + "' is listed twice");
    }
    Digests.FileHash h;
    try {
      h = Digests.hashFile(file);
    } catch (UncheckedIOException e) {
      throw new BundleException(where + ": " + field + ": " + e.getMessage(), e);
    }
    FileEntry fe = new FileEntry(inBundle, h.size(), h.sha256());
    sources.put(inBundle, file);
    entries.put(inBundle, fe);
    return fe;
  }

  private String deriveVersion(Instant created, List<FileEntry> files) {
    MessageDigest md = Digests.sha256();
    try {
      md.update(Files.readAllBytes(spec.source()));
    } catch (IOException e) {
      throw new BundleException(spec.source() + ": cannot read: " + e.getMessage(), e);
    }
    for (FileEntry f : files) {
      md.update((f.path() + "\0" + f.sha256() + "\n").getBytes(StandardCharsets.UTF_8));
    }
    md.update(created.toString().getBytes(StandardCharsets.UTF_8));
    return VERSION_TIME.format(created) + "." + Digests.hex(md.digest()).substring(0, 6);
  }

  /** {@code $SOURCE_DATE_EPOCH} when set (reproducible builds), else now in whole seconds. */
  static Instant defaultCreatedAt() {
    String sde = System.getenv("SOURCE_DATE_EPOCH");
    if (sde != null && !sde.isBlank()) {
      try {
        return Instant.ofEpochSecond(Long.parseLong(sde.trim()));
      } catch (NumberFormatException e) {
        throw new BundleException("SOURCE_DATE_EPOCH='" + sde
            + "' is not a number of seconds since 1970");
      }
    }
    return Instant.now().truncatedTo(ChronoUnit.SECONDS);
  }
}
