package dev.sidecar.spark.internal;

import dev.sidecar.bundle.BundleException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Flow;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Reading bundle archives from elsewhere: bounded, length-checked copies of a stream (any
 * source), and {@code https://} (plus {@code http://} to loopback hosts, for tests) with the
 * JDK's HTTP client. TLS trust is the JVM's: the default trust store, or the standard
 * {@code javax.net.ssl.trustStore} system properties. An HTTP download fails when connecting
 * takes 30 s, when the response headers take 5 minutes, and when the server sends nothing for
 * {@link #IDLE_READ_TIMEOUT} while the body is read (a stalled server would otherwise hang the
 * reader for good: the JDK client has no read timeout of its own).
 */
public final class Downloads {
  private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(30);
  /** How long a read of an HTTP body waits for the server's next bytes before failing. */
  public static final Duration IDLE_READ_TIMEOUT = Duration.ofSeconds(60);

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
   * object is missing, 401/403 that access was denied; other failures name the status. A read
   * of the body that gets no bytes for {@link #IDLE_READ_TIMEOUT} fails with an
   * {@link HttpTimeoutException} saying how many bytes had come.
   */
  public static Opened openHttp(URI uri) {
    return openHttp(uri, IDLE_READ_TIMEOUT);
  }

  /** {@link #openHttp(URI)} with another idle-read timeout (tests). */
  static Opened openHttp(URI uri, Duration idleReadTimeout) {
    String shown = uri.toString();
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    if (!isHttp(scheme) || uri.getHost() == null) {
      throw new BundleException(shown + ": not an http(s) URL with a host");
    }
    if (scheme.equals("http") && !isLoopback(uri.getHost())) {
      throw new BundleException(shown + ": plain http:// is accepted for loopback hosts only"
          + " (tests); use https://");
    }
    HttpResponse<Flow.Publisher<List<ByteBuffer>>> r;
    try {
      r = http().send(HttpRequest.newBuilder(uri).GET().timeout(Duration.ofMinutes(5)).build(),
          HttpResponse.BodyHandlers.ofPublisher());
    } catch (IOException e) {
      throw new BundleException(shown + ": cannot connect: " + e, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new BundleException(shown + ": interrupted", e);
    }
    IdleTimeoutBody body = new IdleTimeoutBody(idleReadTimeout);
    r.body().subscribe(body);
    int code = r.statusCode();
    if (code != 200) {
      body.close(); // the status is the error
      throw new BundleException(shown + ": " + switch (code) {
        case 404, 410 -> "no such object (HTTP " + code + ")";
        case 401, 403 -> "access denied (HTTP " + code + "); the server wants credentials"
            + " this URL does not carry";
        default -> "HTTP " + code + " from the server";
      });
    }
    long length = r.headers().firstValueAsLong("Content-Length").orElse(-1L);
    return new Opened(body, length);
  }

  /**
   * An HTTP response body as a stream whose reads wait at most {@code idle} for the server's
   * next bytes, then cancel the exchange and fail naming the bytes received so far. Time spent
   * by the reader between reads does not count.
   */
  static final class IdleTimeoutBody extends InputStream
      implements Flow.Subscriber<List<ByteBuffer>> {
    private static final Object END = new Object();
    private final BlockingQueue<Object> arrived = new LinkedBlockingQueue<>();
    private final Duration idle;
    private volatile Flow.Subscription subscription;
    private volatile boolean closed;
    private Iterator<ByteBuffer> batch = Collections.emptyIterator();
    private ByteBuffer current = ByteBuffer.allocate(0);
    private boolean batchTaken;
    private boolean ended;
    private IOException failed;
    private long received;

    IdleTimeoutBody(Duration idle) {
      this.idle = idle;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
      subscription = s;
      if (closed) {
        s.cancel();
      } else {
        s.request(1);
      }
    }

    @Override
    public void onNext(List<ByteBuffer> item) {
      arrived.add(item);
    }

    @Override
    public void onError(Throwable t) {
      arrived.add(t);
    }

    @Override
    public void onComplete() {
      arrived.add(END);
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      Objects.checkFromIndexSize(off, len, b.length);
      if (closed) {
        throw new IOException("the download stream is closed");
      }
      if (len == 0) {
        return 0;
      }
      while (!current.hasRemaining()) {
        if (failed != null) {
          throw failed;
        }
        if (batch.hasNext()) {
          current = batch.next();
          continue;
        }
        if (ended) {
          return -1;
        }
        if (batchTaken) {
          batchTaken = false;
          subscription.request(1);
        }
        Object next;
        try {
          next = arrived.poll(idle.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          close();
          throw new InterruptedIOException("interrupted after " + received + " bytes");
        }
        if (next == null) {
          close();
          throw new HttpTimeoutException("stalled: no bytes from the server for "
              + shown(idle) + " (idle-read timeout) after " + received + " bytes");
        }
        if (next == END) {
          ended = true;
        } else if (next instanceof Throwable t) {
          failed = t instanceof IOException io ? io
              : new IOException("after " + received + " bytes: " + t, t);
        } else {
          @SuppressWarnings("unchecked")
          List<ByteBuffer> list = (List<ByteBuffer>) next;
          batch = list.iterator();
          batchTaken = true;
        }
      }
      int n = Math.min(len, current.remaining());
      current.get(b, off, n);
      received += n;
      return n;
    }

    private static String shown(Duration d) {
      return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
    }

    @Override
    public int available() {
      return current.remaining();
    }

    @Override
    public void close() {
      if (closed) {
        return;
      }
      closed = true;
      Flow.Subscription s = subscription;
      if (s != null) {
        s.cancel();
      }
    }
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
