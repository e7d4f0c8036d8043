package dev.sidecar.bundle;

/**
 * The one exception of the bundle module. Its message is meant for the user: it names the file,
 * the field path, the API, column or model input concerned, and what was expected versus found.
 */
public class BundleException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public BundleException(String message) {
    super(message);
  }

  public BundleException(String message, Throwable cause) {
    super(message, cause);
  }
}
