"""Score PySpark DataFrames with sidecar bundles, through sidecar's JVM connector.

Start Spark with the connector jar this package carries, then score::

    from pyspark.sql import SparkSession
    import sidecar

    spark = SparkSession.builder.config("spark.jars", sidecar.jar_path()).getOrCreate()
    tag = sidecar.build("examples/iris/bundle.yaml")           # into the local bundle store
    scored = sidecar.run_spark(tag, "classify", df, chunk_rows=4096)
    with sidecar.errors():
        pdf = scored.toPandas()

Everything runs in the JVM (``dev.sidecar.spark.Sidecar.runSpark``, the bundle format's
``BundleBuilder`` and ``BundleStore``) through PySpark's py4j gateway; this package only checks
arguments and turns the JVM's failures into :class:`SidecarError`.
"""

import json
import os
from typing import Any, Dict, Optional, Union

from sidecar import _jvm, _options
from sidecar._jar import jar_path
from sidecar._jvm import SidecarError, errors

__version__ = "0.1.0.dev0"
__all__ = ["run_spark", "build", "inspect", "jar_path", "errors", "SidecarError", "OPTIONS"]

#: run_spark's keyword options: name -> what it does (the JVM's RunOptions holds the defaults).
OPTIONS: Dict[str, str] = {name: o.doc for name, o in _options.OPTIONS.items()}

PathOrTag = Union[str, "os.PathLike[str]"]


def run_spark(bundle: PathOrTag, api: str, df: Any, **options: Any) -> Any:
    """Scores ``df`` with the API ``api`` of ``bundle``; returns a PySpark DataFrame.

    ``bundle`` is a store tag (``name``, ``name:version``, ``name:ALIAS``) or the path of a
    ``.bundle`` file. The result holds ``df``'s columns followed by the API's outputs. The
    schema is checked now (a missing or mistyped column raises :class:`SidecarError` naming
    it); scoring runs when an action runs. A streaming DataFrame gives a streaming DataFrame
    (start it with ``writeStream``). Options, as keywords (see :data:`OPTIONS`):
    chunk_rows, chunks_in_flight, sidecar_mode ('process' or 'in_process'),
    keep_input_columns, output_prefix, sidecar_jvm_options, sidecar_intra_op_threads,
    start_timeout and request_timeout (seconds or timedelta), allow_nulls, lineage_columns, shared_memory.
    An unknown option raises TypeError; a bad value TypeError or ValueError naming it.
    """
    _options.check(options)
    if not isinstance(api, str) or not api:
        raise TypeError(f"api must be a non-empty str, got {api!r}")
    bundle = _bundle_arg(bundle)
    if not hasattr(df, "_jdf"):
        raise TypeError(
            "df must be a classic PySpark DataFrame (with a JVM driver), got "
            f"{type(df).__module__}.{type(df).__name__} (Spark Connect is not supported)")
    spark = _jvm.session(df.sparkSession)
    view = _jvm.jvm(spark)
    run_options = _options.run_options(view, options)
    from pyspark.sql import DataFrame
    with errors():
        jdf = view.dev.sidecar.spark.Sidecar.runSpark(bundle, api, df._jdf, run_options)
    return DataFrame(jdf, spark)


def build(bundle_yaml: PathOrTag, version: Optional[str] = None,
          home: Optional[PathOrTag] = None, output: Optional[PathOrTag] = None,
          spark: Any = None) -> str:
    """Builds a bundle from a ``bundle.yaml`` into the local store; returns its tag.

    As ``sidecar bundle build``: every API is checked against its ONNX model and smoke-run
    first. ``version`` overrides the spec's; ``home`` is the store's directory (default
    ``$SIDECAR_HOME``, else ``~/.sidecar``, as the driver JVM sees them); ``output`` writes the
    ``.bundle`` file there instead of into the store. Building the same inputs again keeps the
    stored bundle. Runs in the driver JVM of ``spark`` (default: the active session).
    """
    if version is not None and (not isinstance(version, str) or not version):
        raise TypeError(f"version must be a non-empty str or None, got {version!r}")
    view = _jvm.jvm(_jvm.session(spark))
    bundle = view.dev.sidecar.bundle
    with errors():
        builder = bundle.BundleBuilder.fromSpec(_jvm.java_path(view, bundle_yaml))
        if version is not None:
            builder.version(version)
        if output is not None:
            return builder.build(_jvm.java_path(view, output)).tag()
        return builder.buildInto(_store(view, home)).tag()


def inspect(tag_or_path: PathOrTag, home: Optional[PathOrTag] = None,
            spark: Any = None) -> Dict[str, Any]:
    """A bundle's manifest as a dict, with ``tag`` and ``digest`` (and, for a store tag, the
    ``aliases`` pointing at its version) added: ``sidecar bundle inspect --json``.

    ``tag_or_path`` is a store tag or the path of a ``.bundle`` file (read and verified).
    """
    view = _jvm.jvm(_jvm.session(spark))
    bundle = view.dev.sidecar.bundle
    target = _bundle_arg(tag_or_path)
    with errors():
        store = _store(view, home)
        aliases = None
        if bundle.BundleStore.looksLikePath(target):
            info = bundle.BundleArchive.inspect(store.locateArchive(target))
        else:
            info = store.resolve(target)
            aliases = store.aliases(info.manifest().name())
        out: Dict[str, Any] = {"tag": info.tag(), "digest": info.digest()}
        if aliases is not None:
            version = info.manifest().version()
            out["aliases"] = sorted(a for a, v in aliases.items() if v == version)
        out.update(json.loads(info.manifest().toJson()))
        return out


def _store(view: Any, home: Optional[PathOrTag]) -> Any:
    stores = view.dev.sidecar.bundle.BundleStore
    return stores.defaultStore() if home is None else stores.open(_jvm.java_path(view, home))


def _bundle_arg(bundle: Any) -> str:
    """A tag as it is; a path (os.PathLike, or a str naming an existing file) made absolute."""
    if isinstance(bundle, os.PathLike):
        return os.path.abspath(os.fspath(bundle))
    if not isinstance(bundle, str) or not bundle:
        raise TypeError(f"bundle must be a store tag or a path, got {bundle!r}")
    return os.path.abspath(bundle) if os.path.isfile(bundle) else bundle
