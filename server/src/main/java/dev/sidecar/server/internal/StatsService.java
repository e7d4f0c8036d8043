package dev.sidecar.server.internal;

import dev.sidecar.proto.stats.SidecarStatsServiceGrpc;
import dev.sidecar.proto.stats.StatsRequest;
import dev.sidecar.proto.stats.StatsResponse;
import io.grpc.stub.StreamObserver;

/** sidecar's Stats call: counters and latency percentiles of every API. */
final class StatsService extends SidecarStatsServiceGrpc.SidecarStatsServiceImplBase {
  private final ServerCore core;

  StatsService(ServerCore core) {
    this.core = core;
  }

  @Override
  public void stats(StatsRequest request, StreamObserver<StatsResponse> out) {
    out.onNext(core.stats());
    out.onCompleted();
  }
}
