#!/usr/bin/env bash
# Runs dev.sidecar.benchmarks.ServerBenchmark (offline build of the modules it needs, then java).
# Usage: benchmarks/run-server-benchmark.sh [--seconds 4] [--model mlp|linear] [--transport tcp|uds] ...
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mvn -o -B -q -pl benchmarks -am compile dependency:build-classpath \
  -Dmdep.outputFile=target/classpath.txt -Dmdep.includeScope=runtime
exec java -Xmx1g -cp "benchmarks/target/classes:$(cat benchmarks/target/classpath.txt)" \
  dev.sidecar.benchmarks.ServerBenchmark "$@"
