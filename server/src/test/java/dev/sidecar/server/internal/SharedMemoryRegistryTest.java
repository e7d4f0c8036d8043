package dev.sidecar.server.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sidecar.wire.SharedMemoryFiles;
import io.grpc.Status;
import io.grpc.StatusException;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

/** The per-client budget, and unmapping deferred while a request uses a region. */
class SharedMemoryRegistryTest {
  @Test
  void aClientBeyondItsBudgetIsRefusedAndOthersAreNot() throws Exception {
    assumeTrue(SharedMemoryFiles.available());
    String key = SharedMemoryFiles.create(4096);
    var one = new SharedMemoryRegistry.Client("client-1");
    var two = new SharedMemoryRegistry.Client("client-2");
    try (SharedMemoryRegistry reg = new SharedMemoryRegistry(6000)) {
      reg.register("a", key, 0, 4096, one);
      StatusException e = assertThrows(StatusException.class,
          () -> reg.register("b", key, 0, 4096, one));
      assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
      assertEquals("registering shared memory region 'b' (4096 bytes) would map 8192 bytes for "
          + "this connection, more than its budget of 6000 bytes; unregister regions first",
          e.getStatus().getDescription());
      reg.register("c", key, 0, 4096, two);
      reg.unregister("a");
      reg.register("b", key, 0, 4096, one);
      assertEquals(2, reg.size());
    } finally {
      SharedMemoryFiles.unlink(key);
    }
  }

  @Test
  void aRegionInUseStaysMappedUntilReleased() throws Exception {
    assumeTrue(SharedMemoryFiles.available());
    String key = SharedMemoryFiles.create(64);
    var c = new SharedMemoryRegistry.Client("c");
    try (SharedMemoryRegistry reg = new SharedMemoryRegistry(64)) {
      reg.register("a", key, 0, 64, c);
      SharedMemoryRegistry.Region r = reg.acquire("a", 0, 64);
      reg.unregister("a");
      // Still usable by the request that holds it; the budget is still taken.
      ByteBuffer v = r.view(0, 8);
      v.putLong(0, 42L);
      assertEquals(42L, v.getLong(0));
      assertThrows(StatusException.class, () -> reg.register("b", key, 0, 64, c));
      assertThrows(StatusException.class, () -> reg.acquire("a", 0, 8));
      reg.release(r);
      reg.register("b", key, 0, 64, c);
    } finally {
      SharedMemoryFiles.unlink(key);
    }
  }

  @Test
  void aClosedConnectionsRegionsGoOnceUnusedAndItRegistersNoMore() throws Exception {
    assumeTrue(SharedMemoryFiles.available());
    String key = SharedMemoryFiles.create(64);
    var gone = new SharedMemoryRegistry.Client("gone");
    var other = new SharedMemoryRegistry.Client("other");
    try (SharedMemoryRegistry reg = new SharedMemoryRegistry(128)) {
      reg.register("a", key, 0, 64, gone);
      reg.register("b", key, 0, 64, gone);
      reg.register("c", key, 0, 64, other);
      SharedMemoryRegistry.Region inUse = reg.acquire("b", 0, 64);
      reg.closed(gone);
      // Its regions are unregistered at once; the one in use stays mapped until released.
      assertEquals(1, reg.size());
      assertThrows(StatusException.class, () -> reg.acquire("a", 0, 8));
      assertEquals(64, reg.mapped(gone));
      inUse.view(0, 8).putLong(0, 7L);
      reg.release(inUse);
      assertEquals(0, reg.mapped(gone));
      StatusException e = assertThrows(StatusException.class,
          () -> reg.register("d", key, 0, 64, gone));
      assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
      // The other connection's region is untouched.
      reg.release(reg.acquire("c", 0, 64));
      assertEquals(64, reg.mapped(other));
    } finally {
      SharedMemoryFiles.unlink(key);
    }
  }
}
