package dev.sidecar.spark.internal;

import dev.sidecar.spark.RunOptions;
import dev.sidecar.spark.RunOptions.SidecarMode;
import java.io.Serializable;
import java.util.List;

/**
 * Everything that shapes a sidecar: the bundle it serves, how it runs, and every run option its
 * start reads ({@link SidecarProcess#start}, {@link ExecutorSlots#serverOptions}): the JVM options,
 * the intra-op threads, and the chunk sizes that bound its queue. A JVM's sidecar is shared by
 * every task whose plan has an equal key; runs with different settings get their own sidecars.
 */
public record SidecarKey(String bundleDigest, SidecarMode mode, List<String> jvmOptions,
    int intraOpThreads, int chunkRows, int chunksInFlight) implements Serializable {
  public SidecarKey {
    jvmOptions = List.copyOf(jvmOptions);
  }

  /** The key of the sidecar that serves bundle {@code bundleDigest} with {@code options}. */
  public static SidecarKey of(String bundleDigest, RunOptions options) {
    return new SidecarKey(bundleDigest, options.sidecarMode(), options.sidecarJvmOptions(),
        options.sidecarIntraOpThreads(), options.chunkRows(), options.chunksInFlight());
  }
}
