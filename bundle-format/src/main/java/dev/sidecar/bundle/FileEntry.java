package dev.sidecar.bundle;

/** A file of the bundle (models included): path relative to the bundle root, size and SHA-256. */
public record FileEntry(String path, long size, String sha256) {
}
