#!/usr/bin/env bash
# The Python package's build, run by Maven (python/pom.xml) after spark-connector is packaged:
#
#   python/build.sh wheel         copy the connector's shaded jar into the package and build
#                                 the wheel into python/target/dist
#   python/build.sh test [ARGS]   install the wheel and the pinned test requirements into the
#                                 build's own virtual environment and run pytest (ARGS go to it)
#
# Needs only Python 3.9+ with venv and pip (PYTHON, default python3). The environment is
# python/target/venv, made and filled once; it is reused while the requirements files are
# unchanged. Nothing is installed outside python/target.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
target="$here/target"
venv="$target/venv"
python="${PYTHON:-python3}"
jar_glob="sidecar-spark-connector*-shaded.jar"

die() { echo "python/build.sh: $*" >&2; exit 1; }

# Creates the virtual environment if needed and installs a requirements file into it, once.
requirements() {
  local file="$here/$1" stamp
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "" 2>/dev/null; then
    rm -rf "$venv"
    mkdir -p "$target"
    "$python" -m venv "$venv" || die "cannot create a virtual environment with $python -m venv"
  fi
  stamp="$venv/.installed-$1-$(sha256sum "$file" | cut -c1-16)"
  if [ ! -e "$stamp" ]; then
    local start=$SECONDS
    echo "python/build.sh: installing $1 into $venv"
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 "$venv/bin/python" -m pip install -q -r "$file"
    echo "python/build.sh: installed $1 in $((SECONDS - start)) s"
    rm -f "$venv/.installed-$1-"*
    touch "$stamp"
  fi
}

# The connector jar of this build: exactly one match of the glob in spark-connector/target.
connector_jar() {
  local jars=("$root"/spark-connector/target/$jar_glob)
  [ -e "${jars[0]}" ] || die "no $jar_glob in spark-connector/target: build it first (mvn -B -DskipTests package)"
  [ "${#jars[@]}" -eq 1 ] || die "several $jar_glob in spark-connector/target (${jars[*]##*/}): run mvn clean"
  echo "${jars[0]}"
}

wheel() {
  if ! command -v "$python" >/dev/null; then
    echo "python/build.sh: WARNING: $python not found, the Python wheel is not built" >&2
    return 0
  fi
  local jar start=$SECONDS
  jar="$(connector_jar)"
  requirements requirements-build.txt
  rm -rf "$here/src/sidecar/jars" "$target/dist" "$here/build" "$here"/src/*.egg-info
  mkdir -p "$here/src/sidecar/jars" "$target/dist"
  cp "$jar" "$here/src/sidecar/jars/"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip wheel -q --no-deps \
    --no-build-isolation -w "$target/dist" "$here"
  rm -rf "$here/build" "$here"/src/*.egg-info
  echo "python/build.sh: built $(ls "$target"/dist/*.whl) with ${jar##*/} in $((SECONDS - start)) s"
}

run_tests() {
  local jar wheels
  jar="$(connector_jar)"
  wheels=("$target"/dist/*.whl)
  # Built again when the jar or a source file is newer than the wheel.
  if [ ! -e "${wheels[0]}" ] || [ "$jar" -nt "${wheels[0]}" ] \
      || [ -n "$(find "$here/src" "$here/pyproject.toml" -type f -newer "${wheels[0]}" -not -path '*/jars/*' -not -name '*.pyc' | head -1)" ]; then
    wheel
    wheels=("$target"/dist/*.whl)
  fi
  requirements requirements-test.txt
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install -q --force-reinstall \
    --no-deps "${wheels[0]}"
  cd "$here"
  SPARK_LOCAL_IP=127.0.0.1 PYTHONDONTWRITEBYTECODE=1 \
    "$venv/bin/python" -m pytest -p no:cacheprovider tests "$@"
}

case "${1:-}" in
  wheel) wheel ;;
  test) shift; run_tests "$@" ;;
  *) echo "usage: python/build.sh wheel | test [pytest arguments]" >&2; exit 2 ;;
esac
