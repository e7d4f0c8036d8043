package dev.sidecar.server.internal;

import dev.sidecar.proto.inference.SystemSharedMemoryStatusResponse.RegionStatus;
import dev.sidecar.wire.SharedMemoryFiles;
import io.grpc.Status;
import io.grpc.StatusException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The system shared-memory regions registered with the server (Triton's system shared-memory
 * extension): each one mapped once at registration. A region in use by a request is unmapped
 * only once that request is over, so unregistering never pulls memory from under a model call.
 * The bytes mapped per client (remote address) are bounded.
 */
final class SharedMemoryRegistry implements AutoCloseable {
  /** One registered region, counted while requests use it. */
  static final class Region {
    final String name;
    final String key;
    final long offset;
    final long byteSize;
    final String client;
    private MappedByteBuffer mapping;
    private int users;
    private boolean unregistered;

    Region(String name, String key, long offset, long byteSize, String client,
        MappedByteBuffer mapping) {
      this.name = name;
      this.key = key;
      this.offset = offset;
      this.byteSize = byteSize;
      this.client = client;
      this.mapping = mapping;
    }

    /** Bytes {@code [offset, offset + bytes)} of the region, native order (a view, no copy). */
    synchronized ByteBuffer view(long at, long bytes) {
      ByteBuffer b = mapping.duplicate();
      b.limit((int) (at + bytes)).position((int) at);
      return b.slice().order(ByteOrder.nativeOrder());
    }
  }

  private final long budgetPerClient;
  private final Map<String, Region> regions = new LinkedHashMap<>();
  private final Map<String, Long> mappedPerClient = new LinkedHashMap<>();

  /** @param budgetPerClient the most bytes one client may have registered at once */
  SharedMemoryRegistry(long budgetPerClient) {
    this.budgetPerClient = budgetPerClient;
  }

  /** Registers and maps a region; the error statuses are Triton's. */
  void register(String name, String key, long offset, long byteSize, String client)
      throws StatusException {
    if (name.isEmpty()) {
      throw Status.INVALID_ARGUMENT.withDescription("a shared memory region needs a name")
          .asException();
    }
    synchronized (this) {
      if (regions.containsKey(name)) {
        throw Status.ALREADY_EXISTS.withDescription("shared memory region '" + name
            + "' already in manager").asException();
      }
      long have = mappedPerClient.getOrDefault(client, 0L);
      if (byteSize > budgetPerClient - have) {
        throw Status.RESOURCE_EXHAUSTED.withDescription("registering shared memory region '"
            + name + "' (" + byteSize + " bytes) would map " + (have + byteSize) + " bytes for "
            + "this client, more than its budget of " + budgetPerClient + " bytes; unregister "
            + "regions first").asException();
      }
      // Reserve the budget before mapping (outside the lock).
      mappedPerClient.put(client, have + byteSize);
    }
    MappedByteBuffer m;
    try {
      SharedMemoryFiles.fileOf(key);
      m = SharedMemoryFiles.map(key, offset, byteSize);
    } catch (SharedMemoryFiles.RegionRangeException e) {
      release(client, byteSize);
      throw Status.INVALID_ARGUMENT.withDescription("Invalid offset for shared memory region: '"
          + name + "' (" + e.getMessage() + ")").asException();
    } catch (NoSuchFileException | IllegalArgumentException e) {
      release(client, byteSize);
      throw Status.INTERNAL.withDescription("Unable to open shared memory region: '" + key
          + "'").asException();
    } catch (IOException | RuntimeException e) {
      release(client, byteSize);
      throw Status.INTERNAL.withDescription("unable to process address space or shared-memory "
          + "descriptor due to " + e.getMessage()).asException();
    }
    synchronized (this) {
      if (regions.containsKey(name)) {
        release(client, byteSize);
        SharedMemoryFiles.unmap(m);
        throw Status.ALREADY_EXISTS.withDescription("shared memory region '" + name
            + "' already in manager").asException();
      }
      regions.put(name, new Region(name, key, offset, byteSize, client, m));
    }
  }

  private synchronized void release(String client, long bytes) {
    long left = mappedPerClient.getOrDefault(client, 0L) - bytes;
    if (left <= 0) {
      mappedPerClient.remove(client);
    } else {
      mappedPerClient.put(client, left);
    }
  }

  /** The status of one region, or of every region when {@code name} is empty. */
  synchronized List<RegionStatus> status(String name) throws StatusException {
    List<RegionStatus> out = new ArrayList<>();
    for (Region r : regions.values()) {
      if (name.isEmpty() || r.name.equals(name)) {
        out.add(RegionStatus.newBuilder().setName(r.name).setKey(r.key).setOffset(r.offset)
            .setByteSize(r.byteSize).build());
      }
    }
    if (!name.isEmpty() && out.isEmpty()) {
      throw Status.NOT_FOUND.withDescription("Unable to find system shared memory region: '"
          + name + "'").asException();
    }
    return out;
  }

  /** Unregisters one region (none: nothing happens, as in Triton), or all when name is empty. */
  void unregister(String name) {
    List<Region> gone = new ArrayList<>();
    synchronized (this) {
      if (name.isEmpty()) {
        gone.addAll(regions.values());
        regions.clear();
      } else {
        Region r = regions.remove(name);
        if (r != null) {
          gone.add(r);
        }
      }
    }
    for (Region r : gone) {
      retire(r);
    }
  }

  private void retire(Region r) {
    MappedByteBuffer m = null;
    synchronized (r) {
      r.unregistered = true;
      if (r.users == 0 && r.mapping != null) {
        m = r.mapping;
        r.mapping = null;
      }
    }
    if (m != null) {
      SharedMemoryFiles.unmap(m);
      release(r.client, r.byteSize);
    }
  }

  /**
   * The region {@code name}, counted as in use until {@link #release(Region)}; checks that
   * {@code [offset, offset + bytes)} lies inside it (Triton's messages).
   */
  Region acquire(String name, long offset, long bytes) throws StatusException {
    Region r;
    synchronized (this) {
      r = regions.get(name);
    }
    if (r == null) {
      throw Status.NOT_FOUND.withDescription("Unable to find shared memory region: '" + name
          + "'").asException();
    }
    if (offset < 0 || (r.byteSize > 0 && offset > r.byteSize - 1)
        || (r.byteSize == 0 && offset > 0)) {
      throw Status.INVALID_ARGUMENT.withDescription("Invalid offset for shared memory region: '"
          + name + "'").asException();
    }
    if (bytes < 0 || bytes > r.byteSize - offset) {
      throw Status.INVALID_ARGUMENT.withDescription("Invalid offset + byte size for shared "
          + "memory region: '" + name + "'").asException();
    }
    synchronized (r) {
      if (r.mapping == null || r.unregistered) {
        throw Status.NOT_FOUND.withDescription("Unable to find shared memory region: '" + name
            + "'").asException();
      }
      r.users++;
    }
    return r;
  }

  /** Ends one use of a region; unmaps it if it was unregistered meanwhile. */
  void release(Region r) {
    MappedByteBuffer m = null;
    synchronized (r) {
      r.users--;
      if (r.users == 0 && r.unregistered && r.mapping != null) {
        m = r.mapping;
        r.mapping = null;
      }
    }
    if (m != null) {
      SharedMemoryFiles.unmap(m);
      release(r.client, r.byteSize);
    }
  }

  synchronized int size() {
    return regions.size();
  }

  @Override
  public void close() {
    unregister("");
  }
}
