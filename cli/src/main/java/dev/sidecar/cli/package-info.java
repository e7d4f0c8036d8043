/**
 * The {@code sidecar} command line: {@link dev.sidecar.cli.SidecarCli} is the root command;
 * {@code bundle} builds, inspects, verifies and manages bundles in the local store; {@code serve}
 * runs the gRPC model server and {@code stats} reads its counters.
 */
package dev.sidecar.cli;
