package dev.sidecar.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.protobuf.ByteString;
import dev.sidecar.proto.inference.GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub;
import dev.sidecar.proto.inference.InferParameter;
import dev.sidecar.proto.inference.ModelInferRequest;
import dev.sidecar.proto.inference.ModelInferResponse;
import dev.sidecar.proto.inference.ServerMetadataRequest;
import dev.sidecar.proto.inference.SystemSharedMemoryRegisterRequest;
import dev.sidecar.proto.inference.SystemSharedMemoryStatusRequest;
import dev.sidecar.proto.inference.SystemSharedMemoryStatusResponse;
import dev.sidecar.proto.inference.SystemSharedMemoryUnregisterRequest;
import dev.sidecar.proto.stats.SidecarStatsServiceGrpc;
import dev.sidecar.proto.stats.StatsRequest;
import dev.sidecar.proto.stats.StatsResponse;
import dev.sidecar.tensor.RawCodec;
import dev.sidecar.wire.SharedMemoryFiles;
import dev.sidecar.wire.SidecarChannels;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Triton's system shared-memory extension on the iris bundle's server over real gRPC: register,
 * status and unregister; inference whose inputs and outputs live in POSIX shared memory, equal
 * to the same request sent in bytes; and each error Triton gives.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SharedMemoryTest {
  @TempDir
  static Path tmp;

  /** Holds the servers' inference workers inside their model call while set. */
  private volatile Fixtures.Gate gate;
  private ModelServer tcp;
  private ModelServer uds;
  private ManagedChannel tcpChannel;
  private ManagedChannel udsChannel;
  private float[] x;
  private dev.sidecar.bundle.Bundle iris;
  private final List<String> keys = new ArrayList<>();
  private final List<MappedByteBuffer> maps = new ArrayList<>();

  @BeforeAll
  void start() throws Exception {
    assumeTrue(SharedMemoryFiles.available(), "no POSIX shared memory under /dev/shm");
    iris = Fixtures.iris(tmp);
    tcp = ModelServer.builder(iris).tcp("127.0.0.1", 0)
        .beforeModelCall((api, rows) -> Fixtures.Gate.pass(gate)).start();
    uds = ModelServer.builder(iris).unixSocket(tmp.resolve("iris.sock"))
        .beforeModelCall((api, rows) -> Fixtures.Gate.pass(gate)).start();
    tcpChannel = SidecarChannels.forTarget(tcp.target());
    udsChannel = SidecarChannels.forTarget(uds.target());
    x = Fixtures.irisFeatures();
  }

  @AfterEach
  void unregister() {
    Fixtures.Gate g = gate;
    gate = null;
    if (g != null) {
      g.release.countDown();
    }
    for (ManagedChannel ch : List.of(tcpChannel, udsChannel)) {
      Fixtures.blocking(ch).systemSharedMemoryUnregister(
          SystemSharedMemoryUnregisterRequest.getDefaultInstance());
    }
    for (MappedByteBuffer m : maps) {
      SharedMemoryFiles.unmap(m);
    }
    maps.clear();
    for (String k : keys) {
      SharedMemoryFiles.unlink(k);
    }
    keys.clear();
  }

  @AfterAll
  void stop() throws Exception {
    if (tcp == null) {
      return;
    }
    Fixtures.close(tcpChannel);
    Fixtures.close(udsChannel);
    tcp.close();
    uds.close();
  }

  private ManagedChannel channel(String transport) {
    return transport.equals("tcp") ? tcpChannel : udsChannel;
  }

  /** A new region of {@code bytes}, mapped here too. */
  private ByteBuffer region(String key, long bytes) throws Exception {
    keys.add(key);
    MappedByteBuffer m = SharedMemoryFiles.map(key, 0, bytes);
    maps.add(m);
    return m;
  }

  private String newRegion(long bytes) throws Exception {
    String key = SharedMemoryFiles.create(bytes);
    keys.add(key);
    return key;
  }

  private static void register(GRPCInferenceServiceBlockingStub stub, String name, String key,
      long offset, long bytes) {
    stub.systemSharedMemoryRegister(SystemSharedMemoryRegisterRequest.newBuilder().setName(name)
        .setKey(key).setOffset(offset).setByteSize(bytes).build());
  }

  private static ModelInferRequest.InferInputTensor.Builder shmInput(String region, long offset,
      long bytes) {
    return ModelInferRequest.InferInputTensor.newBuilder().setName("features").setDatatype("FP32")
        .putParameters("shared_memory_region", str(region))
        .putParameters("shared_memory_offset", i64(offset))
        .putParameters("shared_memory_byte_size", i64(bytes));
  }

  private static ModelInferRequest.InferRequestedOutputTensor shmOutput(String name,
      String region, long offset, long bytes) {
    return ModelInferRequest.InferRequestedOutputTensor.newBuilder().setName(name)
        .putParameters("shared_memory_region", str(region))
        .putParameters("shared_memory_offset", i64(offset))
        .putParameters("shared_memory_byte_size", i64(bytes)).build();
  }

  private static InferParameter str(String s) {
    return InferParameter.newBuilder().setStringParam(s).build();
  }

  private static InferParameter i64(long v) {
    return InferParameter.newBuilder().setInt64Param(v).build();
  }

  private static Status.Code code(Runnable r) {
    return assertThrows(StatusRuntimeException.class, r::run).getStatus().getCode();
  }

  private static String message(Runnable r) {
    return assertThrows(StatusRuntimeException.class, r::run).getStatus().getDescription();
  }

  @Test
  void serverMetadataListsTheExtension() {
    assertTrue(Fixtures.blocking(udsChannel).serverMetadata(ServerMetadataRequest
        .getDefaultInstance()).getExtensionsList().contains("system_shared_memory"));
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "uds"})
  void registerStatusUnregister(String transport) throws Exception {
    var stub = Fixtures.blocking(channel(transport));
    String key = newRegion(4096);
    Path file = SharedMemoryFiles.fileOf(key);
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
    StatsResponse before = serverStats(transport);
    register(stub, "a", key, 0, 4096);
    register(stub, "b", key, 1024, 2048);
    StatsResponse registered = serverStats(transport);
    assertEquals(before.getShmRegionsRegistered() + 2, registered.getShmRegionsRegistered(),
        "Stats counts registrations");
    assertEquals(before.getShmRegions() + 2, registered.getShmRegions(), "and regions now");
    SystemSharedMemoryStatusResponse all = stub.systemSharedMemoryStatus(
        SystemSharedMemoryStatusRequest.getDefaultInstance());
    assertEquals(2, all.getRegionsCount());
    var b = all.getRegionsOrThrow("b");
    assertEquals(key, b.getKey());
    assertEquals(1024, b.getOffset());
    assertEquals(2048, b.getByteSize());
    assertEquals(1, stub.systemSharedMemoryStatus(SystemSharedMemoryStatusRequest.newBuilder()
        .setName("a").build()).getRegionsCount());

    assertEquals(Status.Code.ALREADY_EXISTS, code(() -> register(stub, "a", key, 0, 16)));
    assertEquals("shared memory region 'a' already in manager",
        message(() -> register(stub, "a", key, 0, 16)));

    stub.systemSharedMemoryUnregister(SystemSharedMemoryUnregisterRequest.newBuilder()
        .setName("a").build());
    assertEquals(Status.Code.NOT_FOUND, code(() -> stub.systemSharedMemoryStatus(
        SystemSharedMemoryStatusRequest.newBuilder().setName("a").build())));
    // Unregistering an unknown region is not an error (as in Triton).
    stub.systemSharedMemoryUnregister(SystemSharedMemoryUnregisterRequest.newBuilder()
        .setName("never").build());
    stub.systemSharedMemoryUnregister(SystemSharedMemoryUnregisterRequest.getDefaultInstance());
    assertEquals(0, stub.systemSharedMemoryStatus(
        SystemSharedMemoryStatusRequest.getDefaultInstance()).getRegionsCount());
    StatsResponse after = serverStats(transport);
    assertEquals(before.getShmRegionsRegistered() + 2, after.getShmRegionsRegistered(),
        "a refused registration is not counted");
    assertEquals(0, after.getShmRegions());
  }

  private StatsResponse serverStats(String transport) {
    return SidecarStatsServiceGrpc.newBlockingStub(channel(transport))
        .stats(StatsRequest.getDefaultInstance());
  }

  @Test
  void registrationErrorsAreTritons() throws Exception {
    var stub = Fixtures.blocking(udsChannel);
    String missing = "/" + SharedMemoryFiles.PREFIX + "missing-" + System.nanoTime();
    assertEquals(Status.Code.INTERNAL, code(() -> register(stub, "m", missing, 0, 64)));
    assertEquals("Unable to open shared memory region: '" + missing + "'",
        message(() -> register(stub, "m", missing, 0, 64)));
    assertEquals(Status.Code.INTERNAL, code(() -> register(stub, "m", "/../etc/passwd", 0, 64)));
    String key = newRegion(100);
    assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> register(stub, "m", key, 64, 64)));
    assertTrue(message(() -> register(stub, "m", key, 64, 64))
        .startsWith("Invalid offset for shared memory region: 'm'"));
    assertEquals(0, stub.systemSharedMemoryStatus(
        SystemSharedMemoryStatusRequest.getDefaultInstance()).getRegionsCount());
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "uds"})
  void inferenceThroughSharedMemoryEqualsBytes(String transport) throws Exception {
    var stub = Fixtures.blocking(channel(transport));
    int n = x.length / 4;
    long inBytes = x.length * 4L;
    long probBytes = n * 3 * 4L;
    long labelBytes = 4096;
    String inKey = newRegion(inBytes + 64);
    ByteBuffer in = region(inKey, inBytes + 64);
    in.position(64);
    in.asFloatBuffer().put(x);
    String outKey = newRegion(probBytes + labelBytes);
    ByteBuffer out = region(outKey, probBytes + labelBytes);
    register(stub, "in", inKey, 0, inBytes + 64);
    register(stub, "out", outKey, 0, probBytes + labelBytes);

    ModelInferResponse viaShm = stub.modelInfer(ModelInferRequest.newBuilder()
        .setModelName("classify_tensor").setId("s")
        .addInputs(shmInput("in", 64, inBytes).addShape(n).addShape(4))
        .addOutputs(shmOutput("probabilities", "out", 0, probBytes))
        .addOutputs(shmOutput("label", "out", probBytes, labelBytes))
        .build());
    ModelInferResponse viaBytes = stub.modelInfer(ModelInferRequest.newBuilder()
        .setModelName("classify_tensor").setId("b")
        .addInputs(Fixtures.fp32("features", n, 4))
        .addRawInputContents(Fixtures.floats(x))
        .addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder()
            .setName("probabilities"))
        .addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder().setName("label"))
        .build());

    assertEquals(2, viaShm.getRawOutputContentsCount());
    assertTrue(viaShm.getRawOutputContents(0).isEmpty());
    assertTrue(viaShm.getRawOutputContents(1).isEmpty());
    assertEquals(viaBytes.getOutputs(0).getShapeList(), viaShm.getOutputs(0).getShapeList());
    ByteString expectedProb = viaBytes.getRawOutputContents(0);
    byte[] gotProb = new byte[(int) probBytes];
    out.get(0, gotProb);
    assertArrayEquals(expectedProb.toByteArray(), gotProb);
    ByteString expectedLabels = viaBytes.getRawOutputContents(1);
    byte[] gotLabels = new byte[expectedLabels.size()];
    out.get((int) probBytes, gotLabels);
    assertArrayEquals(RawCodec.decodeStrings(expectedLabels, n),
        RawCodec.decodeStrings(ByteString.copyFrom(gotLabels), n));

    // Only the output in shared memory, the other in the response.
    ModelInferResponse mixed = stub.modelInfer(ModelInferRequest.newBuilder()
        .setModelName("classify_tensor")
        .addInputs(shmInput("in", 64, inBytes).addShape(n).addShape(4))
        .addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder().setName("label"))
        .build());
    assertEquals(expectedLabels, mixed.getRawOutputContents(0));
  }

  @Test
  void inferenceErrorsAreTritons() throws Exception {
    var stub = Fixtures.blocking(udsChannel);
    int n = 2;
    long inBytes = n * 4 * 4L;
    String key = newRegion(inBytes);
    ByteBuffer in = region(key, inBytes);
    in.asFloatBuffer().put(x, 0, n * 4);
    register(stub, "r", key, 0, inBytes);
    String model = "classify_tensor";

    Runnable unknown = () -> stub.modelInfer(ModelInferRequest.newBuilder().setModelName(model)
        .addInputs(shmInput("nope", 0, inBytes).addShape(n).addShape(4)).build());
    assertEquals(Status.Code.NOT_FOUND, code(unknown));
    assertEquals("Unable to find shared memory region: 'nope'", message(unknown));

    Runnable badOffset = () -> stub.modelInfer(ModelInferRequest.newBuilder().setModelName(model)
        .addInputs(shmInput("r", inBytes, inBytes).addShape(n).addShape(4)).build());
    assertEquals(Status.Code.INVALID_ARGUMENT, code(badOffset));
    assertEquals("Invalid offset for shared memory region: 'r'", message(badOffset));

    Runnable pastEnd = () -> stub.modelInfer(ModelInferRequest.newBuilder().setModelName(model)
        .addInputs(shmInput("r", 16, inBytes).addShape(n).addShape(4)).build());
    assertEquals(Status.Code.INVALID_ARGUMENT, code(pastEnd));
    assertEquals("Invalid offset + byte size for shared memory region: 'r'", message(pastEnd));

    Runnable wrongSize = () -> stub.modelInfer(ModelInferRequest.newBuilder().setModelName(model)
        .addInputs(shmInput("r", 0, inBytes - 16).addShape(n).addShape(4)).build());
    assertEquals(Status.Code.INVALID_ARGUMENT, code(wrongSize));
    assertEquals("input byte size mismatch for input 'features' for model 'classify_tensor'. "
        + "Expected " + inBytes + ", got " + (inBytes - 16), message(wrongSize));

    Runnable smallOutput = () -> stub.modelInfer(ModelInferRequest.newBuilder()
        .setModelName(model)
        .addInputs(shmInput("r", 0, inBytes).addShape(n).addShape(4))
        .addOutputs(shmOutput("probabilities", "r", 0, 8)).build());
    assertEquals(Status.Code.INVALID_ARGUMENT, code(smallOutput));
    assertEquals("shared memory size specified with the request for output 'probabilities' (8 "
        + "bytes) should be at least 24 bytes to hold the results", message(smallOutput));

    Runnable extraRaw = () -> stub.modelInfer(ModelInferRequest.newBuilder().setModelName(model)
        .addInputs(shmInput("r", 0, inBytes).addShape(n).addShape(4))
        .addRawInputContents(Fixtures.floats(x)).build());
    assertEquals(Status.Code.INVALID_ARGUMENT, code(extraRaw));
    assertTrue(message(extraRaw).contains("not in shared memory"), message(extraRaw));

    // After all of that the region still serves, and unregistering it releases it.
    ModelInferResponse ok = stub.modelInfer(ModelInferRequest.newBuilder().setModelName(model)
        .addInputs(shmInput("r", 0, inBytes).addShape(n).addShape(4)).build());
    assertEquals(2, ok.getOutputsCount());
    stub.systemSharedMemoryUnregister(SystemSharedMemoryUnregisterRequest.newBuilder()
        .setName("r").build());
    assertEquals(Status.Code.NOT_FOUND, code(() -> stub.modelInfer(ModelInferRequest.newBuilder()
        .setModelName(model).addInputs(shmInput("r", 0, inBytes).addShape(n).addShape(4))
        .build())));
    assertFalse(ok.getRawOutputContents(0).isEmpty());
  }

  private ModelInferRequest.Builder irisRequest(String inRegion, long inOffset, int n) {
    return ModelInferRequest.newBuilder().setModelName("classify_tensor")
        .addInputs(shmInput(inRegion, inOffset, n * 4 * 4L).addShape(n).addShape(4));
  }

  private ByteString probabilitiesViaBytes(ManagedChannel ch, int n) {
    return Fixtures.blocking(ch).modelInfer(ModelInferRequest.newBuilder()
        .setModelName("classify_tensor")
        .addInputs(Fixtures.fp32("features", n, 4))
        .addRawInputContents(Fixtures.floats(java.util.Arrays.copyOf(x, n * 4)))
        .addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder()
            .setName("probabilities"))
        .build()).getRawOutputContents(0);
  }

  private static byte[] bytesAt(ByteBuffer region, int at, int n) {
    byte[] b = new byte[n];
    region.get(at, b);
    return b;
  }

  /** Lines of this process's memory map that map {@code key}'s file (the test's and the server's). */
  private static long mappings(String key) throws Exception {
    String file = SharedMemoryFiles.fileOf(key).toString();
    try (var lines = Files.lines(Path.of("/proc/self/maps"))) {
      return lines.filter(l -> l.contains(file)).count();
    }
  }

  /** Waits (up to 30 s) until the server has unmapped {@code key}: only the test's mapping left. */
  private static void awaitServerUnmapped(String key) throws Exception {
    for (int i = 0; i < 3000 && mappings(key) > 1; i++) {
      Thread.sleep(10);
    }
    assertEquals(1, mappings(key), "the server still maps " + key);
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "uds"})
  void onnxRuntimeReadsInputsAndWritesOutputsInPlace(String transport) throws Exception {
    ManagedChannel ch = channel(transport);
    var stub = Fixtures.blocking(ch);
    int n = x.length / 4;
    int probBytes = n * 12;
    String key = newRegion(65536);
    ByteBuffer mem = region(key, 65536);
    mem.position(64);
    mem.asFloatBuffer().put(x);
    register(stub, "r", key, 0, 65536);
    byte[] expected = probabilitiesViaBytes(ch, n).toByteArray();

    // Aligned and apart from the input: ONNX Runtime reads the input and writes the
    // probabilities where they lie; the labels (strings) come through the answer.
    var before = Fixtures.stats(ch, "classify_tensor");
    ModelInferResponse r = stub.modelInfer(irisRequest("r", 64, n)
        .addOutputs(shmOutput("probabilities", "r", 8192, probBytes))
        .addOutputs(shmOutput("label", "r", 16384, 8192)).build());
    var after = Fixtures.stats(ch, "classify_tensor");
    assertEquals(List.of((long) n, 3L), r.getOutputs(0).getShapeList());
    assertArrayEquals(expected, bytesAt(mem, 8192, probBytes));
    assertEquals(1, after.getShmInputsInPlace() - before.getShmInputsInPlace());
    assertEquals(0, after.getShmInputsCopied() - before.getShmInputsCopied());
    assertEquals(1, after.getShmOutputsInPlace() - before.getShmOutputsInPlace());
    assertEquals(0, after.getShmOutputsCopied() - before.getShmOutputsCopied());

    // Not aligned to a float: copied there once, the same bytes.
    before = after;
    mem.put(8194, new byte[probBytes]);
    stub.modelInfer(irisRequest("r", 64, n)
        .addOutputs(shmOutput("probabilities", "r", 8194, probBytes)).build());
    after = Fixtures.stats(ch, "classify_tensor");
    assertArrayEquals(expected, bytesAt(mem, 8194, probBytes));
    assertEquals(1, after.getShmInputsInPlace() - before.getShmInputsInPlace());
    assertEquals(0, after.getShmOutputsInPlace() - before.getShmOutputsInPlace());
    assertEquals(1, after.getShmOutputsCopied() - before.getShmOutputsCopied());

    // Over the input itself: written only after the model has read the input, so the answer
    // is still the input's.
    before = after;
    stub.modelInfer(irisRequest("r", 64, n)
        .addOutputs(shmOutput("probabilities", "r", 64, probBytes)).build());
    after = Fixtures.stats(ch, "classify_tensor");
    assertArrayEquals(expected, bytesAt(mem, 64, probBytes));
    assertEquals(0, after.getShmOutputsInPlace() - before.getShmOutputsInPlace());
    assertEquals(1, after.getShmOutputsCopied() - before.getShmOutputsCopied());
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "uds"})
  void anUnregisterDuringAModelCallWaitsForIt(String transport) throws Exception {
    ManagedChannel ch = channel(transport);
    var stub = Fixtures.blocking(ch);
    int n = x.length / 4;
    int probBytes = n * 12;
    String key = newRegion(8192);
    ByteBuffer mem = region(key, 8192);
    mem.asFloatBuffer().put(x);
    register(stub, "held", key, 0, 8192);
    byte[] expected = probabilitiesViaBytes(ch, n).toByteArray();
    assertEquals(2, mappings(key));

    Fixtures.Gate g = new Fixtures.Gate();
    gate = g;
    var pending = dev.sidecar.proto.inference.GRPCInferenceServiceGrpc.newFutureStub(ch)
        .modelInfer(irisRequest("held", 0, n)
            .addOutputs(shmOutput("probabilities", "held", 4096, probBytes)).build());
    assertTrue(g.entered.await(30, java.util.concurrent.TimeUnit.SECONDS));
    // The model call is about to read and write the region in place: unregistering takes the
    // name away at once, but the mapping stays until the call is over.
    stub.systemSharedMemoryUnregister(SystemSharedMemoryUnregisterRequest.newBuilder()
        .setName("held").build());
    assertEquals(Status.Code.NOT_FOUND, code(() -> stub.systemSharedMemoryStatus(
        SystemSharedMemoryStatusRequest.newBuilder().setName("held").build())));
    assertEquals(2, mappings(key));
    gate = null;
    g.release.countDown();
    ModelInferResponse r = pending.get(30, java.util.concurrent.TimeUnit.SECONDS);
    assertTrue(r.getRawOutputContents(0).isEmpty());
    assertArrayEquals(expected, bytesAt(mem, 4096, probBytes));
    awaitServerUnmapped(key);
    assertEquals(Status.Code.NOT_FOUND, code(() -> stub.modelInfer(irisRequest("held", 0, n)
        .build())));
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "uds"})
  void eachConnectionHasItsOwnBudgetAndItsRegionsEndWithIt(String transport) throws Exception {
    ModelServer small = (transport.equals("tcp")
        ? ModelServer.builder(iris).tcp("127.0.0.1", 0)
        : ModelServer.builder(iris).unixSocket(tmp.resolve("budget.sock")))
        .sharedMemoryBudget(6000).start();
    ManagedChannel one = SidecarChannels.forTarget(small.target());
    ManagedChannel two = SidecarChannels.forTarget(small.target());
    try {
      String keyOne = newRegion(4096);
      region(keyOne, 4096);
      String keyTwo = newRegion(4096);
      region(keyTwo, 4096);
      // Two connections from the same host (over a Unix socket: the same empty address).
      register(Fixtures.blocking(one), "one", keyOne, 0, 4096);
      register(Fixtures.blocking(two), "two", keyTwo, 0, 4096);
      StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
          () -> register(Fixtures.blocking(one), "one-more", keyOne, 0, 4096));
      assertEquals(Status.Code.RESOURCE_EXHAUSTED, e.getStatus().getCode());
      assertTrue(e.getStatus().getDescription().contains("this connection"),
          e.getStatus().getDescription());
      assertEquals(2, mappings(keyOne));

      // Closing a connection unregisters its regions, and only its.
      Fixtures.close(one);
      awaitServerUnmapped(keyOne);
      var left = Fixtures.blocking(two).systemSharedMemoryStatus(
          SystemSharedMemoryStatusRequest.getDefaultInstance());
      assertEquals(List.of("two"), List.copyOf(left.getRegionsMap().keySet()));
      assertEquals(2, mappings(keyTwo));
      // A new connection starts with a whole budget.
      ManagedChannel three = SidecarChannels.forTarget(small.target());
      try {
        register(Fixtures.blocking(three), "three", keyOne, 0, 4096);
      } finally {
        Fixtures.close(three);
      }
      awaitServerUnmapped(keyOne);
    } finally {
      Fixtures.close(one);
      Fixtures.close(two);
      small.close();
    }
  }
}
