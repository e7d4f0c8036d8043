package dev.sidecar.spark;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.Tag;

/**
 * A test whose outcome can differ by Spark line (JUnit tag {@code line}): it exercises the
 * connector's use of Spark's API (Datasets, encoders, internal rows, types, Structured
 * Streaming, listeners and task retries), its compiled bytecode, the class path a sidecar
 * process is started from, multi-process executors, the line's shaded jar or spark-submit. CI
 * runs every test on the default line and only these on the other lines ({@code -Dgroups=line}
 * in .ci/run). What does not depend on the line runs once: bundles on HDFS, S3 and HTTPS, shared
 * memory, cache locations and file modes, sidecar keys and options.
 */
@Target({ElementType.TYPE, ElementType.METHOD})
@Retention(RetentionPolicy.RUNTIME)
@Tag("line")
public @interface EveryLine {
}
