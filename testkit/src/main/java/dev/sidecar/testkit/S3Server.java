package dev.sidecar.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A real S3 API server on loopback for tests: S3Proxy (its self-contained jar, in a child JVM
 * with its own class path, so its Jetty, Jackson, Guava and Netty never meet Spark's), on
 * {@code 127.0.0.1} and an ephemeral port, with a filesystem backend in a private temporary
 * directory and AWS signature checking against credentials made for this server.
 *
 * <p>The jar comes from the system property {@value #JAR_PROPERTY}, which the modules that use
 * this set in their Surefire configuration (the jar is copied by maven-dependency-plugin, not put
 * on the test class path). {@link #close()} stops the server and deletes its data.
 */
public final class S3Server implements AutoCloseable {
  /** The system property naming S3Proxy's {@code jar-with-dependencies}. */
  public static final String JAR_PROPERTY = "sidecar.test.s3proxyJar";
  /** The region the s3a connector is told; S3Proxy accepts any. */
  public static final String REGION = "us-east-1";

  private static final Pattern STARTED =
      Pattern.compile("Started \\S*ServerConnector@\\S*\\{[^}]*\\}\\{127\\.0\\.0\\.1:(\\d+)\\}");
  private static final long START_TIMEOUT_SECONDS = 180;

  private final Process process;
  private final Path dir;
  private final Path data;
  private final String bucket;
  private final Path log;
  private final int port;
  private final String accessKey;
  private final String secretKey;

  private S3Server(Process process, Path dir, Path log, int port, String accessKey,
      String secretKey, String bucket) {
    this.process = process;
    this.dir = dir;
    this.data = dir.resolve("data");
    this.bucket = bucket;
    this.log = log;
    this.port = port;
    this.accessKey = accessKey;
    this.secretKey = secretKey;
  }

  /**
   * Starts a server with one empty bucket ({@link #bucket()}); returns once it accepts
   * connections. Bucket names are random: Hadoop caches a file system per scheme and bucket for
   * the life of the JVM, so a bucket name must not outlive its server.
   */
  public static S3Server start() {
    String jarName = System.getProperty(JAR_PROPERTY);
    if (jarName == null || !Files.isRegularFile(Path.of(jarName))) {
      throw new IllegalStateException("S3Proxy's jar is not there: system property "
          + JAR_PROPERTY + " = " + jarName + " (the module's pom copies it to target/s3proxy)");
    }
    SecureRandom random = new SecureRandom();
    String accessKey = "AK" + hex(random, 8);
    String secretKey = hex(random, 20);
    Path dir;
    try {
      dir = Files.createTempDirectory("s3server-",
          PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
      Path data = Files.createDirectory(dir.resolve("data"));
      String bucket = newBucket(data);
      Path conf = dir.resolve("s3proxy.conf");
      Files.writeString(conf, String.join("\n",
          "s3proxy.endpoint=http://127.0.0.1:0",
          "s3proxy.authorization=aws-v2-or-v4",
          "s3proxy.identity=" + accessKey,
          "s3proxy.credential=" + secretKey,
          "jclouds.provider=filesystem-nio2",
          "jclouds.identity=local", // unused by the filesystem backend, but required
          "jclouds.credential=local",
          "jclouds.filesystem.basedir=" + data,
          ""), StandardCharsets.UTF_8);
      Path log = dir.resolve("s3proxy.log");
      ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin",
          "java").toString(), "-Xmx256m", "-XX:TieredStopAtLevel=1", "-jar", jarName,
          "--properties", conf.toString())
          .redirectErrorStream(true)
          .redirectOutput(log.toFile());
      pb.environment().put("LOG_LEVEL", "info"); // the "Started ServerConnector" line is INFO
      Process process = pb.start();
      S3Server server;
      try {
        server = new S3Server(process, dir, log, awaitPort(process, log), accessKey, secretKey,
            bucket);
      } catch (RuntimeException | Error e) {
        process.destroyForcibly();
        throw e;
      }
      return server;
    } catch (IOException e) {
      throw new UncheckedIOException("could not start S3Proxy", e);
    }
  }

  private static String newBucket(Path data) throws IOException {
    String name = "bucket-" + hex(new SecureRandom(), 6);
    Files.createDirectory(data.resolve(name)); // a bucket is a directory of the backend
    return name;
  }

  private static int awaitPort(Process process, Path log) throws IOException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(START_TIMEOUT_SECONDS);
    while (System.nanoTime() < deadline) {
      Matcher m = STARTED.matcher(Files.readString(log, StandardCharsets.UTF_8));
      if (m.find()) {
        return Integer.parseInt(m.group(1));
      }
      if (!process.isAlive()) {
        throw new IllegalStateException("S3Proxy exited with " + process.exitValue()
            + " before listening:\n" + tail(log));
      }
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while S3Proxy started", e);
      }
    }
    throw new IllegalStateException("S3Proxy did not listen within " + START_TIMEOUT_SECONDS
        + " s:\n" + tail(log));
  }

  private static String tail(Path log) throws IOException {
    // Without logback's report on its own configuration.
    List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8).stream()
        .filter(l -> !l.matches("^[0-9:,]+ \\|-.*")).toList();
    return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
  }

  private static String hex(SecureRandom random, int bytes) {
    byte[] b = new byte[bytes];
    random.nextBytes(b);
    return HexFormat.of().formatHex(b);
  }

  /** The bucket made at start. */
  public String bucket() {
    return bucket;
  }

  /** {@code s3a://<bucket>/<key>}. */
  public String uri(String key) {
    return "s3a://" + bucket + "/" + key;
  }

  /** Makes another empty bucket, with a new random name, and returns its name. */
  public String createBucket() {
    try {
      return newBucket(data);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** {@code http://127.0.0.1:<port>}. */
  public String endpoint() {
    return "http://127.0.0.1:" + port;
  }

  public String accessKey() {
    return accessKey;
  }

  public String secretKey() {
    return secretKey;
  }

  /** The server's log (S3Proxy and Jetty), for a failing test's message. */
  public Path log() {
    return log;
  }

  /**
   * The Hadoop configuration a cluster would carry for this endpoint: the s3a connector's
   * endpoint, region, path-style access, plain HTTP, and these credentials (as keys without
   * {@code spark.hadoop.}, the prefix a Spark configuration puts before them).
   */
  public Map<String, String> s3aConfiguration() {
    Map<String, String> conf = new LinkedHashMap<>(s3aEndpointOnly());
    conf.put("fs.s3a.access.key", accessKey);
    conf.put("fs.s3a.secret.key", secretKey);
    return conf;
  }

  /**
   * The endpoint settings of {@link #s3aConfiguration()} without credentials, the provider set to
   * the configuration's keys only (so a test without keys does not reach for the environment or
   * an instance-metadata service), and few retries.
   */
  public Map<String, String> s3aEndpointOnly() {
    Map<String, String> conf = new LinkedHashMap<>();
    conf.put("fs.s3a.endpoint", endpoint());
    conf.put("fs.s3a.endpoint.region", REGION);
    conf.put("fs.s3a.path.style.access", "true");
    conf.put("fs.s3a.connection.ssl.enabled", "false");
    conf.put("fs.s3a.aws.credentials.provider",
        "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider");
    // S3Proxy's filesystem backend keeps a directory marker (what s3a's mkdirs writes) as a
    // directory and lists it without an ETag, which s3a's rename (a copy) otherwise refuses.
    conf.put("fs.s3a.change.detection.version.required", "false");
    conf.put("fs.s3a.attempts.maximum", "2");
    conf.put("fs.s3a.retry.limit", "2");
    return conf;
  }

  @Override
  public void close() {
    process.destroy();
    try {
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("could not delete S3Proxy's data in " + dir, e);
    }
  }
}
