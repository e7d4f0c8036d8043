package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.testkit.LoopbackHttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What a user's job looks like: a Spark standalone cluster on loopback (a Master and two Workers,
 * each its own JVM started from Spark's own classes, with nothing but Spark's jars), and
 * {@code spark-submit --deploy-mode cluster --jars <shaded connector jar>} of a small
 * application ({@link SubmitIrisApp}) whose driver runs inside a Worker, reads the bundle from an
 * HTTPS server on loopback, scores iris through {@code Sidecar.runSpark} and writes CSV. The
 * predictions must equal the example's expected ones, and the sidecars' own Stats (queried from
 * the executors by the application) must show one sidecar per executor, each its own process,
 * together serving every row once.
 */
@Timeout(value = 8, unit = TimeUnit.MINUTES)
@org.junit.jupiter.api.Tag("standalone-cluster")
@EveryLine
class SparkSubmitIT {
  private static final int EXECUTORS = 2;
  private static final String OPENS = System.getProperty("sidecar.java17.opens", "").trim();
  /**
   * For every JVM of the cluster (Master, Workers, spark-submit, the driver, the executors): the
   * client compiler only and one GC thread, as these short runs on a small machine are spent
   * starting up, not in hot loops.
   */
  private static final String LEAN = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC";

  private static final Pattern FINAL_STATE =
      Pattern.compile("State of driver \\S+ is (\\w+), exiting spark-submit JVM");
  private static TestBundles.Built iris;
  private static Path work;
  private static StandaloneCluster cluster;
  private static LoopbackHttpServer https;

  @BeforeAll
  static void startCluster() throws Exception {
    iris = TestBundles.iris();
    Path tmp = Files.createDirectories(Path.of("target", "tmp").toAbsolutePath());
    work = Files.createTempDirectory(tmp, "spark-submit-");
    https = LoopbackHttpServer.https(work.resolve("tls"));
    https.serve("/models/iris.bundle", iris.archive());
    cluster = StandaloneCluster.start(work, EXECUTORS);
  }

  @AfterAll
  static void stopCluster() {
    try {
      if (cluster != null) {
        cluster.close();
      }
    } finally {
      if (https != null) {
        https.close();
      }
    }
  }

  /** Where the driver reads the bundle from, digest pinned: the one argument that names it. */
  private static String bundleLocation() {
    return https.url("/models/iris.bundle") + "#" + iris.digest();
  }

  /**
   * The driver's and the executors' JVMs trust the test server's self-signed certificate the
   * standard way: both read the bundle from it.
   */
  private static String trustOptions() {
    return "-Djavax.net.ssl.trustStore=" + https.trustStore()
        + " -Djavax.net.ssl.trustStorePassword=" + LoopbackHttpServer.TRUST_STORE_PASSWORD
        + " -Djavax.net.ssl.trustStoreType=PKCS12";
  }

  /**
   * spark-submit of {@link SubmitIrisApp}; the driver's final state, once it is done. (In cluster
   * mode on standalone, spark-submit exits with 0 whatever the driver's state: the state is in
   * its log.)
   */
  private static String submit(String name, String bundle, Path out) throws Exception {
    Process submit = cluster.submit(name, appJar(work), SubmitIrisApp.class.getName(),
        ShadedJarIT.shadedJar().toAbsolutePath(), trustOptions(), List.of(bundle,
            TestBundles.irisDir().resolve("iris.csv").toString(), out.toString(),
            iris.digest(), Integer.toString(EXECUTORS)));
    assertTrue(submit.waitFor(7, TimeUnit.MINUTES), "spark-submit finished\n"
        + cluster.diagnostics());
    assertEquals(0, submit.exitValue(), "spark-submit's exit code\n" + cluster.diagnostics());
    Matcher m = FINAL_STATE.matcher(Files.readString(work.resolve(name + ".log")));
    assertTrue(m.find(), "spark-submit logged the driver's final state\n" + cluster.diagnostics());
    return m.group(1);
  }

  @Test
  void sparkSubmitInClusterModeScoresIrisWithOneSidecarPerExecutor() throws Exception {
    Path out = Files.createDirectories(work.resolve("out"));
    assertEquals("FINISHED", submit("submit", bundleLocation(), out),
        "the driver's final state\n" + cluster.diagnostics());
    assertTrue(cluster.driverRanInAWorker(), "the driver ran inside a Worker (cluster mode)\n"
        + cluster.diagnostics());
    checkSidecars(out.resolve("sidecars.csv"), cluster);
    assertTrue(https.gets("/models/iris.bundle") >= 1 + EXECUTORS, "the driver and each executor "
        + "read the bundle from the HTTPS server: " + https.gets("/models/iris.bundle") + " GETs");
    checkPredictions(out.resolve("predictions"));
  }

