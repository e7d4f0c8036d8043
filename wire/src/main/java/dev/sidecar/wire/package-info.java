/**
 * What the server and its clients share besides the tensor bytes ({@code dev.sidecar.tensor}):
 * {@link dev.sidecar.wire.SidecarChannels} dials any target a server gives,
 * {@link dev.sidecar.wire.ReadyLine} is the line a sidecar process prints when it serves, and
 * {@link dev.sidecar.wire.SharedMemoryFiles} creates, maps and removes the shared-memory regions
 * both sides map.
 */
package dev.sidecar.wire;
