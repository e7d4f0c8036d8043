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
    try (SharedMemoryRegistry reg = new SharedMemoryRegistry(6000)) {
      reg.register("a", key, 0, 4096, "client-1");
      StatusException e = assertThrows(StatusException.class,
          () -> reg.register("b", key, 0, 4096, "client-1"));
      assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
      assertEquals("registering shared memory region 'b' (4096 bytes) would map 8192 bytes for "
          + "this client, more than its budget of 6000 bytes; unregister regions first",
          e.getStatus().getDescription());
      reg.register("c", key, 0, 4096, "client-2");
      reg.unregister("a");
      reg.register("b", key, 0, 4096, "client-1");
      assertEquals(2, reg.size());
    } finally {
      SharedMemoryFiles.unlink(key);
    }
  }

  @Test
  void aRegionInUseStaysMappedUntilReleased() throws Exception {
    assumeTrue(SharedMemoryFiles.available());
    String key = SharedMemoryFiles.create(64);
    try (SharedMemoryRegistry reg = new SharedMemoryRegistry(64)) {
      reg.register("a", key, 0, 64, "c");
      SharedMemoryRegistry.Region r = reg.acquire("a", 0, 64);
      reg.unregister("a");
      // Still usable by the request that holds it; the budget is still taken.
      ByteBuffer v = r.view(0, 8);
      v.putLong(0, 42L);
      assertEquals(42L, v.getLong(0));
      assertThrows(StatusException.class, () -> reg.register("b", key, 0, 64, "c"));
      assertThrows(StatusException.class, () -> reg.acquire("a", 0, 8));
      reg.release(r);
      reg.register("b", key, 0, 64, "c");
    } finally {
      SharedMemoryFiles.unlink(key);
    }
  }
}
