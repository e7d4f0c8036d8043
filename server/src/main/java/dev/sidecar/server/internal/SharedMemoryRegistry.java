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
 * only once that request is over (and no model call reads or writes it in place), so
 * unregistering never pulls memory from under a model call.
 *
 * <p>Each region belongs to the {@link Client} that registered it: one gRPC connection. The
 * bytes one connection has registered are bounded, and when the connection closes its regions
 * are unregistered (a client that ended without unregistering leaves nothing mapped). Names are
 * one namespace across connections, as in Triton.
 */
final class SharedMemoryRegistry implements AutoCloseable {
  /** Who registers regions: one connection. Its budget and its regions end with it. */
  static final class Client {
    final String name;
    /** Bytes registered (or being registered) by this client; guarded by the registry. */
    private long mapped;
    /** Set once the connection closed; guarded by the registry. */
    private boolean closed;

    /** @param name how messages name it (e.g. the connection's number and remote address) */
    Client(String name) {
      this.name = name;
    }

    @Override
    public String toString() {
      return name;
    }
  }

  /** One registered region, counted while requests use it. */
  static final class Region {
    final String name;
    final String key;
    final long offset;
    final long byteSize;
    final Client client;
    private MappedByteBuffer mapping;
    private int users;
    private boolean unregistered;

    Region(String name, String key, long offset, long byteSize, Client client,
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
  /** Successful registrations since start; guarded by this. */
  private long registered;

  /** @param budgetPerClient the most bytes one client may have registered at once */
  SharedMemoryRegistry(long budgetPerClient) {
    this.budgetPerClient = budgetPerClient;
  }

  /** Registers and maps a region for {@code client}; the error statuses are Triton's. */
  void register(String name, String key, long offset, long byteSize, Client client)
      throws StatusException {
    if (name.isEmpty()) {
      throw Status.INVALID_ARGUMENT.withDescription("a shared memory region needs a name")
          .asException();
    }
    synchronized (this) {
      if (client.closed) {
        throw Status.UNAVAILABLE.withDescription("the connection registering shared memory "
            + "region '" + name + "' is closed").asException();
      }
      if (regions.containsKey(name)) {
        throw Status.ALREADY_EXISTS.withDescription("shared memory region '" + name
            + "' already in manager").asException();
      }
      long have = client.mapped;
      if (byteSize > budgetPerClient - have) {
        throw Status.RESOURCE_EXHAUSTED.withDescription("registering shared memory region '"
            + name + "' (" + byteSize + " bytes) would map " + (have + byteSize) + " bytes for "
            + "this connection, more than its budget of " + budgetPerClient + " bytes; "
            + "unregister regions first").asException();
      }
      // Reserve the budget before mapping (outside the lock).
      client.mapped = have + byteSize;
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
    StatusException refused = null;
    synchronized (this) {
      if (client.closed) {
        // The connection closed while the region was being mapped: it would never be released.
        refused = Status.UNAVAILABLE.withDescription("the connection registering shared memory "
            + "region '" + name + "' is closed").asException();
      } else if (regions.containsKey(name)) {
        refused = Status.ALREADY_EXISTS.withDescription("shared memory region '" + name
            + "' already in manager").asException();
      } else {
        regions.put(name, new Region(name, key, offset, byteSize, client, m));
        registered++;
      }
    }
    if (refused != null) {
      release(client, byteSize);
      SharedMemoryFiles.unmap(m);
      throw refused;
    }
  }

  private synchronized void release(Client client, long bytes) {
    client.mapped = Math.max(0, client.mapped - bytes);
  }

  /**
   * The connection of {@code client} closed: unregisters its regions (each unmapped once no
   * request uses it) and refuses any registration still under way for it.
   */
  void closed(Client client) {
    List<Region> gone = new ArrayList<>();
    synchronized (this) {
      client.closed = true;
      regions.values().removeIf(r -> {
        if (r.client == client) {
          gone.add(r);
          return true;
        }
        return false;
      });
    }
    for (Region r : gone) {
      retire(r);
    }
  }

  /** Bytes {@code client} has registered (regions unmapped only once their requests end count). */
  synchronized long mapped(Client client) {
    return client.mapped;
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

  /** Successful registrations since the registry was made. */
  synchronized long registered() {
    return registered;
  }

  synchronized int size() {
    return regions.size();
  }

  @Override
  public void close() {
    unregister("");
  }
}
