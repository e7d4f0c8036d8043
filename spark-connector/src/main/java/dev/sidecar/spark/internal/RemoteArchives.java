package dev.sidecar.spark.internal;

import dev.sidecar.bundle.BundleArchive;
import dev.sidecar.bundle.BundleException;
import dev.sidecar.bundle.BundleInfo;
import dev.sidecar.bundle.files.Locks;
import dev.sidecar.bundle.files.PrivateFiles;
import dev.sidecar.spark.SidecarSparkException;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.FileNotFoundException;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileContext;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Options;
import org.apache.hadoop.fs.UnsupportedFileSystemException;
import org.apache.spark.broadcast.Broadcast;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Bundle archives at URIs: {@code https://} (and loopback {@code http://}) through the JDK's
 * HTTP client, every other scheme through Hadoop's {@link FileSystem} with the caller's Hadoop
 * configuration, so {@code hdfs://}, {@code s3a://}, {@code abfs://}, {@code gs://} work with
 * whatever connectors and credentials the cluster is configured with.
 *
 * <p>In Spark, the driver reads only the manifest (the archive's first entry) to plan; each
 * executor then copies the archive from the URI itself, once, into its private cache (with a
 * broadcast copy of the driver's Hadoop configuration, made once per application and
 * configuration by {@link BundleShipper#remote}), checks the copy's manifest has the digest the
 * driver planned with, and unpacks it hashing every file once. The archive never passes through
 * the driver. Holds no state: everything here is a function of its arguments.
 */
public final class RemoteArchives {
  private static final Logger LOG = LoggerFactory.getLogger(RemoteArchives.class);

  private RemoteArchives() {
  }

  /** Where executors read a bundle's archive themselves: the URI and the driver's Hadoop conf. */
  public record Source(String uri, Broadcast<byte[]> hadoopConf) implements Serializable {
  }

  // ---- driver --------------------------------------------------------------------------

  /**
   * The manifest and digest of the archive at {@code uri}, reading only its first entry.
   *
   * @throws BundleException naming the URI: missing object, access denied, unknown scheme,
   *     not a bundle
   */
  public static BundleInfo peek(String uri, Configuration conf) {
    try (Downloads.Opened o = open(uri, conf)) {
      return BundleArchive.peek(o.in(), uri);
    } catch (IOException e) {
      throw failure(uri, e);
    }
  }

  // ---- executors -------------------------------------------------------------------------

  /**
   * The archive of {@code plan} in {@code cache/archives/}, copied from its URI unless this
   * cache already has it (one copy per cache, under a file lock). A fresh copy whose manifest
   * has another digest than the planned one (the object changed after the driver read it) is
   * refused and deleted; its files are verified when it is unpacked.
   * {@code copies} counts the copies made.
   */
  static Path fetch(ScoringPlan plan, Path cache, AtomicInteger copies) {
    Source src = plan.remote();
    String uri = src.uri();
    try {
      Path dir = PrivateFiles.directory(cache.resolve("archives"));
      Path target = dir.resolve(plan.shippedFileName());
      return Locks.withLock(dir.resolve(".locks").resolve(plan.shippedFileName() + ".lock"),
          () -> {
            try {
              if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
                PrivateFiles.checkOwned(target, false);
                return target; // verified against the plan's digest when unpacked
              }
              Path tmp = PrivateFiles.tempFile(dir, plan.shippedFileName(), ".part");
              try {
                download(uri, deserialize(src.hadoopConf().value()), tmp);
                // The manifest only: another object is refused here, by name. The files are
                // hashed once, as they are unpacked (ExecutorBundles, with the planned digest);
                // a copy that fails there (a truncated object keeps its manifest intact) is
                // removed so the next attempt copies it afresh.
                String got;
                try (InputStream in = Files.newInputStream(tmp)) {
                  got = BundleArchive.peek(in, uri).digest();
                }
                if (!got.equals(plan.bundleDigest())) {
                  throw new BundleException(uri + ": the object changed after the driver read"
                      + " it: the driver planned with bundle digest " + plan.bundleDigest()
                      + ", this executor read " + got + "; run the job again");
                }
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
              } finally {
                Files.deleteIfExists(tmp);
              }
              copies.incrementAndGet();
              LOG.info("copied bundle archive {} ({}) into {}", uri, plan.bundleDigest(), target);
              return target;
            } catch (IOException e) {
              throw new UncheckedIOException(e);
            }
          });
    } catch (IOException | RuntimeException e) {
      throw new SidecarSparkException("cannot copy the archive of bundle " + plan.bundleTag()
          + " from " + uri + " on this executor: " + e.getMessage(), e);
    }
  }

  // ---- any side ----------------------------------------------------------------------------

  /**
   * Copies the object at {@code uri} into the existing file {@code target} (truncated first),
   * checking its length and the archive size limit. The copy is not verified here.
   */
  public static void download(String uri, Configuration conf, Path target) {
    long max = BundleArchive.Limits.defaults().maxArchiveBytes();
    try (Downloads.Opened o = open(uri, conf);
        OutputStream out = Files.newOutputStream(target, StandardOpenOption.WRITE,
            StandardOpenOption.TRUNCATE_EXISTING, LinkOption.NOFOLLOW_LINKS)) {
      Downloads.copy(o.in(), o.length(), out, max, uri);
    } catch (IOException e) {
      throw failure(uri, e);
    }
  }

  /**
   * Writes {@code archive} to {@code uri} on a Hadoop file system: into a temporary name beside
   * the target, then renamed over it (atomic on HDFS; on object stores the upload only appears
   * when complete). {@code https://} is read-only.
   */
  public static void push(Path archive, String uri, Configuration conf) {
    URI u = uri(uri);
    String scheme = scheme(u);
    if (Downloads.isHttp(scheme)) {
      throw new BundleException(uri + ": " + scheme + ":// is read-only for sidecar; push to a"
          + " Hadoop file system (" + String.join(", ", hadoopSchemes(conf)) + ")");
    }
    org.apache.hadoop.fs.Path dst = new org.apache.hadoop.fs.Path(u);
    if (dst.getParent() == null) {
      throw new BundleException(uri + ": name a file, not the root of the file system");
    }
    org.apache.hadoop.fs.Path tmp = new org.apache.hadoop.fs.Path(dst.getParent(),
        "." + dst.getName() + ".tmp-" + UUID.randomUUID());
    try (FileSystem fs = fileSystem(u, conf)) {
      boolean moved = false;
      try {
        try (InputStream in = Files.newInputStream(archive);
            OutputStream out = fs.create(tmp, false)) {
          in.transferTo(out);
        }
        moved = rename(fs, u, conf, tmp, dst);
      } finally {
        if (!moved) {
          try {
            fs.delete(tmp, false);
          } catch (IOException e) {
            LOG.warn("cannot remove {}: {}", tmp, e.getMessage());
          }
        }
      }
    } catch (IOException e) {
      throw failure(uri, e);
    }
  }

  /** Renames over an existing target: atomically where FileContext can, else delete + rename. */
  private static boolean rename(FileSystem fs, URI u, Configuration conf,
      org.apache.hadoop.fs.Path tmp, org.apache.hadoop.fs.Path dst) throws IOException {
    try {
      FileContext.getFileContext(u, conf).rename(tmp, dst, Options.Rename.OVERWRITE);
      return true;
    } catch (UnsupportedFileSystemException e) {
      LOG.debug("no FileContext for {}; renaming with FileSystem", u, e);
    }
    if (fs.exists(dst) && !fs.delete(dst, false)) {
      throw new IOException("cannot replace the existing " + dst);
    }
    if (!fs.rename(tmp, dst)) {
      throw new IOException("cannot rename " + tmp + " to " + dst);
    }
    return true;
  }

  /** Opens {@code uri}: its bytes and length. */
  static Downloads.Opened open(String uri, Configuration conf) throws IOException {
    URI u = uri(uri);
    String scheme = scheme(u);
    if (Downloads.isHttp(scheme)) {
      return Downloads.openHttp(u);
    }
    FileSystem fs = fileSystem(u, conf);
    try {
      org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(u);
      FileStatus st = fs.getFileStatus(p);
      if (!st.isFile()) {
        throw new BundleException(uri + ": a directory, not a bundle archive");
      }
      InputStream in = fs.open(p);
      return new Downloads.Opened(new FilterInputStream(in) {
        @Override
        public void close() throws IOException {
          try {
            super.close();
          } finally {
            fs.close();
          }
        }
      }, st.getLen());
    } catch (IOException | RuntimeException e) {
      fs.close();
      throw e;
    }
  }

  /**
   * A new (uncached) file system for {@code u}, so closing it affects no one else; an unknown
   * scheme is an error listing the supported ones.
   */
  private static FileSystem fileSystem(URI u, Configuration conf) throws IOException {
    String scheme = scheme(u);
    try {
      FileSystem.getFileSystemClass(scheme, conf);
    } catch (UnsupportedFileSystemException e) {
      throw new BundleException(u + ": unknown scheme '" + scheme + "'; supported: https,"
          + " http (loopback hosts only), and the Hadoop file systems this cluster is"
          + " configured for: " + String.join(", ", hadoopSchemes(conf))
          + " (others need their Hadoop connector on the class path)");
    }
    return FileSystem.newInstance(u, conf);
  }

  /** The schemes Hadoop knows here: its service-loaded file systems and fs.SCHEME.impl keys. */
  static Set<String> hadoopSchemes(Configuration conf) {
    Set<String> out = new TreeSet<>();
    Iterator<FileSystem> it = ServiceLoader.load(FileSystem.class,
        FileSystem.class.getClassLoader()).iterator();
    while (true) {
      try {
        if (!it.hasNext()) {
          break;
        }
        String scheme = it.next().getScheme();
        if (scheme != null) {
          out.add(scheme);
        }
      } catch (Throwable e) { // a connector lacking its dependencies, or without a scheme
        LOG.debug("skipping a file system while listing schemes", e);
      }
    }
    for (Map.Entry<String, String> e : conf) {
      String k = e.getKey();
      if (k.startsWith("fs.") && k.endsWith(".impl") && k.indexOf('.', 3) == k.length() - 5) {
        out.add(k.substring(3, k.length() - 5));
      }
    }
    return out;
  }

  private static URI uri(String uri) {
    try {
      URI u = new URI(uri);
      if (u.getScheme() == null) {
        throw new BundleException(uri + ": not a URI (no scheme)");
      }
      return u;
    } catch (URISyntaxException e) {
      throw new BundleException(uri + ": not a valid URI: " + e.getMessage(), e);
    }
  }

  private static String scheme(URI u) {
    return u.getScheme().toLowerCase(Locale.ROOT);
  }

  /** A clear message for an I/O failure at {@code uri}. */
  static BundleException failure(String uri, IOException e) {
    if (e instanceof FileNotFoundException) {
      return new BundleException(uri + ": no such object", e);
    }
    // Missing credentials first: s3a reports them as an AccessDeniedException whose cause is a
    // NoAuthWithAWSException (NoAwsCredentialsException: "No AWS credentials in the Hadoop
    // configuration"; the provider chain: "No AWS Credentials provided by ...").
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (isNoCredentials(t)) {
        return new BundleException(uri + ": no credentials for " + scheme(uri(uri)) + "://"
            + " (they come from the cluster's Hadoop configuration and credential providers): "
            + t.getMessage(), e);
      }
    }
    for (Throwable t = e; t != null; t = t.getCause()) {
      String name = t.getClass().getName();
      if (t instanceof java.nio.file.AccessDeniedException
          || name.equals("org.apache.hadoop.security.AccessControlException")) {
        return new BundleException(uri + ": access denied (check the credentials in the"
            + " cluster's Hadoop configuration): " + t.getMessage(), e);
      }
    }
    return new BundleException(uri + ": " + e, e);
  }

  private static boolean isNoCredentials(Throwable t) {
    for (Class<?> c = t.getClass(); c != null; c = c.getSuperclass()) {
      String name = c.getName();
      if (name.endsWith(".NoAuthWithAWSException") || name.contains("CredentialInitialization")) {
        return true;
      }
    }
    String m = t.getMessage();
    return m != null && m.toLowerCase(Locale.ROOT).contains("no aws credentials");
  }

  static byte[] serialize(Configuration conf) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      conf.write(out);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }

  static Configuration deserialize(byte[] bytes) {
    Configuration conf = new Configuration(false);
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
      conf.readFields(in);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return conf;
  }
}
