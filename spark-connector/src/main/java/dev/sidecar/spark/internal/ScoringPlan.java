package dev.sidecar.spark.internal;

import dev.sidecar.spark.RunOptions;
import java.io.Serializable;
import java.util.List;
import org.apache.spark.sql.types.StructType;

/**
 * Everything a task needs to score a partition, decided on the driver: which bundle (by digest
 * and the name and URI Spark ships its archive under, or the URI executors read it from
 * themselves — {@code remote}, null when Spark ships it), which API, how input fields map to tensors,
 * which input fields are kept, the output schema, the lineage columns' values and the options.
 */
public record ScoringPlan(String bundleTag, String bundleDigest, String shippedFileName,
    String shippedUri, String api, List<InputColumn> inputs, List<OutputColumn> outputs, int[] keptFields,
    StructType outputSchema, Lineage lineage, RunOptions options, RemoteArchives.Source remote)
    implements Serializable {
  public ScoringPlan {
    inputs = List.copyOf(inputs);
    outputs = List.copyOf(outputs);
    keptFields = keptFields.clone();
  }

  /** The same plan with the name and URI Spark ships the bundle's archive under. */
  public ScoringPlan shippedAs(BundleShipper.Shipped shipped) {
    return new ScoringPlan(bundleTag, bundleDigest, shipped.fileName(), shipped.uri(), api,
        inputs, outputs, keptFields, outputSchema, lineage, options, null);
  }

  /** The same plan with executors reading the archive from {@code source} themselves. */
  public ScoringPlan readFrom(String bundleName, RemoteArchives.Source source) {
    return new ScoringPlan(bundleTag, bundleDigest,
        BundleFiles.shippedFileName(bundleName, bundleDigest),
        source.uri(), api, inputs, outputs, keptFields, outputSchema, lineage, options, source);
  }

  /** Identifies the sidecar that serves this plan within one JVM. */
  public SidecarKey sidecarKey() {
    return SidecarKey.of(bundleDigest, options);
  }
}
