package dev.sidecar.testkit;

import java.io.IOException;
import java.nio.file.Path;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.hdfs.MiniDFSCluster;

/**
 * A real HDFS for tests: Hadoop's {@link MiniDFSCluster} (one name node, one data node, on
 * loopback), from {@code hadoop-client-minicluster} of the Hadoop version the Spark line brings.
 * The caller adds that artifact at test scope; it is optional here.
 */
public final class MiniHdfs implements AutoCloseable {
  private final MiniDFSCluster cluster;

  private MiniHdfs(MiniDFSCluster cluster) {
    this.cluster = cluster;
  }

  /** Starts a cluster keeping its blocks under {@code baseDir} (created, emptied first). */
  public static MiniHdfs start(Path baseDir) throws IOException {
    Configuration conf = new Configuration();
    conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, baseDir.toAbsolutePath().toString());
    conf.set("dfs.namenode.http-address", "127.0.0.1:0");
    conf.set("dfs.datanode.address", "127.0.0.1:0");
    conf.set("dfs.datanode.http.address", "127.0.0.1:0");
    conf.set("dfs.datanode.ipc.address", "127.0.0.1:0");
    MiniDFSCluster c = new MiniDFSCluster.Builder(conf).numDataNodes(1).format(true).build();
    c.waitActive();
    return new MiniHdfs(c);
  }

  /** {@code hdfs://host:port} followed by {@code path} (absolute, starting with '/'). */
  public String uri(String path) {
    return cluster.getURI().toString() + path;
  }

  /** The cluster's client configuration. */
  public Configuration conf() {
    return cluster.getConfiguration(0);
  }

  /** A file system client of the cluster (closed with the cluster). */
  public FileSystem fileSystem() throws IOException {
    return cluster.getFileSystem();
  }

  @Override
  public void close() {
    cluster.shutdown(true);
  }
}
