package dev.sidecar.bundle;

import dev.sidecar.bundle.BundleSpec.ApiDecl;
import dev.sidecar.bundle.BundleSpec.ColumnDecl;
import dev.sidecar.bundle.BundleSpec.InputDecl;
import dev.sidecar.bundle.BundleSpec.ModelDecl;
import dev.sidecar.bundle.BundleSpec.OutputDecl;
import dev.sidecar.bundle.internal.Names;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;
import org.yaml.snakeyaml.nodes.Tag;

/** Reads bundle.yaml through SnakeYAML's node tree so every error can name file, line and path. */
final class SpecParser {
  private static final Set<String> TOP = Set.of("name", "version", "description", "labels",
      "models", "apis", "files");
  private static final long MAX_SPEC_BYTES = 4 << 20;

  private final Path file;
  private final Map<String, String> locations = new HashMap<>();

  private SpecParser(Path file) {
    this.file = file;
  }

  static BundleSpec parse(Path yaml) {
    return new SpecParser(yaml).run();
  }

  private BundleSpec run() {
    Node root;
    try {
      if (Files.size(file) > MAX_SPEC_BYTES) {
        throw new BundleException(file + ": larger than " + MAX_SPEC_BYTES
            + " bytes; is this a bundle.yaml?");
      }
      LoaderOptions opts = new LoaderOptions();
      opts.setAllowDuplicateKeys(false);
      opts.setMaxAliasesForCollections(20);
      try (Reader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
        root = new Yaml(opts).compose(in);
      }
    } catch (NoSuchFileException e) {
      throw new BundleException(file + ": no such file");
    } catch (MarkedYAMLException e) {
      Mark m = e.getProblemMark() != null ? e.getProblemMark() : e.getContextMark();
      String at = m == null ? file.toString() : file + ":" + (m.getLine() + 1) + ":"
          + (m.getColumn() + 1);
      throw new BundleException(at + ": invalid YAML: " + e.getProblem());
    } catch (YAMLException e) {
      throw new BundleException(file + ": invalid YAML: " + e.getMessage());
    } catch (IOException e) {
      throw new BundleException(file + ": cannot read: " + e.getMessage(), e);
    }
    if (root == null) {
      throw new BundleException(file + ": the file is empty; expected a mapping with name,"
          + " models and apis");
    }
    Map<String, Node> top = mapping(root, "", TOP);
    String name = requiredString(top, "name", "name");
    if (!Names.isBundleName(name)) {
      throw error(top.get("name"), "name", "invalid bundle name '" + name
          + "': use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit");
    }
    String version = null;
    if (top.containsKey("version") && !isNull(top.get("version"))) {
      version = scalar(top.get("version"), "version");
      if (!Names.isVersion(version)) {
        throw error(top.get("version"), "version", "invalid version '" + version
            + "': use letters, digits, '.', '_', '+' and '-', starting with a letter or digit");
      }
    }
    String description = top.containsKey("description") && !isNull(top.get("description"))
        ? scalar(top.get("description"), "description") : "";
    Map<String, String> labels = new TreeMap<>();
    if (top.containsKey("labels") && !isNull(top.get("labels"))) {
      for (Map.Entry<String, Node> e : mapping(top.get("labels"), "labels", null).entrySet()) {
        labels.put(e.getKey(), scalar(e.getValue(), "labels." + e.getKey()));
      }
    }

    List<ModelDecl> models = new ArrayList<>();
    Set<String> modelNames = new HashSet<>();
    List<Node> modelNodes = sequence(required(top, "models", "models", root), "models");
    if (modelNodes.isEmpty()) {
      throw error(top.get("models"), "models", "a bundle needs at least one model");
    }
    for (int i = 0; i < modelNodes.size(); i++) {
      String p = "models[" + i + "]";
      Map<String, Node> m = mapping(modelNodes.get(i), p, Set.of("name", "path"));
      String path = requiredString(m, "path", p + ".path", modelNodes.get(i));
      String mname;
      if (m.containsKey("name")) {
        mname = scalar(m.get("name"), p + ".name");
      } else {
        // The file name, by string: the path is checked at build and may not be a valid Path.
        String fn = path.substring(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
        mname = fn.endsWith(".onnx") ? fn.substring(0, fn.length() - 5) : fn;
      }
      if (!Names.isApiName(mname)) {
        throw error(m.getOrDefault("name", modelNodes.get(i)), p + ".name",
            "invalid model name '" + mname + "': use letters, digits, '.', '_' and '-'");
      }
      if (!modelNames.add(mname)) {
        throw error(modelNodes.get(i), p + ".name", "duplicate model name '" + mname + "'");
      }
      models.add(new ModelDecl(mname, path));
    }

    List<ApiDecl> apis = new ArrayList<>();
    Set<String> apiNames = new HashSet<>();
    List<Node> apiNodes = sequence(required(top, "apis", "apis", root), "apis");
    if (apiNodes.isEmpty()) {
      throw error(top.get("apis"), "apis", "a bundle needs at least one API");
    }
    for (int i = 0; i < apiNodes.size(); i++) {
      ApiDecl api = api(apiNodes.get(i), "apis[" + i + "]", models);
      if (!apiNames.add(api.name())) {
        throw error(apiNodes.get(i), "apis[" + i + "].name", "duplicate API name '"
            + api.name() + "'");
      }
      apis.add(api);
    }

    List<String> files = new ArrayList<>();
    if (top.containsKey("files") && !isNull(top.get("files"))) {
      List<Node> fileNodes = sequence(top.get("files"), "files");
      for (int i = 0; i < fileNodes.size(); i++) {
        files.add(scalar(fileNodes.get(i), "files[" + i + "]"));
      }
    }
    return new BundleSpec(file, name, version, description, labels, models, apis, files,
        locations);
  }

  private ApiDecl api(Node node, String p, List<ModelDecl> models) {
    Map<String, Node> a = mapping(node, p, Set.of("name", "model", "input", "outputs",
        "batching"));
    String name = requiredString(a, "name", p + ".name", node);
    if (!Names.isApiName(name)) {
      throw error(a.get("name"), p + ".name", "invalid API name '" + name
          + "': use letters, digits, '.', '_' and '-', starting with a letter or digit");
    }
    String model = null;
    if (a.containsKey("model")) {
      model = scalar(a.get("model"), p + ".model");
      String m = model;
      if (models.stream().noneMatch(d -> d.name().equals(m))) {
        throw error(a.get("model"), p + ".model", "unknown model '" + model + "', expected one of "
            + models.stream().map(ModelDecl::name).toList());
      }
    } else if (models.size() != 1) {
      throw error(node, p + ".model", "missing; the bundle has several models "
          + models.stream().map(ModelDecl::name).toList() + ", name the one this API uses");
    }
    InputDecl input = input(required(a, "input", p + ".input", node), p + ".input");
    List<OutputDecl> outputs = null;
    if (a.containsKey("outputs") && !isNull(a.get("outputs"))) {
      List<Node> outNodes = sequence(a.get("outputs"), p + ".outputs");
      if (outNodes.isEmpty()) {
        throw error(a.get("outputs"), p + ".outputs", "empty; list at least one output or omit"
            + " the key to expose every model output");
      }
      outputs = new ArrayList<>();
      Set<String> names = new HashSet<>();
      for (int i = 0; i < outNodes.size(); i++) {
        OutputDecl o = output(outNodes.get(i), p + ".outputs[" + i + "]");
        if (!names.add(o.name())) {
          throw error(outNodes.get(i), p + ".outputs[" + i + "].name", "duplicate output '"
              + o.name() + "'");
        }
        outputs.add(o);
      }
    }
    BatchingSpec batching = BatchingSpec.defaults();
    if (a.containsKey("batching") && !isNull(a.get("batching"))) {
      String bp = p + ".batching";
      Map<String, Node> b = mapping(a.get("batching"), bp, Set.of("enabled", "max_batch_size",
          "max_latency_ms"));
      boolean enabled = b.containsKey("enabled") ? bool(b.get("enabled"), bp + ".enabled") : true;
      int maxBatch = b.containsKey("max_batch_size")
          ? integer(b.get("max_batch_size"), bp + ".max_batch_size",
              Integer.MIN_VALUE, Integer.MAX_VALUE)
          : BatchingSpec.DEFAULT_MAX_BATCH_SIZE;
      int maxLatency = b.containsKey("max_latency_ms")
          ? integer(b.get("max_latency_ms"), bp + ".max_latency_ms",
              Integer.MIN_VALUE, Integer.MAX_VALUE)
          : BatchingSpec.DEFAULT_MAX_LATENCY_MS;
      try {
        batching = new BatchingSpec(enabled, maxBatch, maxLatency);
      } catch (IllegalArgumentException e) {
        throw error(a.get("batching"), bp, e.getMessage());
      }
    }
    return new ApiDecl(name, model, input, outputs, batching);
  }

  private InputDecl input(Node node, String p) {
    Map<String, Node> raw = mapping(node, p, null);
    Node kindNode = raw.get("kind");
    if (kindNode == null) {
      throw error(node, p + ".kind", "missing; expected one of [tensor, dataframe, series]");
    }
    String kindText = scalar(kindNode, p + ".kind");
    InputDescriptor.Kind kind;
    switch (kindText) {
      case "tensor": kind = InputDescriptor.Kind.TENSOR; break;
      case "dataframe": kind = InputDescriptor.Kind.DATAFRAME; break;
      case "series": kind = InputDescriptor.Kind.SERIES; break;
      default:
        throw error(kindNode, p + ".kind", "unknown kind '" + kindText
            + "', expected one of [tensor, dataframe, series]");
    }
    if (kind == InputDescriptor.Kind.DATAFRAME) {
      Map<String, Node> in = mapping(node, p, Set.of("kind", "columns", "pack_into"));
      String packInto = in.containsKey("pack_into") && !isNull(in.get("pack_into"))
          ? scalar(in.get("pack_into"), p + ".pack_into") : null;
      List<Node> colNodes = sequence(required(in, "columns", p + ".columns", node),
          p + ".columns");
      if (colNodes.isEmpty()) {
        throw error(in.get("columns"), p + ".columns", "a dataframe needs at least one column");
      }
      List<ColumnDecl> cols = new ArrayList<>();
      Set<String> names = new HashSet<>();
      for (int i = 0; i < colNodes.size(); i++) {
        String cp = p + ".columns[" + i + "]";
        Node cn = colNodes.get(i);
        ColumnDecl c;
        if (cn instanceof ScalarNode) {
          c = new ColumnDecl(columnName(cn, cp + ".name"), null, null, null);
        } else {
          Map<String, Node> cm = mapping(cn, cp, Set.of("name", "dtype", "model_input"));
          c = new ColumnDecl(columnName(required(cm, "name", cp + ".name", cn), cp + ".name"),
              cm.containsKey("dtype") ? dtype(cm.get("dtype"), cp + ".dtype") : null,
              null,
              cm.containsKey("model_input") ? scalar(cm.get("model_input"), cp + ".model_input")
                  : null);
        }
        if (!names.add(c.name())) {
          throw error(cn, cp + ".name", "duplicate column '" + c.name() + "'");
        }
        if (packInto != null && c.modelInput() != null && !c.modelInput().equals(packInto)) {
          throw error(cn, cp + ".model_input", "column '" + c.name() + "' names model input '"
              + c.modelInput() + "' but the dataframe is packed into '" + packInto
              + "'; drop model_input");
        }
        cols.add(c);
      }
      return new InputDecl(kind, cols, packInto);
    }
    boolean tensor = kind == InputDescriptor.Kind.TENSOR;
    Map<String, Node> in = mapping(node, p, tensor
        ? Set.of("kind", "column", "dtype", "shape", "model_input")
        : Set.of("kind", "column", "dtype", "model_input"));
    String column = columnName(required(in, "column", p + ".column", node), p + ".column");
    DType dtype = in.containsKey("dtype") ? dtype(in.get("dtype"), p + ".dtype") : null;
    List<Long> shape = tensor ? (in.containsKey("shape") ? shape(in.get("shape"), p + ".shape")
        : null) : List.of(-1L);
    String modelInput = in.containsKey("model_input")
        ? scalar(in.get("model_input"), p + ".model_input") : null;
    return new InputDecl(kind, List.of(new ColumnDecl(column, dtype, shape, modelInput)), null);
  }

  private OutputDecl output(Node node, String p) {
    if (node instanceof ScalarNode) {
      String n = columnName(node, p + ".name");
      return new OutputDecl(n, n, null, null, List.of());
    }
    Map<String, Node> o = mapping(node, p, Set.of("name", "from", "dtype", "shape", "labels",
        "as"));
    String name = columnName(required(o, "name", p + ".name", node), p + ".name");
    String from = o.containsKey("from") ? scalar(o.get("from"), p + ".from") : name;
    DType dtype = o.containsKey("dtype") ? dtype(o.get("dtype"), p + ".dtype") : null;
    List<Long> shape = o.containsKey("shape") ? shape(o.get("shape"), p + ".shape") : null;
    List<String> labels = new ArrayList<>();
    if (o.containsKey("labels") && !isNull(o.get("labels"))) {
      List<Node> ln = sequence(o.get("labels"), p + ".labels");
      if (ln.isEmpty()) {
        throw error(o.get("labels"), p + ".labels", "empty; list the class labels or omit the key");
      }
      for (int i = 0; i < ln.size(); i++) {
        labels.add(scalar(ln.get(i), p + ".labels[" + i + "]"));
      }
      if (dtype != null && !isInteger(dtype)) {
        throw error(o.get("labels"), p + ".labels", "class labels need an integer output, but"
            + " dtype is " + dtype.id());
      }
    }
    String as = null;
    if (o.containsKey("as") && !isNull(o.get("as"))) {
      as = scalar(o.get("as"), p + ".as");
      if (!as.equals("array") && !as.equals("map")) {
        throw error(o.get("as"), p + ".as", "unknown value '" + as + "', expected 'array' (the"
            + " probabilities in class order) or 'map' (class key -> probability)");
      }
      if (!labels.isEmpty()) {
        throw error(o.get("as"), p + ".as", "'as' applies to a sequence-of-maps output, which"
            + " has no labels; drop one of them");
      }
    }
    return new OutputDecl(name, from, dtype, shape, labels, as);
  }

  static boolean isInteger(DType t) {
    return dev.sidecar.bundle.onnx.ApiBinding.isInteger(t);
  }

  // ---- node helpers -------------------------------------------------------------------

  private BundleException error(Node node, String path, String msg) {
    String at = node == null ? file.toString() : at(node);
    return new BundleException(at + ": " + path + ": " + msg);
  }

  private String at(Node node) {
    Mark m = node.getStartMark();
    return m == null ? file.toString() : file + ":" + (m.getLine() + 1) + ":" + (m.getColumn() + 1);
  }

  private void remember(String path, Node node) {
    locations.put(path, at(node));
  }

  private static boolean isNull(Node n) {
    return n instanceof ScalarNode && Tag.NULL.equals(n.getTag());
  }

  private Map<String, Node> mapping(Node node, String path, Set<String> allowed) {
    if (!(node instanceof MappingNode)) {
      throw error(node, path.isEmpty() ? "(top level)" : path, "expected a mapping (key: value),"
          + " found " + describe(node));
    }
    remember(path, node);
    Map<String, Node> out = new LinkedHashMap<>();
    for (NodeTuple t : ((MappingNode) node).getValue()) {
      Node k = t.getKeyNode();
      String kp = path.isEmpty() ? "" : path + ".";
      if (!(k instanceof ScalarNode)) {
        throw error(k, path, "keys must be plain strings");
      }
      String key = ((ScalarNode) k).getValue();
      if (allowed != null && !allowed.contains(key)) {
        throw error(k, kp + key, "unknown key '" + key + "'" + suggestion(key, allowed)
            + ", expected one of " + new TreeSet<>(allowed));
      }
      if (out.put(key, t.getValueNode()) != null) {
        throw error(k, kp + key, "duplicate key '" + key + "'");
      }
      remember(kp + key, t.getValueNode());
    }
    return out;
  }

  private static String suggestion(String key, Set<String> allowed) {
    String best = null;
    int bestD = Integer.MAX_VALUE;
    for (String a : allowed) {
      int d = distance(key.toLowerCase(Locale.ROOT), a);
      if (d < bestD) {
        bestD = d;
        best = a;
      }
    }
    return best != null && bestD <= Math.max(2, key.length() / 3) ? " (did you mean '" + best
        + "'?)" : "";
  }

  private static int distance(String a, String b) {
    int[] prev = new int[b.length() + 1];
    int[] cur = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      prev[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      cur[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int c = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
        cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + c);
      }
      int[] t = prev;
      prev = cur;
      cur = t;
    }
    return prev[b.length()];
  }

