/**
 * The file conventions every sidecar module follows, said once: private files and directories
 * ({@link dev.sidecar.bundle.files.PrivateFiles}: 0700/0600 whatever the umask, checked before
 * reuse), trees deleted without following links and atomic renames
 * ({@link dev.sidecar.bundle.files.FileTrees}), SHA-256 digests
 * ({@link dev.sidecar.bundle.files.Digests}) and locks across threads and processes
 * ({@link dev.sidecar.bundle.files.Locks}). The bundle store and archives use them, and so do the
 * server, the Spark connector's cache, the CLI and the benchmarks.
 *
 * <p>For sidecar's own modules, not a user API: no compatibility promise.
 */
package dev.sidecar.bundle.files;