  /** The CSV files the job wrote (id,label,p0,p1,p2): every iris row, as expected. */
  private static void checkPredictions(Path dir) throws IOException {
    List<String> lines = new ArrayList<>();
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.filter(f -> f.getFileName().toString().endsWith(".csv"))
          .collect(Collectors.toList())) {
        List<String> part = Files.readAllLines(f, StandardCharsets.UTF_8);
        assertEquals("id,label,p0,p1,p2", part.get(0), "header of " + f);
        lines.addAll(part.subList(1, part.size()));
      }
    }
    Set<Long> ids = new HashSet<>();
    for (String line : lines) {
      String[] f = line.split(",");
      long id = Long.parseLong(f[0]);
      assertTrue(ids.add(id), "row " + id + " written once");
      Iris.assertMatchesExpected(id, f[1], new double[] {Double.parseDouble(f[2]),
          Double.parseDouble(f[3]), Double.parseDouble(f[4])});
    }
    assertEquals(Iris.rows(), ids.size(), "every iris row was scored");
  }

  /** A bundle URI that answers 404: the job fails, and the driver's log names the URI. */
  @Test
  void aMissingBundleFailsTheJobWithTheUriInTheDriversLog() throws Exception {
    Path out = Files.createDirectories(work.resolve("out-missing"));
    String missing = https.url("/models/no-such.bundle");
    assertEquals("FAILED", submit("submit-missing", missing, out), "the driver's final state\n"
        + cluster.diagnostics());
    // The driver's log also holds its launch command, which names every argument: look for
    // the exception's own line.
    assertTrue(cluster.driverLogs().lines().anyMatch(l -> l.contains("Exception")
        && l.contains(missing)), "the driver's log has an exception naming the missing bundle\n"
        + cluster.diagnostics());
    assertTrue(!Files.exists(out.resolve("predictions")), "no output");
  }

  /** What each executor's sidecar said of itself through Stats, as the application wrote it. */
  private static void checkSidecars(Path report, StandaloneCluster cluster) throws IOException {
    assertTrue(Files.isRegularFile(report), "the application wrote " + report + "\n"
        + cluster.diagnostics());
    List<String> lines = Files.readAllLines(report, StandardCharsets.UTF_8);
    String all = String.join("\n", lines);
    assertEquals(EXECUTORS, lines.size() - 1, "every executor answered the probe:\n" + all);
    long rows = 0;
    Set<String> instances = new HashSet<>();
    Set<String> pids = new HashSet<>();
    for (String line : lines.subList(1, lines.size())) {
      // executor,instance_id,sidecar_pid,rows,streams,starts,executor_pid
      String[] f = line.split(",", -1);
      assertTrue(!f[1].isEmpty(), "executor " + f[0] + " runs a sidecar:\n" + all);
      assertEquals("1", f[5], "executor " + f[0] + " started exactly one sidecar:\n" + all);
      assertNotEquals(f[6], f[2], "executor " + f[0] + "'s sidecar is its own process:\n" + all);
      assertTrue(Long.parseLong(f[3]) > 0, "executor " + f[0] + "'s sidecar scored rows:\n" + all);
      instances.add(f[1]);
      pids.add(f[2]);
      rows += Long.parseLong(f[3]);
    }
    assertEquals(EXECUTORS, instances.size(), "one sidecar per executor:\n" + all);
    assertEquals(EXECUTORS, pids.size(), "one sidecar process per executor:\n" + all);
    assertEquals(150, rows, "the sidecars' own counters add up to iris's 150 rows:\n" + all);
  }

  /** The application's jar: {@link SubmitIrisApp} and the probe it runs, from test-classes. */
  private static Path appJar(Path work) throws Exception {
    Path classes = Path.of(SubmitIrisApp.class.getProtectionDomain().getCodeSource().getLocation()
        .toURI());
    String pkg = SubmitIrisApp.class.getPackageName().replace('.', '/');
    Manifest manifest = new Manifest();
    manifest.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
    Path jar = work.resolve("submit-iris-app.jar");
    if (Files.isRegularFile(jar)) {
      return jar;
    }
    try (OutputStream file = Files.newOutputStream(jar);
        JarOutputStream out = new JarOutputStream(file, manifest);
        Stream<Path> files = Files.list(classes.resolve(pkg))) {
      List<Path> picked = files.filter(p -> {
        String n = p.getFileName().toString();
        return n.endsWith(".class")
            && (n.startsWith("SubmitIrisApp") || n.startsWith("ExecutorProbe"));
      }).sorted().collect(Collectors.toList());
      assertEquals(2, picked.size(), "the application's classes in " + classes + ": " + picked);
      for (Path p : picked) {
        out.putNextEntry(new JarEntry(pkg + "/" + p.getFileName()));
        out.write(Files.readAllBytes(p));
        out.closeEntry();
      }
    }
    return jar;
  }

  /**
   * A Master and Workers on 127.0.0.1, each a JVM of Spark's own classes with a SPARK_HOME whose
   * jars/ holds only Spark's jars; closing it stops every process it started and everything
   * those started (drivers, executors, sidecars), even when the test failed or timed out.
   */
  static final class StandaloneCluster implements AutoCloseable {
    private final Path work;
    private final Path sparkHome;
    private final int masterPort;
    private final List<Process> processes = new ArrayList<>();
    private final Thread hook = new Thread(this::stopAll, "standalone-cluster-stop");

    private StandaloneCluster(Path work) throws IOException {
      this.work = work;
      this.sparkHome = work.resolve("spark-home");
      Path jars = Files.createDirectories(sparkHome.resolve("jars"));
      for (Path jar : TestClasspath.sparkJars()) {
        Path link = jars.resolve(jar.getFileName());
        if (!Files.exists(link)) {
          Files.createSymbolicLink(link, jar);
        }
      }
      this.masterPort = freePort();
      Runtime.getRuntime().addShutdownHook(hook);
    }

    static StandaloneCluster start(Path work, int workers) throws Exception {
      StandaloneCluster c = new StandaloneCluster(work);
      try {
        Process master = c.launch("master", "org.apache.spark.deploy.master.Master",
            List.of("-Dspark.master.rest.enabled=false"),
            List.of("--host", "127.0.0.1", "--port", Integer.toString(c.masterPort),
                "--webui-port", "0"));
        c.awaitPort(master, c.masterPort);
        for (int i = 1; i <= workers; i++) {
          // Two cores, 1 GB: room for the driver (one core, 512 MB) beside an executor.
          c.launch("worker-" + i, "org.apache.spark.deploy.worker.Worker", List.of(),
              List.of("--host", "127.0.0.1", "--port", "0", "--webui-port", "0", "--cores", "2",
                  "--memory", "1g", "--work-dir",
                  Files.createDirectories(work.resolve("worker-" + i)).toString(), c.masterUrl()));
        }
        return c;
      } catch (Exception | Error e) {
        c.close();
        throw e;
      }
    }

    String masterUrl() {
      return "spark://127.0.0.1:" + masterPort;
    }

    /**
     * spark-submit in cluster deploy mode through the Master (Spark's legacy client; the REST
     * server is off by default), waiting for the application to finish.
     */
    Process submit(String name, Path appJar, String mainClass, Path shadedJar,
        String jvmOptions, List<String> appArgs) throws IOException {
      Path tmp = Files.createDirectories(work.resolve("tmp"));
      String jvm = LEAN + " " + OPENS + " -Djava.io.tmpdir=" + tmp + " " + jvmOptions;
      List<String> args = new ArrayList<>(List.of("--master", masterUrl(),
          "--deploy-mode", "cluster",
          "--class", mainClass,
          "--jars", shadedJar.toString(),
          "--driver-memory", "512m", "--executor-memory", "512m",
          "--executor-cores", "1", "--total-executor-cores", Integer.toString(EXECUTORS),
          "--conf", "spark.standalone.submit.waitAppCompletion=true",
          "--conf", "spark.master.rest.enabled=false",
          "--conf", "spark.driver.host=127.0.0.1",
          "--conf", "spark.driver.bindAddress=127.0.0.1",
          "--conf", "spark.ui.enabled=false",
          // Start scoring once every executor is up, and let any free executor take any task
          // (the one shuffle's output sits on one executor), so each executor runs a sidecar.
          "--conf", "spark.scheduler.minRegisteredResourcesRatio=1.0",
          "--conf", "spark.scheduler.maxRegisteredResourcesWaitingTime=150s",
          "--conf", "spark.locality.wait=0s",
          "--conf", "spark.driver.extraJavaOptions=" + jvm + " -Dsidecar.home="
              + work.resolve("sidecar-home"),
          "--conf", "spark.executor.extraJavaOptions=" + jvm,
          // No sidecar home: each executor's cache in its own Spark local directory.
          "--conf", "spark.executorEnv.SIDECAR_HOME=",
          appJar.toString()));
      args.addAll(appArgs);
      return launch(name, "org.apache.spark.deploy.SparkSubmit", List.of(), args);
    }

    private Process launch(String name, String mainClass, List<String> jvmArgs, List<String> args)
        throws IOException {
      List<String> cmd = new ArrayList<>();
      cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
      cmd.add("-Xmx256m");
      cmd.addAll(Arrays.asList(LEAN.split(" ")));
      cmd.addAll(Arrays.asList(OPENS.split("\\s+")));
      cmd.add("-Djava.io.tmpdir=" + Files.createDirectories(work.resolve("tmp")));
      cmd.add("-Dspark.port.maxRetries=0");
      cmd.addAll(jvmArgs);
      cmd.add("-cp");
      cmd.add(sparkHome.resolve("jars") + "/*");
      cmd.add(mainClass);
      cmd.addAll(args);
      cmd.removeIf(String::isEmpty);
      ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
          .redirectOutput(work.resolve(name + ".log").toFile());
      Map<String, String> env = pb.environment();
      env.put("SPARK_HOME", sparkHome.toString());
      env.put("JAVA_HOME", System.getProperty("java.home"));
      env.put("SPARK_LOCAL_IP", "127.0.0.1");
      env.put("SPARK_LOCAL_DIRS", Files.createDirectories(work.resolve("local-" + name)).toString());
      env.remove("SIDECAR_HOME");
      assertTrue(env.get("SPARK_SCALA_VERSION") != null,
          "SPARK_SCALA_VERSION must be set (failsafe sets it): the Workers build their drivers' "
              + "and executors' class path from SPARK_HOME/jars with it");
      synchronized (processes) {
        Process p = pb.start();
        processes.add(p);
        return p;
      }
    }

    private void awaitPort(Process p, int port) throws Exception {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
      while (System.nanoTime() < deadline) {
        assertTrue(p.isAlive(), "the Master is running\n" + diagnostics());
        try (Socket s = new Socket()) {
          s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 1000);
          return;
        } catch (IOException notYet) {
          Thread.sleep(200);
        }
      }
      throw new AssertionError("the Master did not listen on " + port + "\n" + diagnostics());
    }

    /** A Worker launched a driver: its work directory has a driver-* folder. */
    boolean driverRanInAWorker() throws IOException {
      try (Stream<Path> s = Files.walk(work, 2)) {
        return s.anyMatch(p -> p.getParent() != null
            && p.getParent().getFileName().toString().startsWith("worker-")
            && p.getFileName().toString().startsWith("driver-") && Files.isDirectory(p));
      }
    }

    /** Every driver's stderr, whole. */
    String driverLogs() throws IOException {
      StringBuilder sb = new StringBuilder();
      try (Stream<Path> s = Files.walk(work, 3)) {
        for (Path p : s.filter(p -> p.getFileName().toString().equals("stderr")
            && p.getParent().getFileName().toString().startsWith("driver-"))
            .collect(Collectors.toList())) {
          sb.append(Files.readString(p, StandardCharsets.UTF_8));
        }
      }
      return sb.toString();
    }

    /** The tail of every log: the processes', and each driver's and executor's stderr. */
    String diagnostics() {
      StringBuilder sb = new StringBuilder();
      try (Stream<Path> s = Files.walk(work, 5)) {
        for (Path p : s.filter(p -> Files.isRegularFile(p) && (p.toString().endsWith(".log")
            || p.getFileName().toString().equals("stderr"))).sorted().collect(Collectors.toList())) {
          String text = Files.readString(p, StandardCharsets.UTF_8);
          sb.append("==== ").append(work.relativize(p)).append('\n')
              .append(text.length() > 3000 ? text.substring(text.length() - 3000) : text)
              .append('\n');
        }
      } catch (IOException e) {
        sb.append("(cannot read the logs: ").append(e).append(')');
      }
      return sb.toString();
    }

    @Override
    public void close() {
      stopAll();
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException exiting) {
        // the JVM is already exiting: the hook runs stopAll
      }
    }

    /**
     * Stops the processes this cluster started and all their descendants (drivers and executors
     * the Workers launched, sidecars the executors launched): TERM first, KILL after 10 s.
     */
    private void stopAll() {
      List<ProcessHandle> all = new ArrayList<>();
      synchronized (processes) {
        for (int round = 0; round < 3; round++) {
          List<ProcessHandle> found = new ArrayList<>();
          for (Process p : processes) {
            p.descendants().forEach(found::add);
            found.add(p.toHandle());
          }
          found.removeIf(h -> !h.isAlive());
          if (found.isEmpty()) {
            break;
          }
          found.forEach(ProcessHandle::destroy);
          all.addAll(found);
          long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
          for (ProcessHandle h : found) {
            long left = deadline - System.nanoTime();
            try {
              if (left > 0) {
                h.onExit().get(left, TimeUnit.NANOSECONDS);
              }
            } catch (Exception notYet) {
              // killed below
            }
          }
          found.stream().filter(ProcessHandle::isAlive).forEach(ProcessHandle::destroyForcibly);
        }
      }
      for (ProcessHandle h : all) {
        try {
          h.onExit().get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
          // reported by the check below
        }
      }
      List<Long> left = all.stream().filter(ProcessHandle::isAlive).map(ProcessHandle::pid)
          .collect(Collectors.toList());
      if (!left.isEmpty()) {
        throw new UncheckedIOException(new IOException("processes still running: " + left));
      }
    }

    private static int freePort() throws IOException {
      try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
        return s.getLocalPort();
      }
    }
  }
}