  private List<Node> sequence(Node node, String path) {
    if (!(node instanceof SequenceNode)) {
      throw error(node, path, "expected a list, found " + describe(node));
    }
    remember(path, node);
    List<Node> items = ((SequenceNode) node).getValue();
    for (int i = 0; i < items.size(); i++) {
      remember(path + "[" + i + "]", items.get(i));
    }
    return items;
  }

  private Node required(Map<String, Node> map, String key, String path, Node parent) {
    Node n = map.get(key);
    if (n == null || isNull(n)) {
      throw error(n != null ? n : parent, path, "missing");
    }
    return n;
  }

  private String requiredString(Map<String, Node> map, String key, String path) {
    return requiredString(map, key, path, null);
  }

  private String requiredString(Map<String, Node> map, String key, String path, Node parent) {
    return scalar(required(map, key, path, parent), path);
  }

  private String scalar(Node node, String path) {
    if (!(node instanceof ScalarNode) || isNull(node)) {
      throw error(node, path, "expected a value, found " + describe(node));
    }
    String v = ((ScalarNode) node).getValue();
    if (v.isEmpty()) {
      throw error(node, path, "empty");
    }
    return v;
  }

  private String columnName(Node node, String path) {
    String v = scalar(node, path);
    for (int i = 0; i < v.length(); i++) {
      if (Character.isISOControl(v.charAt(i))) {
        throw error(node, path, "control characters are not allowed in names");
      }
    }
    return v;
  }

