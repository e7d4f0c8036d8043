package dev.sidecar.cli;

import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sidecar.bundle.ApiSpec;
import dev.sidecar.bundle.BundleArchive;
import dev.sidecar.bundle.BundleBuilder;
import dev.sidecar.bundle.BundleException;
import dev.sidecar.bundle.BundleInfo;
import dev.sidecar.bundle.BundleRef;
import dev.sidecar.bundle.BundleStore;
import dev.sidecar.bundle.ColumnSpec;
import dev.sidecar.bundle.FileEntry;
import dev.sidecar.bundle.Manifest;
import dev.sidecar.bundle.ModelEntry;
import dev.sidecar.bundle.OutputSpec;
import dev.sidecar.spark.RemoteBundles;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code sidecar bundle ...}: build, list, inspect, export, import, delete, verify and tag. */
@Command(name = "bundle",
    mixinStandardHelpOptions = true,
    description = "Build bundles and manage the local bundle store ($SIDECAR_HOME, default"
        + " ~/.sidecar). A TAG is name, name:version, name:latest or name:ALIAS.",
    subcommands = {
        BundleCommand.Build.class,
        BundleCommand.ListBundles.class,
        BundleCommand.Inspect.class,
        BundleCommand.Export.class,
        BundleCommand.Import.class,
        BundleCommand.Push.class,
        BundleCommand.Delete.class,
        BundleCommand.Verify.class,
        BundleCommand.Tag.class,
    })
final class BundleCommand implements Callable<Integer> {
  @Spec
  CommandLine.Model.CommandSpec spec;

  /** Without a subcommand: the usage on stderr, exit code 2. */
  @Override
  public Integer call() {
    spec.commandLine().usage(spec.commandLine().getErr());
    return SidecarCli.EXIT_USAGE;
  }

  private static final ObjectMapper JSON = new ObjectMapper();

