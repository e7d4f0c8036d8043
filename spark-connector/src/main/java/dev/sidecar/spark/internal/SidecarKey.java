package dev.sidecar.spark.internal;

import dev.sidecar.spark.RunOptions.SidecarMode;
import java.io.Serializable;

/** A sidecar per JVM is shared by every task scoring the same bundle digest in the same mode. */
public record SidecarKey(String bundleDigest, SidecarMode mode) implements Serializable {
}
