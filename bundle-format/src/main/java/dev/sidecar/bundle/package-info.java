/**
 * Bundles: the manifest and IO descriptors, the {@code bundle.yaml} spec, reproducible archives
 * with verified digests, build-time validation against the model, and the local store.
 */
package dev.sidecar.bundle;
