package dev.sidecar.bundle;

import dev.sidecar.bundle.files.Digests;
import dev.sidecar.bundle.files.FileTrees;
import dev.sidecar.bundle.files.Locks;
import dev.sidecar.bundle.files.PrivateFiles;
import dev.sidecar.bundle.internal.ArchiveReader;
import dev.sidecar.bundle.internal.ManifestJson;
import dev.sidecar.bundle.internal.Names;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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

  /** Staging directories older than this are removed even when their process may live. */
  static final Duration STALE_STAGING = Duration.ofHours(24);
  /** {@code purpose-pid-uuid}; {@code purpose-uuid} from older versions. */
  private static final Pattern STAGING = Pattern.compile(
      "[a-z]+-(?:(\\d+)-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");

  private final Path home;
  private final BundleArchive.Limits limits;

  private BundleStore(Path home, BundleArchive.Limits limits) {
    this.home = home.toAbsolutePath().normalize();
    this.limits = Objects.requireNonNull(limits, "limits");
  }

  /**
   * A store rooted at {@code home}; directories are created (0700) when first written.
   * Staging left in {@code home/tmp} by imports whose process is gone (or older than a day)
   * is removed.
   */
  public static BundleStore open(Path home) {
    return open(home, BundleArchive.Limits.defaults());
  }

  /** As {@link #open(Path)}, reading archives within {@code limits}. */
  static BundleStore open(Path home, BundleArchive.Limits limits) {
    BundleStore s = new BundleStore(Objects.requireNonNull(home, "home"), limits);
    s.removeStaleStaging();
    return s;
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
   * The archive for a tag or a path, resolving tags in the {@linkplain #defaultStore() default
   * store}; see {@link #locateArchive(String)}.
   */
  public static Path locate(String tagOrPath) {
    return defaultStore().locateArchive(tagOrPath);
  }

  /**
   * The one resolution of a tag or a path to an archive, used by every entry point (the CLI, the
   * Spark connector): a value that {@linkplain #looksLikePath looks like a path} is a file path,
   * which must be an existing regular file; anything else is a tag ({@code name},
   * {@code name:version}, {@code name:alias}) resolved in this store.
   *
   * @throws BundleException naming the path that is not a file, or the tag the store lacks (with
   *     the bundles it has)
   */
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

  /**
   * True when {@link #locateArchive(String)} treats the value as a path: it names an existing
   * regular file, ends in {@code .bundle}, or contains a path separator.
   */
  public static boolean looksLikePath(String tagOrPath) {
    if (tagOrPath.endsWith(".bundle") || tagOrPath.contains("/")
        || tagOrPath.contains(java.io.File.separator)) {
      return true;
    }
    try {
      return Files.isRegularFile(Path.of(tagOrPath));
    } catch (java.nio.file.InvalidPathException e) {
      return false;
    }
  }

  public Path home() {
    return home;
  }

  /**
   * Imports an archive: verifies it completely (a copy inside the store, so what is verified is
   * what is kept), then renames it into place. Importing an identical bundle again is a no-op;
   * a different bundle with the same {@code name:version} is refused. Only regular files are
   * imported, and copying stops at {@link BundleArchive.Limits#maxArchiveBytes()}.
   */
  public BundleInfo add(Path archive) {
    return add(archive, false);
  }

  /**
   * As {@link #add(Path)}; with {@code sameContentIsSame} (a build), a stored bundle whose
   * content equals this one's — every file and the manifest except the creation time — is
   * kept and returned instead of refusing the new creation time.
   */
  BundleInfo add(Path archive, boolean sameContentIsSame) {
    Path stage = newTempDir("import");
    try {
      Path copy = stage.resolve("incoming.bundle");
      copyIn(archive, copy);
      BundleInfo info = BundleArchive.inspect(copy, archive.toString(), limits);
      Manifest m = info.manifest();
      if (m.version().equals(LATEST) || m.version().startsWith(".")) {
        throw new BundleException(archive + ": version '" + m.version()
            + "' cannot be stored ('latest' is reserved)");
      }
      byte[] manifestBytes = ArchiveReader.peek(copy, archive.toString()).manifestBytes();
      Files.move(copy, stage.resolve(archiveName(m)));
      PrivateFiles.write(stage.resolve(Names.MANIFEST), manifestBytes);
      return Locks.withLock(lockFile(m.name()), () -> {
        Path dir = versionDir(m.name(), m.version());
        if (Files.isDirectory(dir)) {
          BundleInfo existing = readInfo(dir);
          if (existing.digest().equals(info.digest())) {
            LOG.info("{} ({}) is already in the store", m.tag(), info.digest());
            return existing;
          }
          if (sameContentIsSame && sameContent(existing.manifest(), m)) {
            LOG.info("{} ({}) is already in the store with the same content, built at {};"
                + " keeping it", m.tag(), existing.digest(), existing.manifest().createdAt());
            return existing;
          }
          throw new BundleException("the store already holds " + m.tag() + " with digest "
              + existing.digest() + ", and " + (sameContentIsSame ? "this build" : archive)
              + " has " + info.digest()
              + (sameContentIsSame ? " (its content differs, not just its creation time)" : "")
              + "; delete the stored one first or build with another version");
        }
        try {
          privateDirectory(dir.getParent());
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

  /** Same files and manifest except the creation time. */
  static boolean sameContent(Manifest a, Manifest b) {
    return Arrays.equals(ManifestJson.write(withoutCreationTime(a)),
        ManifestJson.write(withoutCreationTime(b)));
  }

  private static Manifest withoutCreationTime(Manifest m) {
    return new Manifest(m.formatVersion(), m.name(), m.version(), Instant.EPOCH,
        m.description(), m.labels(), m.models(), m.apis(), m.files());
  }

  /**
   * Copies the user's archive into the staging file (0600): regular files only (not a device,
   * FIFO or directory), and no more than {@link BundleArchive.Limits#maxArchiveBytes()}.
   */
  private void copyIn(Path archive, Path copy) {
    if (!Files.isRegularFile(archive)) {
      throw new BundleException(archive + ": " + (Files.exists(archive)
          ? "not a regular file (a device, FIFO or directory?); import a .bundle file"
          : "no such file"));
    }
    long max = limits.maxArchiveBytes();
    try (InputStream in = Files.newInputStream(archive);
        OutputStream out = PrivateFiles.newFile(copy)) {
      byte[] buf = new byte[1 << 16];
      long n = 0;
      int k;
      while ((k = in.read(buf)) > 0) {
        n += k;
        if (n > max) {
          throw new BundleException(archive + ": larger than " + max + " bytes, the limit for"
              + " bundles expanding to at most " + limits.maxExpandedBytes() + " bytes"
              + " (-Dsidecar.bundle.maxExpandedBytes); not imported");
        }
        out.write(buf, 0, k);
      }
    } catch (NoSuchFileException e) {
      throw new BundleException(archive + ": no such file");
    } catch (IOException e) {
      throw new BundleException("cannot copy " + archive + " into the store: " + e.getMessage(),
          e);
    }
  }

  /** What {@link #verify} found. */
  public enum CachedCopy {
    /** Nothing unpacked in the cache. */
    NONE,
    /** The cached copy was hashed in full and matches. */
    OK,
    /** The cached copy was damaged and has been unpacked again. */
    REPAIRED
  }

  /**
   * The result of {@link #verify}: the verified bundle, the state of its cached unpacked copy,
   * and (when repaired) what was wrong with it.
   */
  public record Verification(BundleInfo info, CachedCopy cachedCopy, String damage) {
  }

  /**
   * Verifies a stored bundle completely: reads its archive (every file's size and SHA-256),
   * checks it against the stored manifest, then hashes its cached unpacked copy in full, if
   * any, and unpacks it again from the archive when it is damaged.
   */
  public Verification verify(String tag) {
    BundleInfo stored = resolve(tag);
    Path archive = archivePath(stored.tag());
    BundleInfo info = BundleArchive.inspect(archive, limits);
    if (!stored.digest().equals(info.digest())) {
      throw new BundleException(archive + ": digest " + info.digest()
          + " differs from the stored manifest's " + stored.digest());
    }
    BundleArchive.CacheOutcome o = BundleArchive.cached(archive, cacheRoot(), limits, false);
    CachedCopy state = o.bundle() == null ? CachedCopy.NONE
        : o.damage() != null ? CachedCopy.REPAIRED : CachedCopy.OK;
    return new Verification(info, state, o.damage());
  }

  /** The stored archive of a tag. */
  public Path archivePath(String tag) {
    BundleInfo info = resolve(tag);
    return versionDir(info.manifest().name(), info.manifest().version())
        .resolve(archiveName(info.manifest()));
  }

  /**
   * The verified, unpacked bundle of a tag or an archive path ({@link #locateArchive(String)}),
   * cached under {@code home/cache/<digest hex>/} (see {@link BundleArchive#unpackCached} for how
   * a cached copy is checked before reuse).
   */
  public Bundle load(String tagOrPath) {
    return BundleArchive.unpackCached(locateArchive(tagOrPath), cacheRoot(), limits).bundle();
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
        privateDirectory(dir);
        Path tmp = dir.resolve("." + alias + ".tmp-" + UUID.randomUUID());
        try (OutputStream out = PrivateFiles.newFile(tmp)) {
          out.write((version + "\n").getBytes(StandardCharsets.UTF_8));
        }
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

  /**
   * A fresh private directory under {@code home/tmp} (same file system, so renames are atomic),
   * named {@code purpose-pid-uuid} so that {@link #removeStaleStaging} can tell whose it is.
   */
  Path newTempDir(String purpose) {
    Path tmp = privateDirectory(home.resolve("tmp"));
    return privateDirectory(tmp.resolve(purpose + "-" + ProcessHandle.current().pid() + "-"
        + UUID.randomUUID()));
  }

  /** Creates a 0700 directory (and missing parents), or checks an existing one is private. */
  private Path privateDirectory(Path dir) {
    try {
      PrivateFiles.directory(home);
      return PrivateFiles.directory(dir);
    } catch (IOException e) {
      throw new BundleException("cannot use the bundle store at " + home + ": " + e.getMessage(),
          e);
    }
  }

  private Path cacheRoot() {
    return home.resolve("cache");
  }

  /**
   * Removes staging directories in {@code home/tmp} left by an interrupted import, build or
   * delete: those whose process is gone, and any older than {@link #STALE_STAGING}. Another
   * live process's staging is left alone.
   */
  private void removeStaleStaging() {
    Path tmp = home.resolve("tmp");
    if (!Files.isDirectory(tmp, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    long self = ProcessHandle.current().pid();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(tmp)) {
      for (Path p : ds) {
        Matcher m = STAGING.matcher(p.getFileName().toString());
        if (!m.matches()) {
          continue;
        }
        boolean gone = m.group(1) != null && Long.parseLong(m.group(1)) != self
            && ProcessHandle.of(Long.parseLong(m.group(1))).map(h -> !h.isAlive()).orElse(true);
        if (gone || olderThan(p, STALE_STAGING)) {
          LOG.info("removing stale staging directory {}", p);
          FileTrees.deleteQuietly(p);
        }
      }
    } catch (IOException | RuntimeException e) {
      LOG.warn("cannot clean stale staging in {}: {}", tmp, e.getMessage());
    }
  }

  private static boolean olderThan(Path p, Duration age) throws IOException {
    Instant t = Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS).toInstant();
    return t.isBefore(Instant.now().minus(age));
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
