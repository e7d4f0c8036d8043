package dev.sidecar.bundle;

import dev.sidecar.bundle.internal.ArchiveReader;
import dev.sidecar.bundle.internal.Digests;
import dev.sidecar.bundle.internal.FileTrees;
import dev.sidecar.bundle.internal.Locks;
import dev.sidecar.bundle.internal.ManifestJson;
import dev.sidecar.bundle.internal.Names;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.UUID;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The local bundle store under {@code $SIDECAR_HOME} (default {@code ~/.sidecar}).
 *
 * <pre>
 * home/bundles/NAME/VERSION/NAME-VERSION.bundle   the archive, as imported
 * home/bundles/NAME/VERSION/manifest.json         its manifest (for fast listing)
 * home/bundles/NAME/.aliases/ALIAS                a version name (production, staging, ...)
 * home/cache/DIGEST-HEX/                          verified unpacked copies (see load)
 * home/tmp/, home/locks/                          staging and lock files
 * </pre>
 *
 * <p>Tags: {@code name:version}, {@code name:latest} (newest by creation time, ties broken by
 * version), {@code name} (= {@code name:latest}), {@code name:alias}. Every write is staged in
 * {@code home/tmp} and renamed into place, so a crash never leaves a half bundle visible; imports
 * of the same bundle by several threads or processes at once are serialized by a file lock, and
 * importing an identical bundle again is a no-op.
 */
public final class BundleStore {
  private static final Logger LOG = LoggerFactory.getLogger(BundleStore.class);
  private static final String ALIASES = ".aliases";
  private static final String LATEST = "latest";

  private final Path home;

  private BundleStore(Path home) {
    this.home = home.toAbsolutePath().normalize();
  }

  /** A store rooted at {@code home}; directories are created when first written. */
  public static BundleStore open(Path home) {
    return new BundleStore(Objects.requireNonNull(home, "home"));
  }

  /**
   * The store at the system property {@code sidecar.home}, else {@code $SIDECAR_HOME}, else
   * {@code ~/.sidecar}.
   */
  public static BundleStore defaultStore() {
    return open(defaultHome());
  }

  /** Where {@link #defaultStore()} lives. */
  public static Path defaultHome() {
    String prop = System.getProperty("sidecar.home");
    if (prop != null && !prop.isBlank()) {
      return Path.of(prop);
    }
    String env = System.getenv("SIDECAR_HOME");
    if (env != null && !env.isBlank()) {
      return Path.of(env);
    }
    return Path.of(System.getProperty("user.home"), ".sidecar");
  }

  /**
   * The archive for a tag or a path: a value ending in {@code .bundle} or containing a path
   * separator is a file path (which must exist); anything else is a tag resolved in the
   * {@linkplain #defaultStore() default store}.
   */
  public static Path locate(String tagOrPath) {
    return defaultStore().locateArchive(tagOrPath);
  }

  /** As {@link #locate(String)}, resolving tags in this store. */
  public Path locateArchive(String tagOrPath) {
    if (looksLikePath(tagOrPath)) {
      Path p = Path.of(tagOrPath);
      if (!Files.isRegularFile(p)) {
        throw new BundleException(tagOrPath + ": no such bundle file");
      }
      return p;
    }
    return archivePath(tagOrPath);
  }

  /** True when {@link #locateArchive(String)} treats the value as a path. */
  public static boolean looksLikePath(String tagOrPath) {
    return tagOrPath.endsWith(".bundle") || tagOrPath.contains("/")
        || tagOrPath.contains(java.io.File.separator);
  }

  public Path home() {
    return home;
  }

