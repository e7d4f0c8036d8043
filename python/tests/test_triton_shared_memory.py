"""Triton's own client against the sidecar server: the system shared-memory utilities of
``tritonclient.utils.shared_memory`` and ``tritonclient.grpc``, unchanged, on loopback.

The server is the one ``sidecar serve`` and the connector's sidecar process run (``SidecarMain``
from the connector jar of the installed wheel), serving the iris example bundle."""

import os
import subprocess
import uuid

import numpy as np
import pytest

import sidecar
from conftest import IRIS, SPECIES

import tritonclient.grpc as grpcclient
import tritonclient.utils.shared_memory as shm
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def server(spark, tmp_path_factory):
    """A sidecar server on 127.0.0.1 (an ephemeral port); its address as host:port."""
    work = tmp_path_factory.mktemp("triton-shm")
    archive = work / "iris.bundle"
    sidecar.build(IRIS / "bundle.yaml", output=archive, spark=spark)
    view = spark.sparkContext._jvm
    unpacked = work / "iris"
    view.dev.sidecar.bundle.BundleArchive.unpack(
        view.java.io.File(str(archive)).toPath(), view.java.io.File(str(unpacked)).toPath())
    import pyspark
    # The connector jar with the logging API it expects from Spark (as an executor has it).
    classpath = os.pathsep.join([sidecar.jar_path(),
                                 os.path.join(os.path.dirname(pyspark.__file__), "jars", "*")])
    proc = subprocess.Popen(
        ["java", "-Xmx512m", "-cp", classpath, "dev.sidecar.server.SidecarMain",
         "--bundle-dir", str(unpacked), "--host", "127.0.0.1", "--port", "0",
         "--parent-pid", str(os.getpid())],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("SIDECAR READY "), f"server did not start: {line!r}"
        target = line[len("SIDECAR READY "):]
        yield target.split("://")[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=60)


@pytest.fixture
def client(server):
    c = grpcclient.InferenceServerClient(url=server)
    yield c
    c.unregister_system_shared_memory()
    c.close()


def _features():
    data = np.loadtxt(IRIS / "iris.csv", delimiter=",", skiprows=1, usecols=range(4))
    return data.astype(np.float32)


def test_server_lists_the_extension(client):
    assert "system_shared_memory" in client.get_server_metadata().extensions


def test_scoring_through_system_shared_memory_equals_expected(client, expected):
    x = _features()
    n = len(x)
    in_key = f"/sidecar-pytest-in-{uuid.uuid4().hex}"
    out_key = f"/sidecar-pytest-out-{uuid.uuid4().hex}"
    in_handle = shm.create_shared_memory_region("iris_in", in_key, x.nbytes)
    out_handle = shm.create_shared_memory_region("iris_out", out_key, n * 3 * 4)
    try:
        shm.set_shared_memory_region(in_handle, [x])
        client.register_system_shared_memory("iris_in", in_key, x.nbytes)
        client.register_system_shared_memory("iris_out", out_key, n * 3 * 4)
        status = client.get_system_shared_memory_status()
        names = {r.name: r for r in status.regions.values()}
        assert names["iris_in"].key == in_key and names["iris_in"].byte_size == x.nbytes

        inp = grpcclient.InferInput("features", [n, 4], "FP32")
        inp.set_shared_memory("iris_in", x.nbytes)
        probs_out = grpcclient.InferRequestedOutput("probabilities")
        probs_out.set_shared_memory("iris_out", n * 3 * 4)
        label_out = grpcclient.InferRequestedOutput("label")
        result = client.infer("classify_tensor", [inp], outputs=[probs_out, label_out])

        meta = result.get_output("probabilities")
        assert list(meta.shape) == [n, 3]
        probs = shm.get_contents_as_numpy(out_handle, np.float32, [n, 3])
        want = expected[["p_setosa", "p_versicolor", "p_virginica"]].to_numpy(np.float32)
        assert np.abs(probs - want).max() <= 1e-5
        labels = [v.decode() for v in result.as_numpy("label").reshape(-1)]
        assert labels == [SPECIES[c] for c in expected["label"]]
    finally:
        shm.destroy_shared_memory_region(in_handle)
        shm.destroy_shared_memory_region(out_handle)


def test_triton_errors(client):
    key = f"/sidecar-pytest-err-{uuid.uuid4().hex}"
    handle = shm.create_shared_memory_region("small", key, 32)
    try:
        client.register_system_shared_memory("small", key, 32)
        with pytest.raises(InferenceServerException, match="already in manager"):
            client.register_system_shared_memory("small", key, 32)
        with pytest.raises(InferenceServerException, match="Unable to open shared memory region"):
            client.register_system_shared_memory("gone", key + "-missing", 32)

        inp = grpcclient.InferInput("features", [4, 4], "FP32")
        inp.set_shared_memory("small", 64)
        with pytest.raises(InferenceServerException, match="Invalid offset \\+ byte size"):
            client.infer("classify_tensor", [inp])
        inp = grpcclient.InferInput("features", [1, 4], "FP32")
        inp.set_shared_memory("nowhere", 16)
        with pytest.raises(InferenceServerException,
                           match="Unable to find shared memory region: 'nowhere'"):
            client.infer("classify_tensor", [inp])
        inp = grpcclient.InferInput("features", [2, 4], "FP32")
        inp.set_shared_memory("small", 16)
        with pytest.raises(InferenceServerException, match="input byte size mismatch"):
            client.infer("classify_tensor", [inp])

        client.unregister_system_shared_memory("small")
        with pytest.raises(InferenceServerException):
            client.get_system_shared_memory_status("small")
    finally:
        shm.destroy_shared_memory_region(handle)


def test_run_spark_same_with_and_without_shared_memory(spark, iris_tag, iris_pandas):
    df = spark.createDataFrame(iris_pandas)
    on = sidecar.run_spark(iris_tag, "classify", df).toPandas().sort_values("id")
    off = sidecar.run_spark(iris_tag, "classify", df, shared_memory=False).toPandas() \
        .sort_values("id")
    assert list(on["label"]) == list(off["label"])
    assert [list(p) for p in on["probabilities"]] == [list(p) for p in off["probabilities"]]
