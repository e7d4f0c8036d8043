/**
 * Internals of the bundle module: canonical manifest JSON, names, archive writing and safe
 * reading, and the marker that lets a cached copy be reused unhashed. Not an API, and private to
 * bundle-format (a build test refuses any other module naming it): use {@code dev.sidecar.bundle}
 * and, from sidecar's own modules, {@code dev.sidecar.bundle.files} and
 * {@code dev.sidecar.bundle.onnx}.
 */
package dev.sidecar.bundle.internal;