  /**
   * Imports an archive: verifies it completely (a copy inside the store, so what is verified is
   * what is kept), then renames it into place. Importing an identical bundle again is a no-op;
   * a different bundle with the same {@code name:version} is refused.
   */
  public BundleInfo add(Path archive) {
    Path stage = newTempDir("import");
    try {
      Path copy = stage.resolve("incoming.bundle");
      try {
        Files.copy(archive, copy);
      } catch (NoSuchFileException e) {
        throw new BundleException(archive + ": no such file");
      } catch (IOException e) {
        throw new BundleException("cannot copy " + archive + " into the store: " + e.getMessage(),
            e);
      }
      BundleInfo info = BundleArchive.inspect(copy);
      Manifest m = info.manifest();
      if (m.version().equals(LATEST) || m.version().startsWith(".")) {
        throw new BundleException(archive + ": version '" + m.version()
            + "' cannot be stored ('latest' is reserved)");
      }
      byte[] manifestBytes = ArchiveReader.peek(copy).manifestBytes();
      Files.move(copy, stage.resolve(archiveName(m)));
      Files.write(stage.resolve(Names.MANIFEST), manifestBytes);
      return Locks.withLock(lockFile(m.name()), () -> {
        Path dir = versionDir(m.name(), m.version());
        if (Files.isDirectory(dir)) {
          BundleInfo existing = readInfo(dir);
          if (existing.digest().equals(info.digest())) {
            LOG.info("{} ({}) is already in the store", m.tag(), info.digest());
            return existing;
          }
          throw new BundleException("the store already holds " + m.tag() + " with digest "
              + existing.digest() + ", and " + archive + " has " + info.digest()
              + "; delete the stored one first or build with another version");
        }
        try {
          Files.createDirectories(dir.getParent());
          FileTrees.moveAtomic(stage, dir, false);
        } catch (IOException e) {
          throw new BundleException("cannot store " + m.tag() + " in " + home + ": "
              + e.getMessage(), e);
        }
        LOG.info("stored {} ({})", m.tag(), info.digest());
        return info;
      });
    } catch (IOException e) {
      throw new BundleException("cannot import " + archive + ": " + e.getMessage(), e);
    } finally {
      FileTrees.deleteQuietly(stage);
    }
  }

  /** The stored archive of a tag. */
  public Path archivePath(String tag) {
    BundleInfo info = resolve(tag);
    return versionDir(info.manifest().name(), info.manifest().version())
        .resolve(archiveName(info.manifest()));
  }

  /** The verified, unpacked bundle of a tag, cached under {@code home/cache/<digest hex>/}. */
  public Bundle load(String tag) {
    return BundleArchive.unpackCached(archivePath(tag), home.resolve("cache")).bundle();
  }

  /** The manifest and digest a tag points at; the message lists what exists when nothing does. */
  public BundleInfo resolve(String tag) {
    String[] parts = parseTag(tag);
    String name = parts[0];
    String ref = parts[1];
    Path nameDir = home.resolve("bundles").resolve(name);
    List<BundleInfo> versions = versions(name);
    if (versions.isEmpty()) {
      throw new BundleException("no bundle named '" + name + "' in the store at " + home
          + "; bundles: " + names());
    }
    if (ref.equals(LATEST)) {
      return versions.get(versions.size() - 1);
    }
    for (BundleInfo b : versions) {
      if (b.manifest().version().equals(ref)) {
        return b;
      }
    }
    Path alias = nameDir.resolve(ALIASES).resolve(ref);
    if (Files.isRegularFile(alias)) {
      String v = readAlias(alias);
      for (BundleInfo b : versions) {
        if (b.manifest().version().equals(v)) {
          return b;
        }
      }
      throw new BundleException("alias " + name + ":" + ref + " points at version " + v
          + ", which is no longer in the store");
    }
    throw new BundleException("no version or alias '" + ref + "' of bundle '" + name
        + "' in the store at " + home + "; versions: " + versions.stream()
        .map(b -> b.manifest().version()).collect(Collectors.toList()) + ", aliases: "
        + aliases(name).keySet());
  }

  /** Every stored bundle, by name, then creation time, then version. */
  public List<BundleInfo> list() {
    List<BundleInfo> out = new ArrayList<>();
    for (String n : names()) {
      out.addAll(versions(n));
    }
    return out;
  }

