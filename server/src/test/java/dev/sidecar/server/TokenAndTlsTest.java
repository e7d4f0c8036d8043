package dev.sidecar.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sidecar.bundle.Bundle;
import dev.sidecar.proto.inference.GRPCInferenceServiceGrpc;
import dev.sidecar.proto.inference.ModelInferResponse;
import dev.sidecar.proto.inference.ServerLiveRequest;
import dev.sidecar.proto.stats.SidecarStatsServiceGrpc;
import dev.sidecar.proto.stats.StatsRequest;
import dev.sidecar.wire.SidecarChannels;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bearer-token auth (over TCP and a Unix socket) and TLS. */
class TokenAndTlsTest {
  @TempDir
  static Path tmp;

  private static Bundle iris;

  @BeforeAll
  static void bundle() {
    iris = Fixtures.iris(tmp);
  }

  @Test
  void missingOrWrongTokenIsUnauthenticatedAndTheRightOneWorks() throws Exception {
    for (ModelServer.Builder b : new ModelServer.Builder[] {
        ModelServer.builder(iris).tcp("127.0.0.1", 0),
        ModelServer.builder(iris).unixSocket(tmp.resolve("auth.sock"))}) {
      try (ModelServer server = b.token("s3cret").start()) {
        ManagedChannel none = SidecarChannels.forTarget(server.target());
        ManagedChannel wrong = SidecarChannels.forTarget(server.target(), "guess", null);
        ManagedChannel right = SidecarChannels.forTarget(server.target(), "s3cret", null);
        try {
          StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () ->
              Fixtures.blocking(none).serverLive(ServerLiveRequest.getDefaultInstance()));
          assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode());
          assertTrue(e.getStatus().getDescription().contains("authorization"));
          e = assertThrows(StatusRuntimeException.class, () -> Fixtures.blocking(wrong)
              .modelInfer(Fixtures.rawRequest("classify_tensor", "features", new float[4], 1, 4)));
          assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode());
          e = assertThrows(StatusRuntimeException.class, () -> SidecarStatsServiceGrpc
              .newBlockingStub(wrong).stats(StatsRequest.getDefaultInstance()));
          assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode());
          // Health stays open so orchestrators can probe without the secret.
          assertEquals(HealthCheckResponse.ServingStatus.SERVING, HealthGrpc.newBlockingStub(none)
              .check(HealthCheckRequest.getDefaultInstance()).getStatus());
          ModelInferResponse ok = Fixtures.blocking(right)
              .modelInfer(Fixtures.rawRequest("classify_tensor", "features",
                  new float[] {5.1f, 3.5f, 1.4f, 0.2f}, 1, 4));
          assertEquals(1, ok.getOutputs(0).getShape(0));
        } finally {
          Fixtures.close(none);
          Fixtures.close(wrong);
          Fixtures.close(right);
        }
      }
    }
  }

  @Test
  void tlsWithAToken() throws Exception {
    Path cert = tmp.resolve("cert.pem");
    Path key = tmp.resolve("key.pem");
    Process p;
    try {
      p = new ProcessBuilder("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
          "-keyout", key.toString(), "-out", cert.toString(), "-days", "1",
          "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost")
          .redirectErrorStream(true).redirectOutput(tmp.resolve("openssl.log").toFile()).start();
    } catch (java.io.IOException e) {
      assumeTrue(false, "openssl is not installed: " + e.getMessage());
      return;
    }
    assumeTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0 && Files.exists(key),
        "openssl could not make a test certificate");
    try (ModelServer server = ModelServer.builder(iris).tcp("127.0.0.1", 0).tls(cert, key)
        .token("t").start()) {
      ManagedChannel tls = SidecarChannels.forTarget(server.target(), "t", cert);
      ManagedChannel plain = SidecarChannels.forTarget(server.target(), "t", null);
      try {
        assertTrue(Fixtures.blocking(tls).serverLive(ServerLiveRequest.getDefaultInstance())
            .getLive());
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () ->
            Fixtures.blocking(plain).withDeadlineAfter(5, TimeUnit.SECONDS)
                .serverLive(ServerLiveRequest.getDefaultInstance()));
        assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
      } finally {
        Fixtures.close(tls);
        Fixtures.close(plain);
      }
    }
    assertThrows(IllegalArgumentException.class, () -> ModelServer.builder(iris)
        .unixSocket(tmp.resolve("x.sock")).tls(cert, key).build());
  }

  @Test
  void unusableUnixSocketPathsFailClearly() {
    Path longPath = tmp.resolve("d".repeat(120) + ".sock");
    Exception e = assertThrows(Exception.class, () ->
        ModelServer.builder(iris).unixSocket(longPath).start());
    assertTrue(e.getMessage().contains("longer than 107 bytes"), e.getMessage());
    IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
        () -> SidecarChannels.forTarget("unix:relative.sock"));
    assertTrue(bad.getMessage().contains("absolute path"));
    bad = assertThrows(IllegalArgumentException.class, () -> SidecarChannels.forTarget("nohost"));
    assertTrue(bad.getMessage().contains("host:port"));
  }
}
