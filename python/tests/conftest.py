"""A real local Spark (local[2], loopback only) with the connector jar from the installed wheel,
and a private bundle store holding the iris example."""

import os
from pathlib import Path

import pandas as pd
import pytest

import sidecar

ROOT = Path(__file__).resolve().parents[2]
IRIS = ROOT / "examples" / "iris"
SPECIES = ["setosa", "versicolor", "virginica"]


@pytest.fixture(scope="session")
def sidecar_home(tmp_path_factory):
    """The bundle store and connector cache of the run ($SIDECAR_HOME, read by the JVM at start)."""
    home = tmp_path_factory.mktemp("sidecar-home")
    home.chmod(0o700)
    os.environ["SIDECAR_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def spark(sidecar_home):
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    from pyspark.sql import SparkSession
    session = (SparkSession.builder
               .master("local[2]")
               .appName("sidecar-python-tests")
               .config("spark.jars", sidecar.jar_path())
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "4")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def iris_tag(spark):
    return sidecar.build(IRIS / "bundle.yaml")


@pytest.fixture(scope="session")
def iris_pandas():
    """iris.csv with an id column (the row number) to match expected_predictions.csv by."""
    pdf = pd.read_csv(IRIS / "iris.csv")
    pdf.insert(0, "id", range(len(pdf)))
    return pdf


@pytest.fixture(scope="session")
def expected():
    return pd.read_csv(IRIS / "expected_predictions.csv")


def assert_matches_expected(pdf, expected, prefix=""):
    """Every row's label equals the expected class's name, its probabilities within 1e-5."""
    pdf = pdf.sort_values("id").reset_index(drop=True)
    assert len(pdf) == len(expected) == 150
    assert list(pdf[prefix + "label"]) == [SPECIES[c] for c in expected["label"]]
    for i, probabilities in enumerate(pdf[prefix + "probabilities"]):
        want = expected.loc[i, ["p_setosa", "p_versicolor", "p_virginica"]].to_numpy(float)
        assert len(probabilities) == 3, f"row {i}"
        assert max(abs(float(p) - w) for p, w in zip(probabilities, want)) <= 1e-5, f"row {i}"
