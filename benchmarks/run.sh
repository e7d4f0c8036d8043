#!/usr/bin/env bash
# Builds the benchmarks through the reactor and runs one of them.
#   benchmarks/run.sh SparkBenchmark  [--quick] [options]   # the throughput table
#   benchmarks/run.sh SystemBenchmark [--quick] [options]   # cold start, second job, memory, archives
# Env: PROFILE=scala-2.12 builds and runs on Spark 3.5 / Scala 2.12 with SynapseML's ONNXModel
#        (the synapseml way of SparkBenchmark); unset: the default build (Spark 4.1 / Scala 2.13),
#      MVN_FLAGS (default "-o -B -q"; with PROFILE "-B -q", so SynapseML is fetched from Maven
#        Central the first time), SKIP_BUILD=1 to reuse the last build,
#      BENCH_JVM_OPTS (default "-Xmx4g") for the benchmark JVM (= the Spark executor in local mode).
set -euo pipefail
cd "$(dirname "$0")/.."
main="${1:?usage: benchmarks/run.sh SparkBenchmark|SystemBenchmark [options]}"
shift
if [ -z "${SKIP_BUILD:-}" ]; then
  if [ -n "${PROFILE:-}" ]; then
    # shellcheck disable=SC2086
    mvn ${MVN_FLAGS:--B -q} -P"$PROFILE" -pl benchmarks -am package -DskipTests
  else
    # shellcheck disable=SC2086
    mvn ${MVN_FLAGS:--o -B -q} -pl benchmarks -am package -DskipTests
  fi
fi
export SPARK_LOCAL_IP=127.0.0.1
# shellcheck disable=SC2046,SC2086
exec java ${BENCH_JVM_OPTS:--Xmx4g} $(cat benchmarks/target/benchmark.jvmopts) \
  -cp "benchmarks/target/classes:$(cat benchmarks/target/benchmark.classpath)" \
  "dev.sidecar.bench.$main" "$@"
