package dev.sidecar.testkit;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;

/**
 * A real HTTP or HTTPS server on 127.0.0.1 (an ephemeral port) serving files by path, for tests
 * of bundles read from URLs. HTTPS uses a self-signed certificate for 127.0.0.1 and localhost
 * made with the JDK's {@code keytool}; {@link #trustStore()} is a PKCS#12 trust store holding it,
 * for the standard {@code javax.net.ssl.trustStore} properties. Paths can be made to answer
 * 403; {@link #truncatedUrl} closes the connection half way (a truncated download),
 * {@link #stallingUrl} goes silent half way (a stalled one).
 */
public final class LoopbackHttpServer implements AutoCloseable {
  /** The trust store's password. */
  public static final String TRUST_STORE_PASSWORD = "changeit";

  private final HttpServer server;
  private final ExecutorService pool = Executors.newFixedThreadPool(4);
  private final Map<String, Path> files = new ConcurrentHashMap<>();
  private final Map<String, String> behaviour = new ConcurrentHashMap<>();
  private final Map<String, AtomicInteger> gets = new ConcurrentHashMap<>();
  private final Path trustStore;
  private final List<java.io.Closeable> raw = new java.util.concurrent.CopyOnWriteArrayList<>();

  private LoopbackHttpServer(HttpServer server, Path trustStore) {
    this.server = server;
    this.trustStore = trustStore;
    server.createContext("/", this::handle);
    server.setExecutor(pool);
    server.start();
  }

  /** Plain HTTP on 127.0.0.1. */
  public static LoopbackHttpServer http() throws IOException {
    return new LoopbackHttpServer(HttpServer.create(loopback(), 16), null);
  }

  /** HTTPS on 127.0.0.1 with a fresh self-signed certificate; key material goes in {@code dir}. */
  public static LoopbackHttpServer https(Path dir) throws IOException {
    Path keyStore = dir.resolve("server.p12");
    Path cert = dir.resolve("server.crt");
    Path trust = dir.resolve("trust.p12");
    Files.createDirectories(dir);
    Files.deleteIfExists(keyStore);
    Files.deleteIfExists(cert);
    Files.deleteIfExists(trust);
    keytool("-genkeypair", "-alias", "server", "-keyalg", "RSA", "-keysize", "2048",
        "-validity", "2", "-dname", "CN=localhost", "-ext", "SAN=ip:127.0.0.1,dns:localhost",
        "-storetype", "PKCS12", "-keystore", keyStore.toString(),
        "-storepass", TRUST_STORE_PASSWORD, "-keypass", TRUST_STORE_PASSWORD);
    keytool("-exportcert", "-alias", "server", "-keystore", keyStore.toString(),
        "-storepass", TRUST_STORE_PASSWORD, "-rfc", "-file", cert.toString());
    keytool("-importcert", "-noprompt", "-alias", "server", "-file", cert.toString(),
        "-storetype", "PKCS12", "-keystore", trust.toString(), "-storepass",
        TRUST_STORE_PASSWORD);
    try {
      KeyStore ks = KeyStore.getInstance("PKCS12");
      try (InputStream in = Files.newInputStream(keyStore)) {
        ks.load(in, TRUST_STORE_PASSWORD.toCharArray());
      }
      KeyManagerFactory kmf = KeyManagerFactory.getInstance(
          KeyManagerFactory.getDefaultAlgorithm());
      kmf.init(ks, TRUST_STORE_PASSWORD.toCharArray());
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(kmf.getKeyManagers(), null, null);
      HttpsServer s = HttpsServer.create(loopback(), 16);
      s.setHttpsConfigurator(new HttpsConfigurator(ctx));
      return new LoopbackHttpServer(s, trust);
    } catch (java.security.GeneralSecurityException e) {
      throw new IOException("cannot set up TLS for the test server: " + e, e);
    }
  }

