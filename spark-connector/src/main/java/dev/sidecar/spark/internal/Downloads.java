package dev.sidecar.spark.internal;

import dev.sidecar.bundle.BundleException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Locale;

/**
 * Reading bundle archives from elsewhere: bounded, length-checked copies of a stream (any
 * source), and {@code https://} (plus {@code http://} to loopback hosts, for tests) with the
 * JDK's HTTP client. TLS trust is the JVM's: the default trust store, or the standard
 * {@code javax.net.ssl.trustStore} system properties.
 */
public final class Downloads {
  private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(30);

  private Downloads() {
  }

  /** An open remote object: its bytes and its length (-1 when the source does not say). */
  public record Opened(InputStream in, long length) implements AutoCloseable {
    @Override
    public void close() throws IOException {
      in.close();
    }
  }

  /** True for the schemes {@link #openHttp} handles. */
  public static boolean isHttp(String scheme) {
    return "https".equals(scheme) || "http".equals(scheme);
  }

  /**
   * Copies {@code in} to {@code out}: at most {@code maxBytes} (else an error naming the limit),
   * and exactly {@code length} bytes when it is known (else an error saying the download was
   * truncated, with both counts). Returns the bytes copied.
   */
  public static long copy(InputStream in, long length, OutputStream out, long maxBytes,
      String shownAs) {
    if (length > maxBytes) {
      throw tooLarge(shownAs, length, maxBytes);
    }
    byte[] buf = new byte[1 << 16];
    long n = 0;
    try {
      int k;
      while ((k = in.read(buf)) > 0) {
        n += k;
        if (n > maxBytes) {
          throw tooLarge(shownAs, n, maxBytes);
        }
        out.write(buf, 0, k);
      }
    } catch (IOException e) {
      if (length >= 0 && n < length) {
        throw truncated(shownAs, n, length, e);
      }
      throw new BundleException(shownAs + ": download failed after " + n + " bytes: "
          + e.getMessage(), e);
    }
    if (length >= 0 && n != length) {
      throw truncated(shownAs, n, length, null);
    }
    return n;
  }

  private static BundleException truncated(String shownAs, long got, long length, Exception e) {
    return new BundleException(shownAs + ": truncated download: received " + got + " of "
        + length + " bytes" + (e == null ? "" : " (" + e.getMessage() + ")")
        + "; nothing was used", e);
  }

  private static BundleException tooLarge(String shownAs, long n, long max) {
    return new BundleException(shownAs + ": larger than " + max + " bytes, the archive limit"
        + " (-Dsidecar.bundle.maxExpandedBytes); not downloaded");
  }

  /**
   * Opens an {@code https://} (or loopback {@code http://}) URI with a GET. 404/410 say the
   * object is missing, 401/403 that access was denied; other failures name the status.
   */
  public static Opened openHttp(URI uri) {
    String shown = uri.toString();
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    if (!isHttp(scheme) || uri.getHost() == null) {
      throw new BundleException(shown + ": not an http(s) URL with a host");
    }
    if (scheme.equals("http") && !isLoopback(uri.getHost())) {
      throw new BundleException(shown + ": plain http:// is accepted for loopback hosts only"
          + " (tests); use https://");
    }
    HttpResponse<InputStream> r;
    try {
      r = http().send(HttpRequest.newBuilder(uri).GET().timeout(Duration.ofMinutes(5)).build(),
          HttpResponse.BodyHandlers.ofInputStream());
    } catch (IOException e) {
      throw new BundleException(shown + ": cannot connect: " + e, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new BundleException(shown + ": interrupted", e);
    }
    int code = r.statusCode();
    if (code != 200) {
      try {
        r.body().close();
      } catch (IOException ignored) {
        // the status is the error
      }
      throw new BundleException(shown + ": " + switch (code) {
        case 404, 410 -> "no such object (HTTP " + code + ")";
        case 401, 403 -> "access denied (HTTP " + code + "); the server wants credentials"
            + " this URL does not carry";
        default -> "HTTP " + code + " from the server";
      });
    }
    long length = r.headers().firstValueAsLong("Content-Length").orElse(-1L);
    return new Opened(r.body(), length);
  }

  private static boolean isLoopback(String host) {
    try {
      String h = host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
      return InetAddress.getByName(h).isLoopbackAddress();
    } catch (UnknownHostException e) {
      return false;
    }
  }

  /** A client per download: TLS trust is read from the JVM's settings when it is first used. */
  private static HttpClient http() {
    return HttpClient.newBuilder().connectTimeout(CONNECT_TIMEOUT)
        .followRedirects(HttpClient.Redirect.NORMAL).build();
  }
}
