/**
 * The sidecar model server: {@link dev.sidecar.server.ModelServer} serves one bundle over gRPC
 * (Open Inference Protocol v2, health, stats); {@link dev.sidecar.server.SidecarMain} is the
 * process the Spark connector launches. Clients dial it with the wire module's
 * {@link dev.sidecar.wire.SidecarChannels}.
 */
package dev.sidecar.server;
