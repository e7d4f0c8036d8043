/**
 * The sidecar model server: {@link dev.sidecar.server.ModelServer} serves one bundle over gRPC
 * (Open Inference Protocol v2, health, stats); {@link dev.sidecar.server.SidecarMain} is the
 * process the Spark connector launches; {@link dev.sidecar.server.SidecarChannels} dials it.
 */
package dev.sidecar.server;
