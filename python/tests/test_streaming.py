"""run_spark on a streaming DataFrame: CSV files into a Parquet sink with a checkpoint, stopped
and restarted; the README's foreachBatch example; a schema mismatch refused as in batch."""

import pytest
from pyspark.sql import types as T

import sidecar
from conftest import assert_matches_expected

SCHEMA = T.StructType([
    T.StructField("id", T.LongType(), False),
    T.StructField("sepal_length", T.DoubleType()),
    T.StructField("sepal_width", T.DoubleType()),
    T.StructField("petal_length", T.DoubleType()),
    T.StructField("petal_width", T.DoubleType()),
    T.StructField("species", T.StringType()),
])


def write_files(iris_pandas, directory, files, rows_per_file=50):
    """iris rows as CSV files (no header), each written aside and then moved in whole."""
    directory.mkdir(exist_ok=True)
    for f in files:
        part = iris_pandas.iloc[f * rows_per_file:(f + 1) * rows_per_file]
        tmp = directory.parent / f"part-{f}.csv.tmp"
        part.to_csv(tmp, header=False, index=False)
        tmp.rename(directory / f"part-{f}.csv")


def test_a_stream_restarted_from_its_checkpoint_scores_every_row_once(
        spark, iris_tag, iris_pandas, expected, tmp_path):
    source, sink, checkpoint = tmp_path / "in", str(tmp_path / "out"), str(tmp_path / "cp")

    def start():
        events = spark.readStream.schema(SCHEMA).option("maxFilesPerTrigger", 1).csv(str(source))
        scored = sidecar.run_spark(iris_tag, "classify", events, sidecar_mode="in_process",
                                   chunk_rows=16)
        assert scored.isStreaming
        return (scored.writeStream.format("parquet").option("path", sink)
                .option("checkpointLocation", checkpoint).start())

    write_files(iris_pandas, source, [0, 1])
    query = start()
    query.processAllAvailable()
    query.stop()
    assert spark.read.parquet(sink).count() == 100

    write_files(iris_pandas, source, [2])
    query = start()
    query.processAllAvailable()
    query.stop()
    assert sum(p["numInputRows"] for p in query.recentProgress) == 50

    pdf = spark.read.parquet(sink).toPandas()
    assert pdf["id"].nunique() == 150
    assert_matches_expected(pdf, expected)


def test_foreach_batch_example(spark, iris_tag, iris_pandas, expected, tmp_path):
    write_files(iris_pandas, tmp_path / "in", [0, 1, 2])
    out, checkpoint = str(tmp_path / "out"), str(tmp_path / "cp")

    # --- README: foreachBatch (PySpark) ---
    events = spark.readStream.schema(SCHEMA).option("maxFilesPerTrigger", 1).csv(str(tmp_path / "in"))
    scored = sidecar.run_spark(iris_tag, "classify", events, lineage_columns=True)

    def write_batch(batch, batch_id):
        # One directory per batch id, overwritten if a failed batch is run again.
        batch.write.mode("overwrite").parquet(f"{out}/batch_id={batch_id}")

    query = (scored.writeStream.option("checkpointLocation", checkpoint)
             .foreachBatch(write_batch).start())
    # --- end ---
    query.processAllAvailable()
    query.stop()

    pdf = spark.read.parquet(out).toPandas()
    assert sorted(pdf["batch_id"].unique()) == [0, 1, 2]
    assert pdf["id"].nunique() == 150
    assert_matches_expected(pdf, expected)
    assert set(pdf["sidecar_api"]) == {"classify"}


def test_a_schema_mismatch_on_a_stream_is_the_batch_error(spark, iris_tag, tmp_path):
    (tmp_path / "in").mkdir()
    schema = T.StructType([f if f.name != "petal_width" else T.StructField("Petal_Width", T.DoubleType())
                           for f in SCHEMA.fields])
    stream = spark.readStream.schema(schema).csv(str(tmp_path / "in"))
    batch = spark.read.schema(schema).csv(str(tmp_path / "in"))
    with pytest.raises(sidecar.SidecarError, match="missing column 'petal_width'") as streaming:
        sidecar.run_spark(iris_tag, "classify", stream)
    with pytest.raises(sidecar.SidecarError) as batched:
        sidecar.run_spark(iris_tag, "classify", batch)
    assert str(streaming.value) == str(batched.value)