  private boolean bool(Node node, String path) {
    String v = scalar(node, path);
    if (!Tag.BOOL.equals(node.getTag())) {
      throw error(node, path, "expected true or false, found '" + v + "'");
    }
    String l = v.toLowerCase(Locale.ROOT);
    return l.equals("true") || l.equals("yes") || l.equals("on") || l.equals("y");
  }

  private int integer(Node node, String path, int min, int max) {
    String v = scalar(node, path);
    long n;
    try {
      n = Long.parseLong(v.replace("_", ""));
    } catch (NumberFormatException e) {
      throw error(node, path, "expected an integer, found '" + v + "'");
    }
    if (n < min || n > max) {
      throw error(node, path, "expected an integer in [" + min + ", " + max + "], found " + n);
    }
    return (int) n;
  }

  private DType dtype(Node node, String path) {
    String v = scalar(node, path);
    try {
      return DType.parse(v);
    } catch (IllegalArgumentException e) {
      throw error(node, path, e.getMessage());
    }
  }

  private List<Long> shape(Node node, String path) {
    List<Node> dims = sequence(node, path);
    if (dims.isEmpty()) {
      throw error(node, path, "empty; a shape starts with -1 for the batch dimension, e.g. [-1, 4]");
    }
    List<Long> out = new ArrayList<>();
    for (int i = 0; i < dims.size(); i++) {
      String v = scalar(dims.get(i), path + "[" + i + "]");
      long d;
      try {
        d = Long.parseLong(v);
      } catch (NumberFormatException e) {
        throw error(dims.get(i), path + "[" + i + "]", "expected an integer, found '" + v + "'");
      }
      if (i == 0 && d != -1) {
        throw error(dims.get(i), path + "[0]", "the batch dimension must be -1, found " + d);
      }
      if (i > 0 && d < 1) {
        throw error(dims.get(i), path + "[" + i + "]", "dimensions after the batch dimension must"
            + " be positive, found " + d);
      }
      out.add(d);
    }
    return out;
  }

  private static String describe(Node n) {
    if (n == null) {
      return "nothing";
    }
    if (n instanceof MappingNode) {
      return "a mapping";
    }
    if (n instanceof SequenceNode) {
      return "a list";
    }
    if (Tag.NULL.equals(n.getTag())) {
      return "an empty value";
    }
    return "'" + ((ScalarNode) n).getValue() + "'";
  }
}
