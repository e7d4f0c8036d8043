package dev.sidecar.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.bundle.BundleArchive;
import dev.sidecar.bundle.BundleStore;
import dev.sidecar.bundle.FileEntry;
import dev.sidecar.bundle.files.Digests;
import java.io.RandomAccessFile;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.stream.Stream;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * How often a {@code runSpark} call hashes a bundle's files, counted with {@link Digests#contentHashed}
 * (in {@code local[2]} the driver and the executor are this JVM; the sidecar process says in its
 * log whether it hashed): the driver once per call and not again for an unchanged file, the
 * executor once as it unpacks, the sidecar not at all. And what the driver no longer hashes is
 * still caught: a file changed after it was verified fails on the driver again.
 */
@Timeout(240)
class VerifyOnceTest {
  private static SparkSession spark;
  private static TestCacheRoot caches;

  @BeforeAll
  static void start() {
    caches = new TestCacheRoot();
    spark = TestSpark.local("local[2]", "VerifyOnceTest");
  }

  @AfterAll
  static void stop() {
    caches.restore();
    spark.stop();
  }

  private static long contentBytes(Path archive) {
    return BundleArchive.peek(archive).manifest().files().stream().mapToLong(FileEntry::size)
        .sum();
  }

  /**
   * Waits until {@code files} were last changed longer ago than the driver requires before it
   * remembers a verification (a write within the same clock tick could otherwise go unseen).
   */
  private static void settle(Path... files) throws Exception {
    for (Path f : files) {
      while (true) {
        FileTime c = (FileTime) Files.getAttribute(f, "unix:ctime", LinkOption.NOFOLLOW_LINKS);
        long newest = Math.max(c.toMillis(), Files.getLastModifiedTime(f).toMillis());
        long wait = newest + 3_500 - System.currentTimeMillis();
        if (wait <= 0) {
          break;
        }
        Thread.sleep(wait);
      }
    }
  }

  private static long scoredIdentically(Dataset<Row> scored) {
    return scored.selectExpr("sum(case when out = i64 then 1 end)").first().getLong(0);
  }

  @Test
  void theDriverHashesOnceTheExecutorOnceAndTheSidecarNot() throws Exception {
    Path cache = caches.fresh("verify-once");
    // A bundle of its own: no sidecar of another test serves its digest.
    TestBundles.Built bundle = TestBundles.kinds("verify_once", "1.0.0");
    long size = contentBytes(bundle.archive());
    settle(bundle.archive());
    Dataset<Row> df = spark.range(0, 30, 1, 2).selectExpr("id as i64");

    long before = Digests.contentHashed();
    Dataset<Row> scored = Sidecar.runSpark(bundle.archive(), "i64", df);
    assertEquals(size, Digests.contentHashed() - before, "the driver reads the archive in full");

    before = Digests.contentHashed();
    assertEquals(30L, scoredIdentically(scored));
    assertEquals(size, Digests.contentHashed() - before, "the executor hashes as it unpacks");
    String log;
    try (Stream<Path> logs = Files.list(cache.resolve("logs"))) {
      List<Path> mine = logs.filter(p -> p.getFileName().toString().startsWith("sidecar-"
          + bundle.digest().substring("sha256:".length(), "sha256:".length() + 12))).toList();
      assertEquals(1, mine.size(), "one sidecar: " + mine);
      log = Files.readString(mine.get(0));
    }
    assertTrue(log.contains("verified marker matches every file; not hashed again"), log);

    before = Digests.contentHashed();
    assertEquals(30L, scoredIdentically(Sidecar.runSpark(bundle.archive(), "i64", df)));
    assertEquals(0, Digests.contentHashed() - before,
        "the same unchanged file, planned and scored again: nothing hashed");

    // The Bundle overload finds the archive in the default store: a store of this test's own.
    String savedHome = System.getProperty("sidecar.home");
    System.setProperty("sidecar.home", cache.resolve("home").toString());
    try {
      BundleStore store = BundleStore.defaultStore();
      store.add(bundle.archive());
      Bundle loaded = store.load(bundle.info().manifest().tag());
      before = Digests.contentHashed();
      Dataset<Row> fromBundle = Sidecar.runSpark(loaded, "i64", df);
      assertEquals(size, Digests.contentHashed() - before,
          "the Bundle overload reads the store's (new) archive once, not twice");
      assertEquals(30L, scoredIdentically(fromBundle));
    } finally {
      if (savedHome == null) {
        System.clearProperty("sidecar.home");
      } else {
        System.setProperty("sidecar.home", savedHome);
      }
    }
  }

