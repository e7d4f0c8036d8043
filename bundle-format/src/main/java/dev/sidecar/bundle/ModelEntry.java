package dev.sidecar.bundle;

/** A model file of the bundle: its name, path relative to the bundle root, format and SHA-256. */
public record ModelEntry(String name, String path, String format, String sha256) {
  public static final String FORMAT_ONNX = "onnx";
}
