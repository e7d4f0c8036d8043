"""build, inspect and jar_path: the JVM's bundle format through py4j, and the packaged jar."""

import fnmatch
import os
import subprocess
import sys
from pathlib import Path

import pytest

import sidecar
from conftest import IRIS


def test_build_puts_the_bundle_in_the_store_and_inspect_reads_it(spark, iris_tag, sidecar_home):
    assert iris_tag == "iris_classifier:1.0.0"
    info = sidecar.inspect(iris_tag)
    assert info["tag"] == iris_tag
    assert info["digest"].startswith("sha256:")
    assert info["name"] == "iris_classifier" and info["version"] == "1.0.0"
    assert [a["name"] for a in info["apis"]] == ["classify", "classify_tensor"]
    assert info["aliases"] == []
    # Building the same inputs again keeps the stored bundle.
    assert sidecar.build(str(IRIS / "bundle.yaml")) == iris_tag
    assert sidecar.inspect("iris_classifier")["digest"] == info["digest"]
    assert any(sidecar_home.rglob("*.bundle")), "the store is $SIDECAR_HOME"


def test_build_with_a_version_into_another_home_and_inspect_a_file(spark, tmp_path):
    home = tmp_path / "store"
    tag = sidecar.build(IRIS / "bundle.yaml", version="2.0.0", home=home)
    assert tag == "iris_classifier:2.0.0"
    info = sidecar.inspect(tag, home=home)
    assert info["version"] == "2.0.0"
    with pytest.raises(sidecar.SidecarError):
        sidecar.inspect("iris_classifier:2.0.0")  # not in the default store
    archive = tmp_path / "out" / "iris.bundle"
    archive.parent.mkdir()
    assert sidecar.build(IRIS / "bundle.yaml", version="2.0.0", output=archive) == tag
    from_file = sidecar.inspect(archive)
    assert from_file["tag"] == tag and from_file["digest"].startswith("sha256:")
    assert "aliases" not in from_file


def test_a_bad_bundle_yaml_is_a_sidecar_error_naming_the_field(spark, tmp_path):
    yaml = tmp_path / "bundle.yaml"
    yaml.write_text((IRIS / "bundle.yaml").read_text().replace("kind: dataframe", "kind: table"))
    (tmp_path / "iris_classifier.onnx").write_bytes((IRIS / "iris_classifier.onnx").read_bytes())
    with pytest.raises(sidecar.SidecarError) as e:
        sidecar.build(yaml)
    assert "table" in str(e.value) and str(yaml) in str(e.value)
    assert e.value.java_class == "dev.sidecar.bundle.BundleException"
    assert "\tat " not in str(e.value)


def test_inspect_of_an_unknown_tag_is_a_sidecar_error(spark):
    with pytest.raises(sidecar.SidecarError, match="nobody"):
        sidecar.inspect("nobody:1.0")


def test_jar_path_is_the_packaged_shaded_jar(monkeypatch, tmp_path):
    monkeypatch.delenv("SIDECAR_JAR", raising=False)
    jar = Path(sidecar.jar_path())
    assert jar.is_file()
    assert fnmatch.fnmatch(jar.name, "sidecar-spark-connector*-shaded.jar")
    assert jar.parent == Path(sidecar.__file__).parent / "jars"
    monkeypatch.setenv("SIDECAR_JAR", str(tmp_path / "missing.jar"))
    with pytest.raises(FileNotFoundError, match="SIDECAR_JAR"):
        sidecar.jar_path()
    monkeypatch.setenv("SIDECAR_JAR", str(jar))
    assert sidecar.jar_path() == os.path.abspath(jar)


@pytest.mark.timeout(180)
def test_a_session_without_the_jar_is_told_how_to_add_it():
    code = (
        "import sidecar\n"
        "from pyspark.sql import SparkSession\n"
        "spark = (SparkSession.builder.master('local[1]')"
        ".config('spark.driver.host', '127.0.0.1').config('spark.driver.bindAddress', '127.0.0.1')"
        ".config('spark.ui.enabled', 'false').getOrCreate())\n"
        "try:\n"
        "    sidecar.inspect('iris_classifier')\n"
        "except sidecar.SidecarError as e:\n"
        "    print('SidecarError:', e)\n"
        "spark.stop()\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=150,
                       env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"})
    assert "SidecarError: the sidecar connector is not on the Spark driver's class path" in r.stdout, (
        r.stdout + r.stderr)
    assert ".config('spark.jars', sidecar.jar_path())" in r.stdout
    assert sidecar.jar_path() in r.stdout
