package dev.sidecar.spark;

/**
 * The one exception the connector throws: a schema that does not fit the API, a bundle that
 * cannot be found, a sidecar that failed to start or died, or a row the sidecar rejected.
 * The message names the column, row, API or sidecar involved. It crosses from executors to the
 * driver, so it carries no non-serializable causes.
 */
public class SidecarSparkException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public SidecarSparkException(String message) {
    super(message);
  }

  public SidecarSparkException(String message, Throwable cause) {
    super(message, cause);
  }
}