  /** The aliases of a bundle name: alias to version, sorted by alias. */
  public Map<String, String> aliases(String name) {
    Map<String, String> out = new TreeMap<>();
    Path dir = home.resolve("bundles").resolve(name).resolve(ALIASES);
    if (!Files.isDirectory(dir)) {
      return out;
    }
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
      for (Path p : ds) {
        String a = p.getFileName().toString();
        if (!a.startsWith(".") && Files.isRegularFile(p)) {
          out.put(a, readAlias(p));
        }
      }
    } catch (IOException e) {
      throw new BundleException("cannot read aliases in " + dir + ": " + e.getMessage(), e);
    }
    return out;
  }

  /** Copies a stored archive to {@code out} (atomically; an existing file is replaced). */
  public void export(String tag, Path out) {
    Path src = archivePath(tag);
    Path target = out.toAbsolutePath().normalize();
    Path tmp = FileTrees.tempSibling(target, "tmp");
    try {
      Files.createDirectories(target.getParent());
      Files.copy(src, tmp, StandardCopyOption.COPY_ATTRIBUTES);
      FileTrees.moveAtomic(tmp, target, true);
    } catch (IOException e) {
      throw new BundleException("cannot export " + tag + " to " + out + ": " + e.getMessage(), e);
    } finally {
      FileTrees.deleteQuietly(tmp);
    }
  }

  /**
   * Deletes the version a tag resolves to, the aliases pointing at it, and its cached unpacked
   * copy unless another stored version has the same digest.
   */
  public void delete(String tag) {
    BundleInfo info = resolve(tag);
    Manifest m = info.manifest();
    Locks.withLock(lockFile(m.name()), () -> {
      Path dir = versionDir(m.name(), m.version());
      if (!Files.isDirectory(dir)) {
        throw new BundleException(m.tag() + " is no longer in the store");
      }
      Path trash = newTempDir("delete").resolve("v");
      try {
        FileTrees.moveAtomic(dir, trash, false);
        for (Map.Entry<String, String> a : aliases(m.name()).entrySet()) {
          if (a.getValue().equals(m.version())) {
            Files.deleteIfExists(home.resolve("bundles").resolve(m.name()).resolve(ALIASES)
                .resolve(a.getKey()));
          }
        }
      } catch (IOException e) {
        throw new BundleException("cannot delete " + m.tag() + ": " + e.getMessage(), e);
      } finally {
        FileTrees.deleteQuietly(trash.getParent());
      }
      if (versions(m.name()).isEmpty()) {
        FileTrees.deleteQuietly(home.resolve("bundles").resolve(m.name()));
      }
      return null;
    });
    boolean shared = list().stream().anyMatch(b -> b.digest().equals(info.digest()));
    Path cached = home.resolve("cache").resolve(info.digestHex());
    if (!shared && Files.isDirectory(cached)) {
      Path trash = FileTrees.tempSibling(cached, "trash");
      try {
        FileTrees.moveAtomic(cached, trash, false);
      } catch (IOException e) {
        LOG.warn("cannot remove cached copy {}: {}", cached, e.getMessage());
      }
      FileTrees.deleteQuietly(trash);
    }
    LOG.info("deleted {} ({})", m.tag(), info.digest());
  }

  /**
   * Points {@code name:alias} at {@code name:version} (replacing the alias's previous target).
   * Alias names follow the version rules; {@code latest} and existing version names are refused.
   */
  public void alias(String name, String alias, String version) {
    if (!Names.isBundleName(name)) {
      throw new BundleException("invalid bundle name '" + name + "'");
    }
    if (!Names.isVersion(alias) || alias.equals(LATEST)) {
      throw new BundleException("invalid alias '" + alias + "': use letters, digits, '.', '_',"
          + " '+' and '-', starting with a letter or digit ('latest' is reserved)");
    }
    Locks.withLock(lockFile(name), () -> {
      List<BundleInfo> versions = versions(name);
      if (versions.stream().noneMatch(b -> b.manifest().version().equals(version))) {
        throw new BundleException("cannot alias " + name + ":" + alias + ": no version '"
            + version + "' of '" + name + "' in the store; versions: " + versions.stream()
            .map(b -> b.manifest().version()).collect(Collectors.toList()));
      }
      if (versions.stream().anyMatch(b -> b.manifest().version().equals(alias))) {
        throw new BundleException("cannot use '" + alias + "' as an alias of " + name
            + ": it is a version name");
      }
      Path dir = home.resolve("bundles").resolve(name).resolve(ALIASES);
      try {
        Files.createDirectories(dir);
        Path tmp = dir.resolve("." + alias + ".tmp-" + UUID.randomUUID());
        Files.write(tmp, (version + "\n").getBytes(StandardCharsets.UTF_8));
        FileTrees.moveAtomic(tmp, dir.resolve(alias), true);
      } catch (IOException e) {
        throw new BundleException("cannot write alias " + name + ":" + alias + ": "
            + e.getMessage(), e);
      }
      LOG.info("{}:{} -> {}", name, alias, version);
      return null;
    });
  }

  // ---- internals ------------------------------------------------------------------------

  /** A fresh directory under {@code home/tmp} (same file system, so renames are atomic). */
  Path newTempDir(String purpose) {
    Path dir = home.resolve("tmp").resolve(purpose + "-" + UUID.randomUUID());
    try {
      Files.createDirectories(dir);
    } catch (IOException e) {
      throw new BundleException("cannot create " + dir + ": " + e.getMessage(), e);
    }
    return dir;
  }

  private static String archiveName(Manifest m) {
    return m.name() + "-" + m.version() + ".bundle";
  }

  private Path lockFile(String name) {
    return home.resolve("locks").resolve(name + ".lock");
  }

  private Path versionDir(String name, String version) {
    return home.resolve("bundles").resolve(name).resolve(version);
  }

  private static String[] parseTag(String tag) {
    if (tag == null || tag.isBlank()) {
      throw new BundleException("empty bundle tag; expected name, name:version or name:alias");
    }
    int colon = tag.indexOf(':');
    String name = colon < 0 ? tag : tag.substring(0, colon);
    String ref = colon < 0 ? LATEST : tag.substring(colon + 1);
    if (!Names.isBundleName(name)) {
      throw new BundleException("invalid bundle tag '" + tag + "': '" + name
          + "' is not a bundle name (lower-case letters, digits, '.', '_', '-')");
    }
    if (!Names.isVersion(ref)) {
      throw new BundleException("invalid bundle tag '" + tag + "': '" + ref
          + "' is not a version or alias");
    }
    return new String[] {name, ref};
  }

  private List<String> names() {
    List<String> out = new ArrayList<>();
    Path dir = home.resolve("bundles");
    if (!Files.isDirectory(dir)) {
      return out;
    }
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
      for (Path p : ds) {
        String n = p.getFileName().toString();
        if (Names.isBundleName(n) && Files.isDirectory(p)) {
          out.add(n);
        }
      }
    } catch (IOException e) {
      throw new BundleException("cannot list " + dir + ": " + e.getMessage(), e);
    }
    out.sort(null);
    return out;
  }

  /** The stored versions of a name, oldest first (creation time, then version). */
  private List<BundleInfo> versions(String name) {
    List<BundleInfo> out = new ArrayList<>();
    Path dir = home.resolve("bundles").resolve(name);
    if (!Files.isDirectory(dir)) {
      return out;
    }
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
      for (Path p : ds) {
        String v = p.getFileName().toString();
        if (!v.startsWith(".") && Files.isRegularFile(p.resolve(Names.MANIFEST))) {
          out.add(readInfo(p));
        }
      }
    } catch (IOException e) {
      throw new BundleException("cannot list " + dir + ": " + e.getMessage(), e);
    }
    out.sort(Comparator.comparing((BundleInfo b) -> b.manifest().createdAt())
        .thenComparing(b -> b.manifest().version(), BundleStore::compareVersions));
    return out;
  }

  private static BundleInfo readInfo(Path versionDir) {
    Path mf = versionDir.resolve(Names.MANIFEST);
    try {
      byte[] bytes = Files.readAllBytes(mf);
      return new BundleInfo(ManifestJson.read(bytes, mf.toString()), Digests.bundleDigest(bytes));
    } catch (IOException e) {
      throw new BundleException("cannot read " + mf + ": " + e.getMessage(), e);
    }
  }

  private static String readAlias(Path p) {
    try {
      return Files.readString(p, StandardCharsets.UTF_8).trim();
    } catch (IOException e) {
      throw new BundleException("cannot read alias " + p + ": " + e.getMessage(), e);
    }
  }

  /** Natural order: digit runs compare as numbers ({@code 1.10 > 1.9}). */
  static int compareVersions(String a, String b) {
    int i = 0;
    int j = 0;
    while (i < a.length() && j < b.length()) {
      char ca = a.charAt(i);
      char cb = b.charAt(j);
      if (Character.isDigit(ca) && Character.isDigit(cb)) {
        int si = i;
        int sj = j;
        while (i < a.length() && Character.isDigit(a.charAt(i))) {
          i++;
        }
        while (j < b.length() && Character.isDigit(b.charAt(j))) {
          j++;
        }
        String na = a.substring(si, i).replaceFirst("^0+(?=.)", "");
        String nb = b.substring(sj, j).replaceFirst("^0+(?=.)", "");
        int c = na.length() != nb.length() ? Integer.compare(na.length(), nb.length())
            : na.compareTo(nb);
        if (c != 0) {
          return c;
        }
      } else {
        if (ca != cb) {
          return Character.compare(ca, cb);
        }
        i++;
        j++;
      }
    }
    int c = Integer.compare(a.length() - i, b.length() - j);
    return c != 0 ? c : a.compareTo(b);
  }
}
