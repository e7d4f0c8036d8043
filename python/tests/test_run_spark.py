"""run_spark on a real local Spark: iris in both sidecar modes, schema errors, nulls, pandas in
and out, options and their checks, lineage columns."""

import datetime

import pytest
from pyspark.sql import types as T

import sidecar
from conftest import IRIS, SPECIES, assert_matches_expected

MODES = ["process", "in_process"]


@pytest.mark.parametrize("mode", MODES)
def test_iris_from_pandas_to_pandas_equals_the_expected_predictions(
        spark, iris_tag, iris_pandas, expected, mode):
    df = spark.createDataFrame(iris_pandas).repartition(3)
    scored = sidecar.run_spark(iris_tag, "classify", df, sidecar_mode=mode, chunk_rows=16)
    assert scored.columns == list(iris_pandas.columns) + ["label", "probabilities"]
    assert scored.schema["label"].dataType == T.StringType()
    assert scored.schema["probabilities"].dataType == T.ArrayType(T.FloatType(), False)
    pdf = scored.toPandas()
    assert_matches_expected(pdf, expected)
    assert list(pdf.sort_values("id")["species"]) == list(iris_pandas["species"])


@pytest.mark.parametrize("mode", MODES)
def test_tensor_api_by_archive_path(spark, iris_tag, iris_pandas, expected, mode, tmp_path):
    from pyspark.sql import functions as F
    path = tmp_path / "iris.bundle"
    assert sidecar.build(IRIS / "bundle.yaml", output=path) == iris_tag
    df = spark.createDataFrame(iris_pandas).select(
        "id", F.array(*[F.col(c).cast("float") for c in iris_pandas.columns[1:5]]).alias("features"))
    scored = sidecar.run_spark(path, "classify_tensor", df, sidecar_mode=mode,
                               keep_input_columns=True, output_prefix="pred_")
    assert_matches_expected(scored.toPandas(), expected, prefix="pred_")


def test_a_missing_column_is_a_sidecar_error_naming_it(spark, iris_tag, iris_pandas):
    df = spark.createDataFrame(iris_pandas.drop(columns=["petal_width"]))
    with pytest.raises(sidecar.SidecarError) as e:
        sidecar.run_spark(iris_tag, "classify", df, sidecar_mode="in_process")
    message = str(e.value)
    assert "missing column 'petal_width'" in message
    assert "API 'classify' of bundle iris_classifier:1.0.0" in message
    # The project's message, not a JVM stack trace.
    assert "\tat " not in message and "py4j" not in message.lower()
    assert e.value.java_class == "dev.sidecar.spark.SidecarSparkException"


def test_an_unknown_api_and_an_unknown_bundle_are_sidecar_errors(spark, iris_tag, iris_pandas):
    df = spark.createDataFrame(iris_pandas)
    with pytest.raises(sidecar.SidecarError, match="classify"):
        sidecar.run_spark(iris_tag, "no_such_api", df)
    with pytest.raises(sidecar.SidecarError, match="no bundle 'nobody:9.9'"):
        sidecar.run_spark("nobody:9.9", "classify", df)


def _with_a_null(spark, iris_pandas):
    """Six iris rows, row 3 with a null sepal_width (a SQL null: pandas would give NaN)."""
    from pyspark.sql import functions as F
    df = spark.createDataFrame(iris_pandas.head(6)).coalesce(1)
    return df.withColumn("sepal_width", F.when(F.col("id") == 3, F.lit(None))
                         .otherwise(F.col("sepal_width")))


def test_a_null_input_fails_naming_the_column(spark, iris_tag, iris_pandas):
    scored = sidecar.run_spark(iris_tag, "classify", _with_a_null(spark, iris_pandas),
                               sidecar_mode="in_process")
    with pytest.raises(sidecar.SidecarError) as e:
        with sidecar.errors():
            scored.collect()
    assert "column 'sepal_width' is null" in str(e.value)
    assert "(allow_nulls=True lets such rows pass with null outputs)" in str(e.value)
    assert "\tat " not in str(e.value)


def test_allow_nulls_gives_null_outputs(spark, iris_tag, iris_pandas):
    pdf = sidecar.run_spark(iris_tag, "classify", _with_a_null(spark, iris_pandas),
                            sidecar_mode="in_process", allow_nulls=True).toPandas()
    pdf = pdf.sort_values("id").reset_index(drop=True)
    assert pdf.loc[3, "label"] is None
    assert pdf.loc[3, "probabilities"] is None
    assert list(pdf["label"].drop(index=3)) == ["setosa"] * 5


def test_an_unknown_option_is_a_type_error_listing_the_valid_ones(spark, iris_tag, iris_pandas):
    df = spark.createDataFrame(iris_pandas)
    with pytest.raises(TypeError) as e:
        sidecar.run_spark(iris_tag, "classify", df, chunk_size=10)
    assert "chunk_size" in str(e.value)
    for name in sidecar.OPTIONS:
        assert name in str(e.value)


