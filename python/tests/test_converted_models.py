"""Models as converters make them: scikit-learn models trained here on scikit-learn's bundled
data sets, converted by skl2onnx with its defaults (classifiers' probabilities come out of a
ZipMap: a sequence of maps), built into bundles and scored through run_spark on a real local
Spark. Each equals scikit-learn's own predictions: labels exactly, probabilities within 1e-5."""

import numpy as np
import pandas as pd
from pyspark.sql import types as T

import sidecar

from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_diabetes, load_digits, load_iris
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

PROBABILITY_TOLERANCE = 1e-5
# Every few rows of a data set: enough rows for every class, few enough to keep the run short.
STEP = 5


def bundle(tmp_path, name, model, apis):
    """Writes the converted model and a bundle.yaml with ``apis`` beside it; builds the bundle."""
    (tmp_path / "model.onnx").write_bytes(model.SerializeToString())
    (tmp_path / "bundle.yaml").write_text(
        f"name: {name}\nversion: \"1\"\nmodels: [{{name: m, path: model.onnx}}]\napis:\n{apis}")
    return sidecar.build(tmp_path / "bundle.yaml")


def scored(spark, tag, api, pdf):
    """run_spark on ``pdf`` (with an ``id`` column), back as pandas in ``id`` order."""
    df = spark.createDataFrame(pdf).repartition(2)
    out = sidecar.run_spark(tag, api, df, sidecar_mode="in_process", chunk_rows=16)
    return out, out.toPandas().sort_values("id").reset_index(drop=True)


def assert_probabilities(got_rows, want):
    got = np.array([np.asarray(r, dtype=np.float64) for r in got_rows])
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= PROBABILITY_TOLERANCE


def iris_tensor():
    """iris rows as float32 (what the model sees), with a features-array column."""
    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    rows = np.arange(0, len(x), STEP)
    pdf = pd.DataFrame({"id": rows, "features": [list(map(float, x[i])) for i in rows]})
    return x, y, rows, pdf


def test_a_scaler_and_logistic_regression_pipeline_gives_labels_and_class_probabilities(
        spark, tmp_path):
    x, y, rows, pdf = iris_tensor()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    onnx = convert_sklearn(model, initial_types=[("features", FloatTensorType([None, 4]))])
    assert [o.name for o in onnx.graph.output] == ["output_label", "output_probability"]
    tag = bundle(tmp_path, "skl_logreg", onnx,
                 "  - name: classify\n    input: {kind: tensor, column: features}\n")
    df, out = scored(spark, tag, "classify", pdf)
    # No outputs: listed, and nothing dropped: the label, then the probabilities by class.
    assert df.columns == ["id", "features", "output_label", "output_probability"]
    assert df.schema["output_label"].dataType == T.LongType()
    assert df.schema["output_probability"].dataType == T.ArrayType(T.FloatType(), False)
    assert list(out["output_label"]) == list(model.predict(x[rows]))
    assert_probabilities(out["output_probability"], model.predict_proba(x[rows]))


def test_a_random_forest_classifier_with_its_probabilities_as_a_map_column(spark, tmp_path):
    x, y, rows, pdf = iris_tensor()
    model = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(x, y)
    onnx = convert_sklearn(model, initial_types=[("features", FloatTensorType([None, 4]))])
    tag = bundle(tmp_path, "skl_forest", onnx,
                 "  - name: classify\n    input: {kind: tensor, column: features}\n"
                 "  - name: classify_map\n    input: {kind: tensor, column: features}\n"
                 "    outputs:\n"
                 "      - {name: label, from: output_label}\n"
                 "      - {name: probability, from: output_probability, as: map}\n")
    want = model.predict_proba(x[rows])
    _, out = scored(spark, tag, "classify", pdf)
    assert list(out["output_label"]) == list(model.predict(x[rows]))
    assert_probabilities(out["output_probability"], want)

    df, out = scored(spark, tag, "classify_map", pdf)
    assert df.schema["probability"].dataType == T.MapType(T.LongType(), T.FloatType(), False)
    assert list(out["label"]) == list(model.predict(x[rows]))
    for i, m in enumerate(out["probability"]):
        m = dict(m)
        assert sorted(m) == [int(c) for c in model.classes_], f"row {i}"
        got = np.array([m[int(c)] for c in model.classes_], dtype=np.float64)
        assert np.max(np.abs(got - want[i])) <= PROBABILITY_TOLERANCE, f"row {i}"


