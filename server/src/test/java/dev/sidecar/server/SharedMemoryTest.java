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

  private ModelServer tcp;
  private ModelServer uds;
  private ManagedChannel tcpChannel;
  private ManagedChannel udsChannel;
  private float[] x;
  private final List<String> keys = new ArrayList<>();
  private final List<MappedByteBuffer> maps = new ArrayList<>();

  @BeforeAll
  void start() throws Exception {
    assumeTrue(SharedMemoryFiles.available(), "no POSIX shared memory under /dev/shm");
    var iris = Fixtures.iris(tmp);
    tcp = ModelServer.builder(iris).tcp("127.0.0.1", 0).start();
    uds = ModelServer.builder(iris).unixSocket(tmp.resolve("iris.sock")).start();
    tcpChannel = SidecarChannels.forTarget(tcp.target());
    udsChannel = SidecarChannels.forTarget(uds.target());
    x = Fixtures.irisFeatures();
  }

  @AfterEach
  void unregister() {
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
    register(stub, "a", key, 0, 4096);
    register(stub, "b", key, 1024, 2048);
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
}
