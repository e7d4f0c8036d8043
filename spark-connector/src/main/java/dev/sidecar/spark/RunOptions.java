package dev.sidecar.spark;

import dev.sidecar.bundle.BundleRef;
import dev.sidecar.server.ServerOptions;
import java.io.Serializable;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * How {@link Sidecar#runSpark} scores a DataFrame. Immutable and serializable (it travels to
 * executors, without its {@linkplain #progressListener() progress listener}); build one with
 * {@link #builder()}, or use {@link #defaults()}. Every default is declared once, below.
 */
public final class RunOptions implements Serializable {
  private static final long serialVersionUID = 1L;

  /**
   * The default {@code chunkRows}: 0, which sizes each request from the width of the API's input
   * rows to about {@link #CHUNK_TARGET_BYTES} bytes, between {@link #MIN_AUTO_CHUNK_ROWS} and
   * {@link #MAX_AUTO_CHUNK_ROWS} rows (4,096 rows of 256 floats; 65,536 rows of 4 floats).
   */
  public static final int DEFAULT_CHUNK_ROWS = 0;
  /** Input bytes per request that an automatic {@code chunkRows} aims at. */
  public static final int CHUNK_TARGET_BYTES = 4 << 20;
  /** Fewest rows per request an automatic {@code chunkRows} picks. */
  public static final int MIN_AUTO_CHUNK_ROWS = 1024;
  /** Most rows per request an automatic {@code chunkRows} picks. */
  public static final int MAX_AUTO_CHUNK_ROWS = 65536;
  /** Requests a task keeps in flight on its stream. */
  public static final int DEFAULT_CHUNKS_IN_FLIGHT = 4;
  /** JVM options of a sidecar process. */
  public static final List<String> DEFAULT_SIDECAR_JVM_OPTIONS = List.of("-Xmx1g", "-XX:+UseSerialGC");
  /** How long a sidecar may take to print its ready line. */
  public static final Duration DEFAULT_START_TIMEOUT = Duration.ofSeconds(60);
  /** How long a task waits for the answer to one request. */
  public static final Duration DEFAULT_REQUEST_TIMEOUT = Duration.ofSeconds(120);
  /**
   * The columns {@link Builder#lineageColumns(boolean) lineageColumns(true)} appends after the
   * outputs, each named with the {@linkplain #outputPrefix() output prefix} before it: the
   * bundle's name, version and digest and the API (strings), and when the row's chunk was
   * scored (a timestamp).
   */
  public static final List<String> LINEAGE_COLUMNS = List.of("sidecar_bundle", "sidecar_version",
      "sidecar_digest", "sidecar_api", "sidecar_scored_at");

  /** Where the sidecar runs. */
  public enum SidecarMode {
    /** A separate JVM per executor and bundle, over a Unix socket (loopback TCP as fallback). */
    PROCESS,
    /** A server inside the executor JVM, over gRPC's in-process transport: small local runs. */
    IN_PROCESS
  }

  private final int chunkRows;
  private final int chunksInFlight;
  private final SidecarMode sidecarMode;
  private final boolean keepInputColumns;
  private final String outputPrefix;
  private final List<String> sidecarJvmOptions;
  private final int sidecarIntraOpThreads;
  private final Duration startTimeout;
  private final Duration requestTimeout;
  private final boolean allowNulls;
  private final boolean lineageColumns;
  private final String expectedDigest;
  private final boolean sharedMemory;
  /** Called on the driver only: not sent to executors. */
  private final transient ScoringProgress.Listener progressListener;

  private RunOptions(Builder b) {
    this.chunkRows = b.chunkRows;
    this.chunksInFlight = b.chunksInFlight;
    this.sidecarMode = b.sidecarMode;
    this.keepInputColumns = b.keepInputColumns;
    this.outputPrefix = b.outputPrefix;
    this.sidecarJvmOptions = List.copyOf(b.sidecarJvmOptions);
    this.sidecarIntraOpThreads = b.sidecarIntraOpThreads;
    this.startTimeout = b.startTimeout;
    this.requestTimeout = b.requestTimeout;
    this.allowNulls = b.allowNulls;
    this.lineageColumns = b.lineageColumns;
    this.expectedDigest = b.expectedDigest;
    this.sharedMemory = b.sharedMemory;
    this.progressListener = b.progressListener;
  }

  public static RunOptions defaults() {
    return builder().build();
  }

  public static Builder builder() {
    return new Builder();
  }

  /** A builder starting from these options. */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.chunkRows = chunkRows; // 0 (automatic) is valid here but not a value a user may set
    return b
        .chunksInFlight(chunksInFlight)
        .sidecarMode(sidecarMode)
        .keepInputColumns(keepInputColumns)
        .outputPrefix(outputPrefix)
        .sidecarJvmOptions(sidecarJvmOptions)
        .sidecarIntraOpThreads(sidecarIntraOpThreads)
        .startTimeout(startTimeout)
        .requestTimeout(requestTimeout)
        .allowNulls(allowNulls)
        .lineageColumns(lineageColumns)
        .expectedDigest(expectedDigest)
        .sharedMemory(sharedMemory)
        .progressListener(progressListener);
  }

  /** Rows per request; 0 (the default) sizes requests from the row width (see {@link #DEFAULT_CHUNK_ROWS}). */
  public int chunkRows() {
    return chunkRows;
  }

  /**
   * The rows per request for input rows of {@code bytesPerRow} bytes: {@link #chunkRows()} when
   * set, else about {@link #CHUNK_TARGET_BYTES} bytes' worth, within the automatic bounds.
   */
  public int chunkRowsFor(long bytesPerRow) {
    if (chunkRows > 0) {
      return chunkRows;
    }
    long rows = CHUNK_TARGET_BYTES / Math.max(1, bytesPerRow);
    return (int) Math.max(MIN_AUTO_CHUNK_ROWS, Math.min(MAX_AUTO_CHUNK_ROWS, rows));
  }

  /**
   * The most rows per request these options can produce, whatever the row width: what
   * {@link #chunkRowsFor} gives for the narrowest rows.
   */
  public int largestChunkRows() {
    return chunkRowsFor(1);
  }

  public int chunksInFlight() {
    return chunksInFlight;
  }

  public SidecarMode sidecarMode() {
    return sidecarMode;
  }

  public boolean keepInputColumns() {
    return keepInputColumns;
  }

  public String outputPrefix() {
    return outputPrefix;
  }

  public List<String> sidecarJvmOptions() {
    return sidecarJvmOptions;
  }

  public int sidecarIntraOpThreads() {
    return sidecarIntraOpThreads;
  }

  public Duration startTimeout() {
    return startTimeout;
  }

  public Duration requestTimeout() {
    return requestTimeout;
  }

  public boolean allowNulls() {
    return allowNulls;
  }

  /** True when the result gets the {@link #LINEAGE_COLUMNS}. */
  public boolean lineageColumns() {
    return lineageColumns;
  }

  /**
   * The bundle digest ({@code sha256:<hex>}) the scored bundle must have, or null (default: any);
   * see {@link Builder#expectedDigest(String)}.
   */
  public String expectedDigest() {
    return expectedDigest;
  }

  /**
   * True (the default) when tasks pass rows to a sidecar on their machine through shared memory
   * where they can, and bytes on the gRPC stream otherwise.
   */
  public boolean sharedMemory() {
    return sharedMemory;
  }

  /**
   * The listener that receives the scoring's progress on the driver, or null (the default: none);
   * see {@link Builder#progressListener}. Never set on executors (it is not serialized).
   */
  public ScoringProgress.Listener progressListener() {
    return progressListener;
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof RunOptions)) {
      return false;
    }
    RunOptions r = (RunOptions) o;
    return chunkRows == r.chunkRows && chunksInFlight == r.chunksInFlight
        && sidecarMode == r.sidecarMode && keepInputColumns == r.keepInputColumns
        && outputPrefix.equals(r.outputPrefix) && sidecarJvmOptions.equals(r.sidecarJvmOptions)
        && sidecarIntraOpThreads == r.sidecarIntraOpThreads
        && startTimeout.equals(r.startTimeout) && requestTimeout.equals(r.requestTimeout)
        && allowNulls == r.allowNulls && lineageColumns == r.lineageColumns
        && Objects.equals(expectedDigest, r.expectedDigest)
        && sharedMemory == r.sharedMemory
        && Objects.equals(progressListener, r.progressListener);
  }

  @Override
  public int hashCode() {
    return Objects.hash(chunkRows, chunksInFlight, sidecarMode, keepInputColumns, outputPrefix,
        sidecarJvmOptions, sidecarIntraOpThreads, startTimeout, requestTimeout, allowNulls,
        lineageColumns, expectedDigest, sharedMemory, progressListener);
  }

  @Override
  public String toString() {
    return "RunOptions[chunkRows=" + (chunkRows == 0 ? "auto" : chunkRows) + ", chunksInFlight=" + chunksInFlight
        + ", sidecarMode=" + sidecarMode + ", keepInputColumns=" + keepInputColumns
        + ", outputPrefix='" + outputPrefix + "', sidecarJvmOptions=" + sidecarJvmOptions
        + ", sidecarIntraOpThreads=" + sidecarIntraOpThreads + ", startTimeout=" + startTimeout
        + ", requestTimeout=" + requestTimeout + ", allowNulls=" + allowNulls
        + ", lineageColumns=" + lineageColumns + ", sharedMemory=" + sharedMemory
        + (expectedDigest == null ? "" : ", expectedDigest=" + expectedDigest)
        + (progressListener == null ? "" : ", progressListener=" + progressListener) + "]";
  }

  /** Builds {@link RunOptions}; each setter checks its argument and names it when it is bad. */
  public static final class Builder {
    private int chunkRows = DEFAULT_CHUNK_ROWS;
    private int chunksInFlight = DEFAULT_CHUNKS_IN_FLIGHT;
    private SidecarMode sidecarMode = SidecarMode.PROCESS;
    private boolean keepInputColumns = true;
    private String outputPrefix = "";
    private List<String> sidecarJvmOptions = DEFAULT_SIDECAR_JVM_OPTIONS;
    private int sidecarIntraOpThreads = ServerOptions.DEFAULT_INTRA_OP_THREADS;
    private Duration startTimeout = DEFAULT_START_TIMEOUT;
    private Duration requestTimeout = DEFAULT_REQUEST_TIMEOUT;
    private boolean allowNulls = false;
    private boolean lineageColumns = false;
    private String expectedDigest;
    private boolean sharedMemory = true;
    private ScoringProgress.Listener progressListener;

    private Builder() {
    }

    /** Rows per request, at least 1 (default: sized from the row width, see {@link RunOptions#DEFAULT_CHUNK_ROWS}). */
    public Builder chunkRows(int rows) {
      if (rows < 1) {
        throw new IllegalArgumentException("chunkRows must be at least 1, got " + rows);
      }
      this.chunkRows = rows;
      return this;
    }

    /** Requests in flight per task (default {@value RunOptions#DEFAULT_CHUNKS_IN_FLIGHT}); at least 1. */
    public Builder chunksInFlight(int chunks) {
      if (chunks < 1) {
        throw new IllegalArgumentException("chunksInFlight must be at least 1, got " + chunks);
      }
      this.chunksInFlight = chunks;
      return this;
    }

    /** Where the sidecar runs (default {@link SidecarMode#PROCESS}). */
    public Builder sidecarMode(SidecarMode mode) {
      this.sidecarMode = Objects.requireNonNull(mode, "sidecarMode");
      return this;
    }

    /** Keep the input DataFrame's columns before the outputs (default true). */
    public Builder keepInputColumns(boolean keep) {
      this.keepInputColumns = keep;
      return this;
    }

    /** Prefix added to every output column name (default none). */
    public Builder outputPrefix(String prefix) {
      this.outputPrefix = Objects.requireNonNull(prefix, "outputPrefix");
      return this;
    }

    /** JVM options of the sidecar process (default {@code -Xmx1g -XX:+UseSerialGC}). */
    public Builder sidecarJvmOptions(List<String> options) {
      this.sidecarJvmOptions = List.copyOf(Objects.requireNonNull(options, "sidecarJvmOptions"));
      return this;
    }

    /**
     * ONNX Runtime intra-op threads of the sidecar (default
     * {@link ServerOptions#DEFAULT_INTRA_OP_THREADS}); 0 means ONNX Runtime's choice, as for
     * {@code --intra-op-threads 0} everywhere.
     */
    public Builder sidecarIntraOpThreads(int threads) {
      if (threads < 0) {
        throw new IllegalArgumentException("sidecarIntraOpThreads must be 0 or more, got " + threads);
      }
      this.sidecarIntraOpThreads = threads;
      return this;
    }

    /** How long a sidecar may take to become ready (default 60 s). */
    public Builder startTimeout(Duration timeout) {
      this.startTimeout = positive(timeout, "startTimeout");
      return this;
    }

    /** How long a task waits for the answer to one request (default 120 s). */
    public Builder requestTimeout(Duration timeout) {
      this.requestTimeout = positive(timeout, "requestTimeout");
      return this;
    }

    /**
     * When true, a row with a null input passes through with null outputs; when false (default)
     * it fails the task with a message naming the column and the row.
     */
    public Builder allowNulls(boolean allow) {
      this.allowNulls = allow;
      return this;
    }

    /**
     * When true, every output row also gets the {@link RunOptions#LINEAGE_COLUMNS} (prefixed
     * like the outputs): {@code sidecar_bundle}, {@code sidecar_version}, {@code sidecar_digest}
     * and {@code sidecar_api} (strings) say what scored it, {@code sidecar_scored_at} (a
     * timestamp, one per chunk of rows) when. Rows let through with null outputs by
     * {@link #allowNulls(boolean)} get them too. Default false.
     */
    public Builder lineageColumns(boolean lineage) {
      this.lineageColumns = lineage;
      return this;
    }

    /**
     * Pins the bundle: {@code runSpark} fails on the driver, before any task runs and naming
     * both digests, unless the bundle's digest ({@code sha256:<64 hex>}, as {@code sidecar
     * bundle inspect} prints it; bare hex is accepted) is this one. The same as a
     * {@code #sha256:<hex>} suffix on the tag, path or URI; null (the default) pins nothing.
     */
    public Builder expectedDigest(String digest) {
      try {
        this.expectedDigest = digest == null ? null
            : BundleRef.normalizeDigest(digest, "expectedDigest");
      } catch (dev.sidecar.bundle.BundleException e) {
        throw new IllegalArgumentException(e.getMessage(), e);
      }
      return this;
    }

    /**
     * Whether tasks may pass rows to the sidecar through POSIX shared memory (default true): each
     * task's chunks are encoded into private mapped regions that the sidecar reads and writes its
     * outputs into, and only small messages cross the gRPC stream. Where shared memory cannot be
     * used (no {@code /dev/shm}, a sidecar that refuses the region) the rows go as bytes on the
     * stream, as they always do when this is false.
     */
    public Builder sharedMemory(boolean use) {
      this.sharedMemory = use;
      return this;
    }

    /**
     * Reports the scoring's progress (rows scored, chunks sent each way, what a task held at
     * most) to {@code listener} on the driver, gathered from every executor through Spark
     * accumulators; see {@link ScoringProgress}. The listener stays registered with the
     * SparkContext for as long as it runs and hears every computation of the result. Null (the
     * default) reports nothing and costs nothing. Not part of what shapes a sidecar.
     */
    public Builder progressListener(ScoringProgress.Listener listener) {
      this.progressListener = listener;
      return this;
    }

    public RunOptions build() {
      return new RunOptions(this);
    }

    private static Duration positive(Duration d, String name) {
      Objects.requireNonNull(d, name);
      if (d.isZero() || d.isNegative()) {
        throw new IllegalArgumentException(name + " must be positive, got " + d);
      }
      return d;
    }
  }
}
