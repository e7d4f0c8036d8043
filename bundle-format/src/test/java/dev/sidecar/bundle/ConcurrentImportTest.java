package dev.sidecar.bundle;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Many threads importing or unpacking the same bundle at once end with one intact copy. */
class ConcurrentImportTest {
  private static final int THREADS = 8;

  @TempDir
  Path tmp;

  private <T> List<T> race(Callable<T> task) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(THREADS);
    CyclicBarrier start = new CyclicBarrier(THREADS);
    try {
      List<Future<T>> futures = new ArrayList<>();
      for (int i = 0; i < THREADS; i++) {
        futures.add(pool.submit(() -> {
          start.await();
          return task.call();
        }));
      }
      List<T> out = new ArrayList<>();
      for (Future<T> f : futures) {
        out.add(f.get(60, TimeUnit.SECONDS));
      }
      return out;
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void concurrentImportsOfTheSameBundleLeaveOneCopy() throws Exception {
    Path archive = tmp.resolve("iris.bundle");
    BundleInfo built = TestBundles.buildIris(tmp, "iris", "1", TestBundles.T0, archive);
    BundleStore store = BundleStore.open(tmp.resolve("home"));

    List<BundleInfo> results = race(() -> store.add(archive));
    for (BundleInfo r : results) {
      assertEquals(built, r);
    }
    assertEquals(List.of(built), store.list());
    try (Stream<Path> files = Files.list(tmp.resolve("home/bundles/iris/1"))) {
      assertEquals(List.of("iris-1.bundle", "manifest.json"),
          files.map(p -> p.getFileName().toString()).sorted().toList());
    }
    try (Stream<Path> staging = Files.list(tmp.resolve("home/tmp"))) {
      assertEquals(0, staging.count());
    }
    BundleArchive.inspect(store.archivePath("iris:1"));
  }

  @Test
  void concurrentCachedUnpacksUnpackOnce() throws Exception {
    Path archive = tmp.resolve("iris.bundle");
    BundleInfo built = TestBundles.buildIris(tmp, "iris", "1", TestBundles.T0, archive);
    Path cache = tmp.resolve("cache");

    List<BundleArchive.UnpackResult> results = race(() -> BundleArchive.unpackCached(archive,
        cache));
    assertEquals(1, results.stream().filter(BundleArchive.UnpackResult::unpacked).count());
    for (BundleArchive.UnpackResult r : results) {
      assertEquals(cache.resolve(built.digestHex()).toAbsolutePath().normalize(),
          r.bundle().root());
    }
    try (Stream<Path> entries = Files.list(cache)) {
      assertEquals(List.of(".locks", built.digestHex(), built.digestHex() + ".verified"),
          entries.map(p -> p.getFileName().toString()).sorted().toList());
    }
    Bundle.open(cache.resolve(built.digestHex()), built.digest());
  }
}