  static String json(Object node) {
    try {
      return JSON.writer(new DefaultPrettyPrinter()
          .withObjectIndenter(new DefaultIndenter("  ", "\n"))).writeValueAsString(node);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The manifest as JSON with {@code tag} and {@code digest} added at the top. */
  static ObjectNode infoJson(BundleInfo info, Map<String, String> aliases) {
    ObjectNode root = JSON.createObjectNode();
    root.put("tag", info.tag());
    root.put("digest", info.digest());
    if (aliases != null) {
      ArrayNode a = root.putArray("aliases");
      aliases.forEach((alias, version) -> {
        if (version.equals(info.manifest().version())) {
          a.add(alias);
        }
      });
    }
    try {
      root.setAll((ObjectNode) JSON.readTree(info.manifest().toJson()
          .getBytes(StandardCharsets.UTF_8)));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return root;
  }

  /** {@code bundle build}. */
  @Command(name = "build",
      description = {"Build a bundle from a bundle.yaml: check every API against its ONNX model"
          + " in ONNX Runtime, run a smoke inference, then write the archive.",
          "Without --output the bundle is added to the store."})
  static final class Build extends StoreCommand {
    // Not mixinStandardHelpOptions: its -V/--version would clash with the bundle --version.
    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message"
        + " and exit.")
    boolean help;

    @Parameters(index = "0", paramLabel = "BUNDLE_YAML", description = "The bundle.yaml to build.")
    Path yaml;

    @Option(names = "--version", paramLabel = "V",
        description = "The bundle version. Default: the spec's version, else derived from the"
            + " creation time (yyyyMMdd.HHmmss.<hash>).")
    String version;

    @Option(names = {"-o", "--output"}, paramLabel = "FILE",
        description = "Write the archive to FILE instead of adding it to the store."
            + " Default: add to the store.")
    Path output;

    @Override
    public Integer call() {
      BundleBuilder b = BundleBuilder.fromSpec(yaml);
      if (version != null) {
        b.version(version);
      }
      PrintWriter out = out();
      if (output != null) {
        BundleInfo info = b.build(output);
        out.println("built " + info.tag() + " " + info.digest() + " -> " + output);
      } else {
        BundleStore store = store();
        BundleInfo info = b.buildInto(store);
        out.println("built " + info.tag() + " " + info.digest() + " into " + store.home());
      }
      out.flush();
      return 0;
    }
  }

  /** {@code bundle list}. */
  @Command(name = "list", mixinStandardHelpOptions = true,
      description = "List the bundles in the store, oldest first per name.")
  static final class ListBundles extends StoreCommand {
    @Option(names = "--json", description = "Print JSON (an array of manifests with tag,"
        + " digest and aliases). Default: a table.")
    boolean json;

    @Override
    public Integer call() {
      BundleStore store = store();
      List<BundleInfo> all = store.list();
      PrintWriter out = out();
      if (json) {
        ArrayNode arr = JSON.createArrayNode();
        for (BundleInfo i : all) {
          arr.add(infoJson(i, store.aliases(i.manifest().name())));
        }
        out.println(json(arr));
      } else if (all.isEmpty()) {
        out.println("no bundles in " + store.home());
      } else {
        String fmt = "%-24s %-24s %-20s %-19s %s%n";
        out.printf(fmt, "NAME", "VERSION", "CREATED", "DIGEST", "ALIASES");
        for (BundleInfo i : all) {
          Manifest m = i.manifest();
          StringBuilder aliases = new StringBuilder();
          store.aliases(m.name()).forEach((a, v) -> {
            if (v.equals(m.version())) {
              aliases.append(aliases.length() == 0 ? "" : ",").append(a);
            }
          });
          out.printf(fmt, m.name(), m.version(), m.createdAt(),
              i.digest().substring(0, 19), aliases);
        }
      }
      out.flush();
      return 0;
    }
  }

  /** {@code bundle inspect}. */
  @Command(name = "inspect", mixinStandardHelpOptions = true,
      description = "Show a bundle's manifest: models, APIs with their input and output"
          + " descriptors, files. A path to a .bundle file is read and verified.")
  static final class Inspect extends StoreCommand {
    @Parameters(index = "0", paramLabel = "TAG|FILE", description = "A store tag or a .bundle file.")
    String target;

    @Option(names = "--json", description = "Print the manifest as JSON, with tag and digest."
        + " Default: text.")
    boolean json;

    @Override
    public Integer call() {
      BundleInfo info;
      Map<String, String> aliases = null;
      if (BundleStore.looksLikePath(target)) {
        info = BundleArchive.inspect(store().locateArchive(target));
      } else {
        BundleStore store = store();
        info = store.resolve(target);
        aliases = store.aliases(info.manifest().name());
      }
      PrintWriter out = out();
      if (json) {
        out.println(json(infoJson(info, aliases)));
      } else {
        printText(out, info, aliases);
      }
      out.flush();
      return 0;
    }

    private static void printText(PrintWriter out, BundleInfo info, Map<String, String> aliases) {
      Manifest m = info.manifest();
      out.println(m.tag() + "  " + info.digest());
      out.println("created:      " + m.createdAt());
      if (!m.description().isEmpty()) {
        out.println("description:  " + m.description());
      }
      if (!m.labels().isEmpty()) {
        out.println("labels:       " + new java.util.TreeMap<>(m.labels()));
      }
      if (aliases != null) {
        List<String> mine = aliases.entrySet().stream()
            .filter(e -> e.getValue().equals(m.version())).map(Map.Entry::getKey).toList();
        if (!mine.isEmpty()) {
          out.println("aliases:      " + String.join(", ", mine));
        }
      }
      out.println("models:");
      for (ModelEntry e : m.models()) {
        out.println("  " + e.name() + "  " + e.path() + "  (" + e.format() + ", sha256 "
            + e.sha256().substring(0, 12) + ")");
      }
      out.println("apis:");
      for (ApiSpec a : m.apis()) {
        out.println("  " + a.name() + "  (model " + a.model() + "; batching "
            + (a.batching().enabled() ? "on, max " + a.batching().maxBatchSize() + " rows, "
                + a.batching().maxLatencyMs() + " ms" : "off") + ")");
        out.println("    input: " + a.input().kind().id()
            + (a.input().packed() ? ", packed into model input '" + a.input().packedInput()
                + "'" : ""));
        for (ColumnSpec c : a.input().columns()) {
          out.println("      " + c.name() + "  " + c.dtype().id() + " " + c.shape()
              + (a.input().packed() ? "" : "  -> " + c.modelInput()));
        }
        out.println("    outputs:");
        for (OutputSpec o : a.outputs()) {
          out.println("      " + o.name() + "  " + o.columnDType().id() + " " + o.shape()
              + "  <- " + o.modelOutput() + " (" + o.dtype().id() + ")"
              + (o.classLabels().isEmpty() ? "" : "  labels " + o.classLabels())
              + (o.classMap() == null ? "" : "  from a sequence of maps, " + o.classMap()
                  .keyType().id() + " keys " + o.classMap().keys() + " as "
                  + (o.classMap().asMap() ? "map" : "array")));
        }
      }
      out.println("files:");
      for (FileEntry f : m.files()) {
        out.println("  " + f.path() + "  " + f.size() + " bytes");
      }
    }
  }

  /** {@code bundle export}. */
  @Command(name = "export", mixinStandardHelpOptions = true,
      description = "Copy a stored bundle's archive to a file.")
  static final class Export extends StoreCommand {
    @Parameters(index = "0", paramLabel = "TAG", description = "The bundle to export.")
    String tag;

    @Parameters(index = "1", paramLabel = "FILE", description = "Where to write the .bundle file.")
    Path file;

    @Override
    public Integer call() {
      BundleStore store = store();
      BundleInfo info = store.resolve(tag);
      store.export(info.tag(), file);
      say("exported " + info.tag() + " " + info.digest()
          + " -> " + file);
      return 0;
    }
  }

  /** {@code bundle import}. */
  @Command(name = "import", mixinStandardHelpOptions = true,
      description = "Verify a .bundle file and add it to the store (a no-op when the same"
          + " bundle is already there).")
  static final class Import extends StoreCommand {
    @Parameters(index = "0", paramLabel = "FILE|URI", description = "The .bundle file to"
        + " import." + BundleSources.REF_HELP)
    String file;

    @Option(names = BundleSources.EXPECTED_DIGEST_OPTION, paramLabel = "DIGEST",
        description = BundleSources.EXPECTED_DIGEST_HELP)
    String expectedDigest;

    @Override
    public Integer call() {
      BundleRef ref = BundleSources.ref(file, expectedDigest);
      BundleStore store = store();
      BundleInfo info;
      if (ref.isUri()) {
        info = BundleSources.withArchive(ref, store, store::add);
      } else {
        Path p = Path.of(ref.location());
        if (ref.expectedDigest() != null && java.nio.file.Files.isRegularFile(p)) {
          ref.checkDigest(BundleArchive.peek(p).digest());
        }
        info = store.add(p);
      }
      say("imported " + info.tag() + " " + info.digest());
      return 0;
    }
  }

  /** {@code bundle push}. */
  @Command(name = "push", mixinStandardHelpOptions = true,
      description = "Verify a stored bundle and write its archive to a URI: a Hadoop file system"
          + " (hdfs://, s3a://, abfs://, gs://, with the Hadoop configuration of"
          + " $HADOOP_CONF_DIR) or file://. It is written under a temporary name and renamed"
          + " over the target (on object stores the upload appears only when complete), so a"
          + " reader never sees half a bundle. Prints the URI pinned to the bundle's digest.")
  static final class Push extends StoreCommand {
    @Parameters(index = "0", paramLabel = "TAG", description = "The stored bundle to push.")
    String tag;

    @Parameters(index = "1", paramLabel = "URI", description = "Where to write the archive.")
    String uri;

    @Override
    public Integer call() {
      BundleStore store = store();
      BundleInfo stored = store.resolve(tag);
      BundleRef target = BundleRef.parse(uri);
      if (!target.isUri() || target.expectedDigest() != null) {
        throw new BundleException(uri + ": expected a URI (hdfs://..., s3a://..., file:///...)"
            + " without a #sha256 suffix");
      }
      BundleInfo info = BundleArchive.inspect(store.archivePath(stored.tag()));
      if ("file".equals(target.scheme())) {
        store.export(info.tag(), BundleSources.local(target, store));
      } else {
        RemoteBundles.push(store.archivePath(info.tag()), uri, BundleSources.hadoopConf());
      }
      say("pushed " + info.tag() + " " + info.digest() + " -> " + uri + "#" + info.digest());
      return 0;
    }
  }

  /** {@code bundle delete}. */
  @Command(name = "delete", mixinStandardHelpOptions = true,
      description = "Delete the version a tag resolves to, with the aliases pointing at it.")
  static final class Delete extends StoreCommand {
    @Parameters(index = "0", paramLabel = "TAG", description = "The bundle to delete.")
    String tag;

    @Override
    public Integer call() {
      BundleStore store = store();
      BundleInfo info = store.resolve(tag);
      store.delete(info.tag());
      say("deleted " + info.tag() + " " + info.digest());
      return 0;
    }
  }

  /** {@code bundle verify}. */
  @Command(name = "verify", mixinStandardHelpOptions = true,
      description = "Read a bundle archive completely and check the manifest and every file's"
          + " size and SHA-256; for a store tag, also hash the cached unpacked copy in full and"
          + " unpack it again if it was damaged.")
  static final class Verify extends StoreCommand {
    @Parameters(index = "0", paramLabel = "TAG|FILE", description = "A store tag or a .bundle file.")
    String target;

    @Override
    public Integer call() {
      if (BundleStore.looksLikePath(target)) {
        BundleInfo info = BundleArchive.inspect(store().locateArchive(target));
        say("ok " + info.tag() + " " + info.digest() + " ("
            + info.manifest().files().size() + " files verified)");
        return 0;
      }
      BundleStore.Verification v = store().verify(target);
      BundleInfo info = v.info();
      String cache = switch (v.cachedCopy()) {
        case NONE -> "";
        case OK -> "; cached copy ok";
        case REPAIRED -> "; cached copy was damaged (" + v.damage() + ") and has been unpacked"
            + " again";
      };
      say("ok " + info.tag() + " " + info.digest() + " ("
          + info.manifest().files().size() + " files verified" + cache + ")");
      return 0;
    }
  }

  /** {@code bundle tag}. */
  @Command(name = "tag", mixinStandardHelpOptions = true,
      description = "Point an alias (e.g. production, staging) at a stored version:"
          + " 'sidecar bundle tag iris:1.0.0 production' makes iris:production resolve to it.")
  static final class Tag extends StoreCommand {
    @Parameters(index = "0", paramLabel = "TAG", description = "The version to point at"
        + " (name:version, or any tag resolving to one).")
    String tag;

    @Parameters(index = "1", paramLabel = "ALIAS", description = "The alias name.")
    String alias;

    @Override
    public Integer call() {
      BundleStore store = store();
      BundleInfo info = store.resolve(tag);
      store.alias(info.manifest().name(), alias, info.manifest().version());
      say(info.manifest().name() + ":" + alias + " -> "
          + info.tag());
      return 0;
    }
  }
}