def test_a_gradient_boosting_regressor(spark, tmp_path):
    x, y = load_diabetes(return_X_y=True)
    x = x.astype(np.float32)
    model = GradientBoostingRegressor(n_estimators=25, max_depth=3, random_state=0).fit(x, y)
    onnx = convert_sklearn(model, initial_types=[("features", FloatTensorType([None, 10]))])
    tag = bundle(tmp_path, "skl_gbr", onnx,
                 "  - name: predict\n    input: {kind: tensor, column: features}\n")
    rows = np.arange(0, len(x), STEP * 2)
    pdf = pd.DataFrame({"id": rows, "features": [list(map(float, x[i])) for i in rows]})
    df, out = scored(spark, tag, "predict", pdf)
    assert df.columns == ["id", "features", "variable"]
    got = np.array([np.asarray(v, dtype=np.float64) for v in out["variable"]]).reshape(-1)
    # The ONNX trees add float32 leaf values; scikit-learn adds float64 ones.
    np.testing.assert_allclose(got, model.predict(x[rows]), rtol=1e-5, atol=1e-3)


def iris_with_strings():
    """iris with two string columns made from its measurements, and species names as classes."""
    data = load_iris()
    x = data.data.astype(np.float32)
    pdf = pd.DataFrame({
        "id": np.arange(len(x)),
        "sepal_length": x[:, 0].astype(float),
        "petal_width": x[:, 3].astype(float),
        "petal_size": pd.cut(x[:, 2], [0, 2.5, 5.0, 10], labels=["small", "medium", "large"])
        .astype(str),
        "sepal_shape": np.where(x[:, 0] / x[:, 1] > 1.8, "long", "round"),
    })
    species = np.array(data.target_names)[data.target]
    return pdf, species


def test_a_one_hot_encoder_over_string_columns_plus_numeric_columns(spark, tmp_path):
    pdf, species = iris_with_strings()
    features = ["sepal_length", "petal_width", "petal_size", "sepal_shape"]
    model = make_pipeline(
        ColumnTransformer([
            ("strings", OneHotEncoder(handle_unknown="ignore"), ["petal_size", "sepal_shape"]),
            ("numbers", StandardScaler(), ["sepal_length", "petal_width"])]),
        LogisticRegression(max_iter=500)).fit(pdf[features], species)
    # One ONNX input per column, of the column's dtype.
    onnx = convert_sklearn(model, initial_types=[
        ("sepal_length", FloatTensorType([None, 1])), ("petal_width", FloatTensorType([None, 1])),
        ("petal_size", StringTensorType([None, 1])), ("sepal_shape", StringTensorType([None, 1]))])
    tag = bundle(tmp_path, "skl_onehot", onnx,
                 "  - name: classify\n    input:\n      kind: dataframe\n"
                 f"      columns: [{', '.join(features)}]\n"
                 "  - name: classify_map\n    input:\n      kind: dataframe\n"
                 f"      columns: [{', '.join(features)}]\n"
                 "    outputs: [output_label, {name: p, from: output_probability, as: map}]\n")
    part = pdf.iloc[::STEP].reset_index(drop=True)
    want = model.predict_proba(part[features])
    df, out = scored(spark, tag, "classify", part)
    assert df.schema["output_label"].dataType == T.StringType()
    assert list(out["output_label"]) == list(model.predict(part[features]))
    assert_probabilities(out["output_probability"], want)

    df, out = scored(spark, tag, "classify_map", part)
    assert df.schema["p"].dataType == T.MapType(T.StringType(), T.FloatType(), False)
    for i, m in enumerate(out["p"]):
        m = dict(m)
        assert sorted(m) == sorted(model.classes_), f"row {i}"
        got = np.array([m[c] for c in model.classes_], dtype=np.float64)
        assert np.max(np.abs(got - want[i])) <= PROBABILITY_TOLERANCE, f"row {i}"


def test_a_model_with_an_int64_input(spark, tmp_path):
    x, y = load_digits(return_X_y=True)
    x = x.astype(np.int64)
    model = LogisticRegression(max_iter=3000).fit(x, y)
    onnx = convert_sklearn(model, initial_types=[("pixels", Int64TensorType([None, 64]))])
    tag = bundle(tmp_path, "skl_digits", onnx,
                 "  - name: classify\n    input: {kind: tensor, column: pixels}\n")
    rows = np.arange(0, len(x), STEP * 6)
    pdf = pd.DataFrame({"id": rows, "pixels": [[int(v) for v in x[i]] for i in rows]})
    df, out = scored(spark, tag, "classify", pdf)
    assert df.schema["pixels"].dataType == T.ArrayType(T.LongType(), True)
    assert list(out["output_label"]) == list(model.predict(x[rows]))
    assert_probabilities(out["output_probability"], model.predict_proba(x[rows]))