@pytest.mark.parametrize("option, value, error, says", [
    ("chunk_rows", 0, ValueError, "chunk_rows must be at least 1, got 0"),
    ("chunk_rows", "10", TypeError, "chunk_rows must be an int"),
    ("chunks_in_flight", True, TypeError, "chunks_in_flight must be an int"),
    ("sidecar_intra_op_threads", -1, ValueError, "sidecar_intra_op_threads must be at least 0"),
    ("sidecar_mode", "thread", ValueError, "sidecar_mode must be one of ['in_process', 'process']"),
    ("keep_input_columns", "no", TypeError, "keep_input_columns must be True or False"),
    ("allow_nulls", 1, TypeError, "allow_nulls must be True or False"),
    ("lineage_columns", None, TypeError, "lineage_columns must be True or False"),
    ("output_prefix", 3, TypeError, "output_prefix must be a str"),
    ("start_timeout", 0, ValueError, "start_timeout must be positive"),
    ("request_timeout", "2m", TypeError, "request_timeout must be seconds"),
    ("sidecar_jvm_options", [1], TypeError, "sidecar_jvm_options must be a list of str"),
])
def test_a_bad_option_value_is_named(spark, iris_tag, iris_pandas, option, value, error, says):
    df = spark.createDataFrame(iris_pandas)
    with pytest.raises(error) as e:
        sidecar.run_spark(iris_tag, "classify", df, **{option: value})
    assert says in str(e.value)


def test_options_reach_the_jvm(spark, iris_tag, iris_pandas, expected):
    df = spark.createDataFrame(iris_pandas).repartition(2)
    scored = sidecar.run_spark(
        iris_tag, "classify", df, sidecar_mode="IN-PROCESS", keep_input_columns=False,
        output_prefix="pred_", chunk_rows=7, chunks_in_flight=2, sidecar_intra_op_threads=1,
        start_timeout=datetime.timedelta(seconds=30), request_timeout=30.5,
        sidecar_jvm_options="-Xmx256m -XX:+UseSerialGC", allow_nulls=False)
    assert scored.columns == ["pred_label", "pred_probabilities"]
    labels = [r.pred_label for r in scored.collect()]
    assert sorted(labels) == sorted(SPECIES[c] for c in expected["label"])


@pytest.mark.parametrize("mode", MODES)
def test_lineage_columns_name_the_bundle_api_and_time(spark, iris_tag, iris_pandas, mode):
    info = sidecar.inspect(iris_tag)
    df = spark.createDataFrame(iris_pandas).repartition(2)
    scored = sidecar.run_spark(iris_tag, "classify", df, sidecar_mode=mode, lineage_columns=True,
                               output_prefix="p_")
    lineage = ["p_sidecar_bundle", "p_sidecar_version", "p_sidecar_digest", "p_sidecar_api",
               "p_sidecar_scored_at"]
    assert scored.columns[-5:] == lineage
    assert [scored.schema[c].dataType for c in lineage] == [T.StringType()] * 4 + [T.TimestampType()]
    before = datetime.datetime.now() - datetime.timedelta(seconds=1)
    rows = scored.select(*lineage).collect()
    after = datetime.datetime.now() + datetime.timedelta(seconds=1)
    assert len(rows) == 150
    for r in rows:
        assert (r.p_sidecar_bundle, r.p_sidecar_version, r.p_sidecar_digest, r.p_sidecar_api) == (
            "iris_classifier", "1.0.0", info["digest"], "classify")
        assert before <= r.p_sidecar_scored_at <= after


def test_a_lineage_column_named_like_an_input_column_is_refused(spark, iris_tag, iris_pandas):
    df = spark.createDataFrame(iris_pandas.rename(columns={"species": "sidecar_api"}))
    with pytest.raises(sidecar.SidecarError, match="lineage column 'sidecar_api' clashes"):
        sidecar.run_spark(iris_tag, "classify", df, lineage_columns=True)


def test_a_dataframe_not_from_pyspark_is_a_type_error(spark, iris_tag, iris_pandas):
    with pytest.raises(TypeError, match="classic PySpark DataFrame"):
        sidecar.run_spark(iris_tag, "classify", iris_pandas)


def test_a_digest_pin_by_option_or_suffix(spark, iris_tag, iris_pandas):
    digest = sidecar.inspect(iris_tag)["digest"]
    df = spark.createDataFrame(iris_pandas)
    scored = sidecar.run_spark(iris_tag, "classify", df, sidecar_mode="in_process",
                               expected_digest=digest)
    assert scored.count() == len(iris_pandas)
    assert sidecar.run_spark(f"{iris_tag}#{digest}", "classify", df,
                             sidecar_mode="in_process").count() == len(iris_pandas)
    other = "sha256:" + "0" * 64
    with pytest.raises(sidecar.SidecarError) as e:
        sidecar.run_spark(iris_tag, "classify", df, expected_digest=other)
    assert other in str(e.value) and digest in str(e.value)
    with pytest.raises(TypeError, match="expected_digest must be a str"):
        sidecar.run_spark(iris_tag, "classify", df, expected_digest=1)