  private static void keytool(String... args) throws IOException {
    Path bin = Path.of(System.getProperty("java.home"), "bin", "keytool");
    List<String> cmd = new java.util.ArrayList<>(List.of(bin.toString()));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    try {
      String out = new String(p.getInputStream().readAllBytes());
      if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
        p.destroyForcibly();
        throw new IOException("keytool " + args[0] + " failed: " + out);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
  }

  private static InetSocketAddress loopback() {
    return new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
  }

  /** The trust store (PKCS#12, {@link #TRUST_STORE_PASSWORD}) of an HTTPS server; null for HTTP. */
  public Path trustStore() {
    return trustStore;
  }

  /** The URL of {@code path} ({@code /name.bundle}) on this server. */
  public String url(String path) {
    return (server instanceof HttpsServer ? "https" : "http") + "://127.0.0.1:"
        + server.getAddress().getPort() + path;
  }

  /** Serves {@code file} at {@code path} (replacing what was there). */
  public LoopbackHttpServer serve(String path, Path file) {
    files.put(path, file);
    behaviour.remove(path);
    return this;
  }

  /** {@code path} answers 403 Forbidden. */
  public LoopbackHttpServer forbid(String path) {
    behaviour.put(path, "403");
    return this;
  }

  /**
   * A URL on a separate one-connection-at-a-time server on 127.0.0.1 that answers every request
   * with 200, declaring {@code file}'s full length but sending only its first {@code bytes}
   * before closing the connection: a truncated download. Stopped with this server.
   */
  public String truncatedUrl(Path file, long bytes) throws IOException {
    return partialUrl(file, bytes, false);
  }

  /**
   * Like {@link #truncatedUrl}, but after the first {@code bytes} the connection stays open and
   * silent until the client closes it or this server stops: a stalled download.
   */
  public String stallingUrl(Path file, long bytes) throws IOException {
    return partialUrl(file, bytes, true);
  }

  private String partialUrl(Path file, long bytes, boolean stall) throws IOException {
    ServerSocket ss = new ServerSocket(0, 16, InetAddress.getLoopbackAddress());
    raw.add(ss);
    pool.execute(() -> {
      while (!ss.isClosed()) {
        try (Socket s = ss.accept()) {
          raw.add(s); // closed by close() too, if a stalled client never hangs up
          InputStream in = s.getInputStream();
          int matched = 0;
          int c;
          while (matched < 4 && (c = in.read()) >= 0) { // up to the blank line
            matched = (c == (matched % 2 == 0 ? '\r' : '\n')) ? matched + 1 : 0;
          }
          OutputStream out = s.getOutputStream();
          out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + Files.size(file)
              + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
          try (InputStream f = Files.newInputStream(file)) {
            out.write(f.readNBytes((int) bytes));
          }
          out.flush();
          if (stall) {
            in.transferTo(OutputStream.nullOutputStream()); // until the client hangs up
          }
        } catch (IOException e) {
          // closed by close(), or the client went away
        }
        raw.removeIf(c -> c instanceof Socket s && s.isClosed());
      }
    });
    return "http://127.0.0.1:" + ss.getLocalPort() + "/" + file.getFileName();
  }

  /** How many GETs {@code path} received. */
  public int gets(String path) {
    AtomicInteger n = gets.get(path);
    return n == null ? 0 : n.get();
  }

  private void handle(HttpExchange ex) throws IOException {
    String path = ex.getRequestURI().getPath();
    gets.computeIfAbsent(path, p -> new AtomicInteger()).incrementAndGet();
    try (ex) {
      String how = behaviour.getOrDefault(path, "");
      Path file = files.get(path);
      if (how.equals("403")) {
        ex.sendResponseHeaders(403, -1);
        return;
      }
      if (file == null || !Files.isRegularFile(file)) {
        ex.sendResponseHeaders(404, -1);
        return;
      }
      long size = Files.size(file);
      ex.sendResponseHeaders(200, size);
      try (InputStream in = Files.newInputStream(file); OutputStream out = ex.getResponseBody()) {
        in.transferTo(out);
      }
    }
  }

  @Override
  public void close() {
    server.stop(0);
    for (java.io.Closeable c : raw) {
      try {
        c.close();
      } catch (IOException e) {
        // closing anyway
      }
    }
    pool.shutdownNow();
  }
}
