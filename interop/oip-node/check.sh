#!/usr/bin/env bash
# OIP interop check: a Node.js client built from its own oip.proto against `sidecar serve`.
#
# Needs node >= 20 and npm on PATH and bin/sidecar built (mvn -B -DskipTests package).
# Installs the pinned client dependencies (npm ci), builds the iris bundle into a temporary
# SIDECAR_HOME, serves it on a free loopback port, runs client.js against it (for each of the
# bundle's two APIs), stops the server with SIGTERM and exits with the clients' status.
#
# Exit status: 0 when every check passed, 1 on any failed check or setup failure; 77 when the
# check cannot run here (no node/npm, or the npm registry cannot be reached).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
SKIP=77
SERVER_START_TIMEOUT_S="${SERVER_START_TIMEOUT_S:-90}"

log() { echo "check.sh: $*" >&2; }

for tool in node npm; do
  if ! command -v "$tool" > /dev/null 2>&1; then
    log "SKIP: $tool is not on PATH"
    exit $SKIP
  fi
done
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  log "SKIP: node $(node --version) is too old; the client needs node 20 or newer"
  exit $SKIP
fi
if [ ! -f "$root/cli/target/sidecar-cli.jar" ]; then
  log "$root/cli/target/sidecar-cli.jar not found; build it first: (cd $root && mvn -B -DskipTests package)"
  exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/sidecar-oip-node.XXXXXX")"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2> /dev/null; then
    kill -KILL "$server_pid" 2> /dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# 1. The client's pinned dependencies (package-lock.json).
log "npm ci in $here"
if ! (cd "$here" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error) > "$work/npm.log" 2>&1; then
  cat "$work/npm.log" >&2
  if grep -Eq 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|network|proxy' "$work/npm.log"; then
    log "SKIP: npm ci could not reach the npm registry"
    exit $SKIP
  fi
  log "npm ci failed"
  exit 1
fi

# 2. The iris bundle in a throwaway store.
export SIDECAR_HOME="$work/home"
export SIDECAR_JAVA_OPTS="${SIDECAR_JAVA_OPTS:--Xmx512m}"
log "bundle build examples/iris/bundle.yaml into SIDECAR_HOME=$SIDECAR_HOME"
if ! "$root/bin/sidecar" bundle build "$root/examples/iris/bundle.yaml" > "$work/build.log" 2>&1; then
  cat "$work/build.log" >&2
  log "bundle build failed"
  exit 1
fi

# 3. The server, on a free loopback port; it prints "serving TAG (DIGEST) on HOST:PORT".
"$root/bin/sidecar" serve iris_classifier:latest --host 127.0.0.1 --port 0 \
  > "$work/serve.out" 2> "$work/serve.err" &
server_pid=$!
target=""
for _ in $(seq 1 $((SERVER_START_TIMEOUT_S * 5))); do
  target="$(sed -n 's/^serving .* on \(127\.0\.0\.1:[0-9][0-9]*\)$/\1/p' "$work/serve.out" | head -n 1)"
  [ -n "$target" ] && break
  if ! kill -0 "$server_pid" 2> /dev/null; then
    break
  fi
  sleep 0.2
done
if [ -z "$target" ]; then
  log "the server did not say where it listens; its output:"
  cat "$work/serve.out" "$work/serve.err" >&2
  exit 1
fi
log "server (pid $server_pid) listening on $target"

# 4. The client: once with the dataframe API 'classify' (four FP32 [-1] columns), once with the
# tensor API 'classify_tensor' (one FP32 [-1, 4] column) as the second model it talks to.
status=0
for api in classify classify_tensor; do
  node "$here/client.js" --target "$target" --model iris_classifier --api "$api" \
    --csv "$root/examples/iris/iris.csv" --expected "$root/examples/iris/expected_predictions.csv" \
    || status=1
done

# 5. Stop the server gracefully.
kill -TERM "$server_pid" 2> /dev/null || true
for _ in $(seq 1 150); do
  kill -0 "$server_pid" 2> /dev/null || break
  sleep 0.2
done
if kill -0 "$server_pid" 2> /dev/null; then
  log "the server did not stop within 30 s of SIGTERM; killing it"
  kill -KILL "$server_pid" 2> /dev/null || true
  status=1
fi
wait "$server_pid" 2> /dev/null || true
server_pid=""
if [ "$status" -ne 0 ]; then
  log "server stderr:"
  cat "$work/serve.err" >&2
fi
exit "$status"