  /**
   * The file Spark serves for {@code fileName}: in local mode the driver's staged copy itself.
   */
  private static Path staged(String fileName) throws Exception {
    scala.collection.Iterator<?> files = ((scala.collection.Iterable<?>) org.apache.spark
        .SparkContext.class.getMethod("listFiles").invoke(spark.sparkContext())).iterator();
    while (files.hasNext()) {
      String f = (String) files.next();
      if (f.endsWith("/" + fileName)) {
        return Path.of(java.net.URI.create(f));
      }
    }
    throw new AssertionError(fileName + " is not among the files added to Spark");
  }

  /**
   * Also what the application does next: Spark keeps serving the bytes it was given (Spark 3.5
   * fails a task whose fetched file differs from the driver's first fetch of it), so the edits
   * below, made in place in the user's files after they were shipped, must not reach the staged
   * copy, and a job planned before them still scores.
   */
  @Test
  @EveryLine
  void aFileChangedAfterTheDriverVerifiedItFailsOnTheDriverAgain() throws Exception {
    caches.fresh("verify-changed");
    TestBundles.Built bundle = TestBundles.kinds("verify_changed", "1.0.0");
    Path flipped = TestBundles.root().resolve("verify_changed-flipped.bundle");
    Path cut = TestBundles.root().resolve("verify_changed-cut.bundle");
    Path replaced = TestBundles.root().resolve("verify_changed-replaced.bundle");
    for (Path p : new Path[] {flipped, cut, replaced}) {
      Files.copy(bundle.archive(), p, StandardCopyOption.REPLACE_EXISTING);
    }
    settle(flipped, cut, replaced);
    Dataset<Row> df = spark.range(0, 10, 1, 1).selectExpr("id as i64");
    Dataset<Row> plannedBefore = null;
    for (Path p : new Path[] {flipped, cut, replaced}) {
      Sidecar.runSpark(p, "i64", df); // verified, and remembered
      long before = Digests.contentHashed();
      plannedBefore = Sidecar.runSpark(p, "i64", df);
      assertEquals(0, Digests.contentHashed() - before, p + " is remembered");
    }
    // The three are the same bundle: one staged copy, private, not a link to any of them.
    Path staged = staged(String.format("verify_changed-%s.bundle",
        bundle.digest().substring("sha256:".length(), "sha256:".length() + 12)));
    for (Path p : new Path[] {flipped, cut, replaced}) {
      assertTrue(!Files.isSameFile(staged, p), staged + " is a copy, not " + p);
    }
    assertEquals("rw-------", PosixFilePermissions.toString(
        Files.getPosixFilePermissions(staged, LinkOption.NOFOLLOW_LINKS)), staged.toString());
    String stagedDigest = Digests.sha256Hex(Files.readAllBytes(staged));

    // A byte flipped in place, its mtime restored: the ctime moved.
    FileTime mtime = Files.getLastModifiedTime(flipped);
    try (RandomAccessFile f = new RandomAccessFile(flipped.toFile(), "rw")) {
      f.seek(f.length() - 200);
      int b = f.read();
      f.seek(f.length() - 200);
      f.write(~b & 0xff);
    }
    Files.setLastModifiedTime(flipped, mtime);
    SidecarSparkException e = assertThrows(SidecarSparkException.class,
        () -> Sidecar.runSpark(flipped, "i64", df));
    assertTrue(e.getMessage().contains(flipped.toString()), e.getMessage());

    try (FileChannel ch = FileChannel.open(cut, StandardOpenOption.WRITE)) {
      ch.truncate(ch.size() - 100);
    }
    e = assertThrows(SidecarSparkException.class, () -> Sidecar.runSpark(cut, "i64", df));
    assertTrue(e.getMessage().contains("truncated or corrupt"), e.getMessage());

    assertEquals(stagedDigest, Digests.sha256Hex(Files.readAllBytes(staged)),
        staged + " kept the bytes it was staged with");
    assertEquals(10L, scoredIdentically(plannedBefore), "a job planned before the edits");

    // Another bundle renamed over the file (a new inode): read afresh, its digest planned.
    TestBundles.Built other = TestBundles.kinds("verify_changed", "1.0.1");
    Path incoming = TestBundles.root().resolve("verify_changed-incoming.bundle");
    Files.copy(other.archive(), incoming, StandardCopyOption.REPLACE_EXISTING);
    Files.move(incoming, replaced, StandardCopyOption.REPLACE_EXISTING,
        StandardCopyOption.ATOMIC_MOVE);
    long before = Digests.contentHashed();
    Dataset<Row> scored = Sidecar.runSpark(replaced, "i64", df,
        RunOptions.builder().lineageColumns(true).build());
    assertEquals(contentBytes(replaced), Digests.contentHashed() - before, "read afresh");
    assertEquals(other.digest(), scored.selectExpr("min(sidecar_digest)").first().getString(0));
  }
}
