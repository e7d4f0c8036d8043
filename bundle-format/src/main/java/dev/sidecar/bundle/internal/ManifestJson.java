package dev.sidecar.bundle.internal;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.sidecar.bundle.ApiSpec;
import dev.sidecar.bundle.BatchingSpec;
import dev.sidecar.bundle.BundleException;
import dev.sidecar.bundle.ColumnSpec;
import dev.sidecar.bundle.DType;
import dev.sidecar.bundle.FileEntry;
import dev.sidecar.bundle.InputDescriptor;
import dev.sidecar.bundle.Manifest;
import dev.sidecar.bundle.ModelEntry;
import dev.sidecar.bundle.OutputSpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Canonical {@code manifest.json}: keys sorted at every level, two-space indentation, {@code \n}
 * line ends, UTF-8, a final newline. The same manifest always gives the same bytes, so the
 * bundle digest (SHA-256 of these bytes) is reproducible. Reading is strict: unknown keys,
 * missing fields, unsafe paths and unknown format versions are refused.
 */
public final class ManifestJson {
  private static final ObjectMapper MAPPER = new ObjectMapper()
      .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS)
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
  private static final ObjectWriter WRITER = MAPPER.writer(new DefaultPrettyPrinter()
      .withObjectIndenter(new DefaultIndenter("  ", "\n")));

  private ManifestJson() {
  }

  /** The canonical bytes of {@code m}. */
  public static byte[] write(Manifest m) {
    try {
      return (WRITER.writeValueAsString(toTree(m)) + "\n").getBytes(StandardCharsets.UTF_8);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot write manifest of " + m.tag(), e);
    }
  }

  /** Pretty JSON of any tree made of maps, lists and scalars (sorted keys). */
  public static String pretty(Object tree) {
    try {
      return WRITER.writeValueAsString(tree);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot write JSON", e);
    }
  }

  /** The manifest as a tree of sorted maps and lists, as written in manifest.json. */
  public static Map<String, Object> toTree(Manifest m) {
    Map<String, Object> root = new TreeMap<>();
    root.put("format_version", m.formatVersion());
    root.put("name", m.name());
    root.put("version", m.version());
    root.put("created_at", m.createdAt().toString());
    root.put("description", m.description() == null ? "" : m.description());
    root.put("labels", new TreeMap<>(m.labels()));
    List<Object> models = new ArrayList<>();
    for (ModelEntry e : m.models()) {
      Map<String, Object> o = new TreeMap<>();
      o.put("name", e.name());
      o.put("path", e.path());
      o.put("format", e.format());
      o.put("sha256", e.sha256());
      models.add(o);
    }
    root.put("models", models);
    List<Object> apis = new ArrayList<>();
    for (ApiSpec a : m.apis()) {
      apis.add(apiTree(a));
    }
    root.put("apis", apis);
    List<Object> files = new ArrayList<>();
    for (FileEntry f : m.files()) {
      Map<String, Object> o = new TreeMap<>();
      o.put("path", f.path());
      o.put("size", f.size());
      o.put("sha256", f.sha256());
      files.add(o);
    }
    root.put("files", files);
    return root;
  }

  /** One API as written in manifest.json. */
  public static Map<String, Object> apiTree(ApiSpec a) {
    Map<String, Object> o = new TreeMap<>();
    o.put("name", a.name());
    o.put("model", a.model());
    Map<String, Object> in = new TreeMap<>();
    in.put("kind", a.input().kind().id());
    if (a.input().packedInput() != null) {
      in.put("pack_into", a.input().packedInput());
    }
    List<Object> cols = new ArrayList<>();
    for (ColumnSpec c : a.input().columns()) {
      Map<String, Object> co = new TreeMap<>();
      co.put("name", c.name());
      co.put("dtype", c.dtype().id());
      co.put("shape", c.shape());
      co.put("model_input", c.modelInput());
      cols.add(co);
    }
    in.put("columns", cols);
    o.put("input", in);
    List<Object> outs = new ArrayList<>();
    for (OutputSpec s : a.outputs()) {
      Map<String, Object> so = new TreeMap<>();
      so.put("name", s.name());
      so.put("from", s.modelOutput());
      so.put("dtype", s.dtype().id());
      so.put("shape", s.shape());
      so.put("labels", s.classLabels());
      if (s.classMap() != null) {
        // Only for sequence-of-maps outputs: other outputs' bytes (and digests) are unchanged.
        Map<String, Object> cm = new TreeMap<>();
        cm.put("key_dtype", s.classMap().keyType().id());
        cm.put("keys", s.classMap().keys());
        cm.put("as", s.classMap().asMap() ? "map" : "array");
        so.put("class_map", cm);
      }
      outs.add(so);
    }
    o.put("outputs", outs);
    Map<String, Object> b = new TreeMap<>();
    b.put("enabled", a.batching().enabled());
    b.put("max_batch_size", a.batching().maxBatchSize());
    b.put("max_latency_ms", a.batching().maxLatencyMs());
    o.put("batching", b);
    return o;
  }

  /**
   * Parses and checks manifest bytes. {@code source} names where they came from (an archive or
   * a directory) in error messages.
   */
  public static Manifest read(byte[] bytes, String source) {
    JsonNode root;
    try {
      root = MAPPER.readTree(bytes);
    } catch (JsonProcessingException e) {
      throw new BundleException(source + ": manifest.json is not valid JSON: "
          + e.getOriginalMessage());
    } catch (IOException e) {
      throw new BundleException(source + ": cannot read manifest.json: " + e.getMessage(), e);
    }
    if (root == null || !root.isObject()) {
      throw new BundleException(source + ": manifest.json is not a JSON object");
    }
    Reader r = new Reader(source);
    JsonNode fv = root.get("format_version");
    if (fv == null || !fv.isIntegralNumber()) {
      throw new BundleException(source + ": manifest.json has no integer format_version;"
          + " this is not a sidecar bundle");
    }
    if (fv.asInt() != Manifest.FORMAT_VERSION) {
      throw new BundleException(source + ": unsupported bundle format_version " + fv.asText()
          + "; this sidecar reads format_version " + Manifest.FORMAT_VERSION
          + " (a newer sidecar may read it)");
    }
    r.keys(root, "", Set.of("format_version", "name", "version", "created_at", "description",
        "labels", "models", "apis", "files"));
    String name = r.text(root, "name");
    if (!Names.isBundleName(name)) {
      throw r.error("name", "invalid bundle name '" + name + "'");
    }
    String version = r.text(root, "version");
    if (!Names.isVersion(version)) {
      throw r.error("version", "invalid version '" + version + "'");
    }
    Instant createdAt;
    try {
      createdAt = Instant.parse(r.text(root, "created_at"));
    } catch (DateTimeParseException e) {
      throw r.error("created_at", "not an ISO-8601 instant: " + root.get("created_at").asText());
    }
    String description = root.has("description") ? r.text(root, "description") : "";
    Map<String, String> labels = new TreeMap<>();
    JsonNode ln = root.get("labels");
    if (ln != null) {
      if (!ln.isObject()) {
        throw r.error("labels", "expected an object");
      }
      for (Map.Entry<String, JsonNode> e : ln.properties()) {
        labels.put(e.getKey(), r.text(ln, e.getKey(), "labels." + e.getKey()));
      }
    }

    List<FileEntry> files = new ArrayList<>();
    Map<String, FileEntry> byPath = new HashMap<>();
    JsonNode fn = r.array(root, "files", "files");
    for (int i = 0; i < fn.size(); i++) {
      String p = "files[" + i + "]";
      JsonNode f = r.object(fn.get(i), p);
      r.keys(f, p, Set.of("path", "size", "sha256"));
      String path = r.text(f, "path", p + ".path");
      String why = Names.unsafePathReason(path);
      if (why != null) {
        throw r.error(p + ".path", "unsafe path '" + path + "': " + why);
      }
      if (path.equals(Names.MANIFEST)) {
        throw r.error(p + ".path", "'manifest.json' is reserved");
      }
      JsonNode sz = f.get("size");
      if (sz == null || !sz.canConvertToLong() || sz.asLong() < 0) {
        throw r.error(p + ".size", "expected a non-negative integer");
      }
      String sha = r.sha(f, p + ".sha256");
      FileEntry fe = new FileEntry(path, sz.asLong(), sha);
      if (byPath.put(path, fe) != null) {
        throw r.error(p + ".path", "file '" + path + "' is listed twice");
      }
      files.add(fe);
    }

    for (FileEntry f : files) {
      for (int cut = f.path().indexOf('/'); cut > 0; cut = f.path().indexOf('/', cut + 1)) {
        if (byPath.containsKey(f.path().substring(0, cut))) {
          throw r.error("files", "'" + f.path().substring(0, cut) + "' is listed as a file and"
              + " as the directory of '" + f.path() + "'");
        }
      }
    }

    List<ModelEntry> models = new ArrayList<>();
    Set<String> modelNames = new HashSet<>();
    JsonNode mn = r.array(root, "models", "models");
    for (int i = 0; i < mn.size(); i++) {
      String p = "models[" + i + "]";
      JsonNode m = r.object(mn.get(i), p);
      r.keys(m, p, Set.of("name", "path", "format", "sha256"));
      String mname = r.text(m, "name", p + ".name");
      String path = r.text(m, "path", p + ".path");
      String format = r.text(m, "format", p + ".format");
      if (!ModelEntry.FORMAT_ONNX.equals(format)) {
        throw r.error(p + ".format", "unsupported model format '" + format + "', expected 'onnx'");
      }
      String sha = r.sha(m, p + ".sha256");
      FileEntry fe = byPath.get(path);
      if (fe == null) {
        throw r.error(p + ".path", "model file '" + path + "' is not listed in files");
      }
      if (!fe.sha256().equals(sha)) {
        throw r.error(p + ".sha256", "model '" + mname + "' sha256 differs from files entry of '"
            + path + "'");
      }
      if (!modelNames.add(mname)) {
        throw r.error(p + ".name", "model '" + mname + "' is listed twice");
      }
      models.add(new ModelEntry(mname, path, format, sha));
    }

    List<ApiSpec> apis = new ArrayList<>();
    Set<String> apiNames = new HashSet<>();
    JsonNode an = r.array(root, "apis", "apis");
    for (int i = 0; i < an.size(); i++) {
      String p = "apis[" + i + "]";
      ApiSpec api = readApi(r, r.object(an.get(i), p), p);
      if (!modelNames.contains(api.model())) {
        throw r.error(p + ".model", "api '" + api.name() + "' names model '" + api.model()
            + "' which is not in models " + modelNames);
      }
      if (!apiNames.add(api.name())) {
        throw r.error(p + ".name", "api '" + api.name() + "' is listed twice");
      }
      apis.add(api);
    }
    return new Manifest(Manifest.FORMAT_VERSION, name, version, createdAt, description, labels,
        models, apis, files);
  }

  private static ApiSpec readApi(Reader r, JsonNode a, String p) {
    r.keys(a, p, Set.of("name", "model", "input", "outputs", "batching"));
    String name = r.text(a, "name", p + ".name");
    String model = r.text(a, "model", p + ".model");
    JsonNode in = r.object(a.get("input"), p + ".input");
    r.keys(in, p + ".input", Set.of("kind", "pack_into", "columns"));
    String kindText = r.text(in, "kind", p + ".input.kind");
    InputDescriptor.Kind kind;
    try {
      kind = InputDescriptor.Kind.valueOf(kindText.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw r.error(p + ".input.kind", "unknown kind '" + kindText + "'");
    }
    String packInto = in.has("pack_into") ? r.text(in, "pack_into", p + ".input.pack_into") : null;
    List<ColumnSpec> cols = new ArrayList<>();
    JsonNode cn = r.array(in, "columns", p + ".input.columns");
    for (int i = 0; i < cn.size(); i++) {
      String cp = p + ".input.columns[" + i + "]";
      JsonNode c = r.object(cn.get(i), cp);
      r.keys(c, cp, Set.of("name", "dtype", "shape", "model_input"));
      cols.add(new ColumnSpec(r.text(c, "name", cp + ".name"), r.dtype(c, cp + ".dtype"),
          r.shape(c, cp + ".shape"), r.text(c, "model_input", cp + ".model_input")));
    }
    if (cols.isEmpty()) {
      throw r.error(p + ".input.columns", "an API needs at least one input column");
    }
    List<OutputSpec> outs = new ArrayList<>();
    JsonNode on = r.array(a, "outputs", p + ".outputs");
    for (int i = 0; i < on.size(); i++) {
      String op = p + ".outputs[" + i + "]";
      JsonNode o = r.object(on.get(i), op);
      r.keys(o, op, Set.of("name", "from", "dtype", "shape", "labels", "class_map"));
      List<String> labels = new ArrayList<>();
      JsonNode labelsNode = r.array(o, "labels", op + ".labels");
      for (int j = 0; j < labelsNode.size(); j++) {
        if (!labelsNode.get(j).isTextual()) {
          throw r.error(op + ".labels[" + j + "]", "expected a string");
        }
        labels.add(labelsNode.get(j).asText());
      }
      OutputSpec.ClassMap classMap = null;
      if (o.has("class_map")) {
        String cp = op + ".class_map";
        JsonNode cm = r.object(o.get("class_map"), cp);
        r.keys(cm, cp, Set.of("key_dtype", "keys", "as"));
        DType keyType;
        try {
          keyType = DType.parse(r.text(cm, "key_dtype", cp + ".key_dtype"));
        } catch (IllegalArgumentException e) {
          throw r.error(cp + ".key_dtype", e.getMessage());
        }
        List<String> keys = new ArrayList<>();
        JsonNode kn = r.array(cm, "keys", cp + ".keys");
        for (int j = 0; j < kn.size(); j++) {
          if (!kn.get(j).isTextual()) {
            throw r.error(cp + ".keys[" + j + "]", "expected a string");
          }
          keys.add(kn.get(j).asText());
          if (keyType == DType.INT64 && !kn.get(j).asText().matches("-?[0-9]{1,19}")) {
            throw r.error(cp + ".keys[" + j + "]", "expected an int64 key in decimal");
          }
        }
        if (new HashSet<>(keys).size() != keys.size()) {
          throw r.error(cp + ".keys", "a key is listed twice");
        }
        String as = r.text(cm, "as", cp + ".as");
        if (!as.equals("array") && !as.equals("map")) {
          throw r.error(cp + ".as", "expected 'array' or 'map'");
        }
        try {
          classMap = new OutputSpec.ClassMap(keyType, keys, as.equals("map"));
        } catch (IllegalArgumentException e) {
          throw r.error(cp, e.getMessage());
        }
      }
      try {
        outs.add(new OutputSpec(r.text(o, "name", op + ".name"), r.text(o, "from", op + ".from"),
            r.dtype(o, op + ".dtype"), r.shape(o, op + ".shape"), labels, classMap));
      } catch (IllegalArgumentException e) {
        throw r.error(op, e.getMessage());
      }
    }
    JsonNode b = r.object(a.get("batching"), p + ".batching");
    r.keys(b, p + ".batching", Set.of("enabled", "max_batch_size", "max_latency_ms"));
    JsonNode en = b.get("enabled");
    JsonNode mbs = b.get("max_batch_size");
    JsonNode mlm = b.get("max_latency_ms");
    if (en == null || !en.isBoolean()) {
      throw r.error(p + ".batching.enabled", "expected true or false");
    }
    if (mbs == null || !mbs.isIntegralNumber() || !mbs.canConvertToInt()) {
      throw r.error(p + ".batching.max_batch_size", "expected an integer");
    }
    if (mlm == null || !mlm.isIntegralNumber() || !mlm.canConvertToInt()) {
      throw r.error(p + ".batching.max_latency_ms", "expected an integer");
    }
    BatchingSpec batching;
    try {
      batching = new BatchingSpec(en.asBoolean(), mbs.asInt(), mlm.asInt());
    } catch (IllegalArgumentException e) {
      throw r.error(p + ".batching", e.getMessage());
    }
    return new ApiSpec(name, model, new InputDescriptor(kind, cols, packInto), outs, batching);
  }

  /** Field access with path-naming errors. */
  private static final class Reader {
    private final String source;

    Reader(String source) {
      this.source = source;
    }

    BundleException error(String path, String msg) {
      return new BundleException(source + ": manifest.json " + path + ": " + msg);
    }

    void keys(JsonNode node, String path, Set<String> allowed) {
      for (Iterator<String> it = node.fieldNames(); it.hasNext();) {
        String k = it.next();
        if (!allowed.contains(k)) {
          throw error(path.isEmpty() ? k : path + "." + k, "unknown key, expected one of "
              + new java.util.TreeSet<>(allowed));
        }
      }
    }

    String text(JsonNode node, String key) {
      return text(node, key, key);
    }

    String text(JsonNode node, String key, String path) {
      JsonNode v = node.get(key);
      if (v == null || !v.isTextual()) {
        throw error(path, v == null ? "missing" : "expected a string");
      }
      return v.asText();
    }

    JsonNode object(JsonNode node, String path) {
      if (node == null || !node.isObject()) {
        throw error(path, node == null ? "missing" : "expected an object");
      }
      return node;
    }

    JsonNode array(JsonNode node, String key, String path) {
      JsonNode v = node.get(key);
      if (v == null || !v.isArray()) {
        throw error(path, v == null ? "missing" : "expected an array");
      }
      return v;
    }

    String sha(JsonNode node, String path) {
      JsonNode v = node.get("sha256");
      if (v == null || !v.isTextual() || !v.asText().matches("[0-9a-f]{64}")) {
        throw error(path, "expected 64 lower-case hex digits");
      }
      return v.asText();
    }

    DType dtype(JsonNode node, String path) {
      JsonNode v = node.get("dtype");
      if (v == null || !v.isTextual()) {
        throw error(path, "missing");
      }
      try {
        return DType.parse(v.asText());
      } catch (IllegalArgumentException e) {
        throw error(path, e.getMessage());
      }
    }

    List<Long> shape(JsonNode node, String path) {
      JsonNode v = node.get("shape");
      if (v == null || !v.isArray() || v.isEmpty()) {
        throw error(path, "expected a non-empty array of integers");
      }
      List<Long> dims = new ArrayList<>();
      for (int i = 0; i < v.size(); i++) {
        JsonNode d = v.get(i);
        if (!d.isIntegralNumber() || d.asLong() < -1 || d.asLong() == 0 && i == 0) {
          throw error(path + "[" + i + "]", "expected -1 or a positive integer");
        }
        dims.add(d.asLong());
      }
      if (dims.get(0) != -1) {
        throw error(path + "[0]", "the batch dimension must be -1");
      }
      return dims;
    }
  }
}
