"""The driver's JVM, through PySpark's py4j gateway, and its errors as Python ones."""

import contextlib
import os
import re
from typing import Any, Iterator, Optional

from sidecar._jar import jar_path
from sidecar._options import OPTIONS

# The connector's and the bundle format's own exceptions: their messages are written for users.
_PROJECT_EXCEPTIONS = (
    "dev.sidecar.spark.SidecarSparkException",
    "dev.sidecar.bundle.BundleException",
)


class SidecarError(RuntimeError):
    """A failure reported by sidecar's JVM code, with its own message.

    The message names what is wrong (the column, row, API, bundle, file) and how to fix it.
    ``java_class`` is the JVM exception's class; ``origin`` the py4j or PySpark exception
    it was found in (its JVM stack trace is there, for debugging).
    """

    def __init__(self, message: str, java_class: Optional[str] = None,
                 origin: Optional[BaseException] = None):
        super().__init__(message)
        self.java_class = java_class
        self.origin = origin


def _project_cause(jexc: Any, origin: BaseException) -> Optional[SidecarError]:
    """The first of sidecar's exceptions in a JVM exception's cause chain, as a SidecarError."""
    for _ in range(32):  # cause chains are short; a cycle must not hang us
        if jexc is None:
            return None
        cls = jexc.getClass()
        while cls is not None:
            name = cls.getName()
            if name in _PROJECT_EXCEPTIONS:
                return SidecarError(_for_python(jexc.getMessage()), name, origin)
            cls = cls.getSuperclass()
        jexc = jexc.getCause()
    return None


def _for_python(message: str) -> str:
    """The JVM's message with RunOptions' names as run_spark's keywords."""
    for name, option in OPTIONS.items():
        message = re.sub(rf"RunOptions\.{option.setter}\((true|false)\)",
                         lambda m, n=name: f"{n}={m.group(1).capitalize()}", message)
        message = re.sub(rf"\b{option.setter}\b", name, message)
    return message


@contextlib.contextmanager
def errors() -> Iterator[None]:
    """Turns a JVM failure caused by sidecar into a :class:`SidecarError` with its message.

    ``run_spark``, ``build`` and ``inspect`` do this themselves. Scoring runs when an action
    runs, in PySpark's own calls: wrap them to get the same (anything else passes unchanged)::

        with sidecar.errors():
            pdf = scored.toPandas()
    """
    try:
        yield
    except Exception as e:  # Py4JJavaError, or PySpark's CapturedException of one
        jexc = getattr(e, "java_exception", None) or getattr(e, "_origin", None)
        try:
            found = _project_cause(jexc, e) if jexc is not None else None
        except Exception:  # the JVM is gone: the original error says more
            found = None
        if found is None:
            raise
        raise found from None


def session(spark: Any = None) -> Any:
    """``spark``, else the active SparkSession; refuses Spark Connect (no JVM on this side)."""
    if spark is None:
        from pyspark.sql import SparkSession
        spark = SparkSession.getActiveSession()
        if spark is None:
            raise SidecarError(
                "no active SparkSession: start one first, with "
                f".config('spark.jars', sidecar.jar_path()) ({jar_path()}), or pass spark=")
    if getattr(spark, "_jvm", None) is None:
        raise TypeError(
            f"sidecar needs a classic PySpark SparkSession with a JVM driver, got "
            f"{type(spark).__module__}.{type(spark).__name__} (Spark Connect is not supported)")
    return spark


def jvm(spark: Any) -> Any:
    """The driver JVM's view, after checking the connector is on its class path."""
    from py4j.java_gateway import JavaClass

    view = spark._jvm
    if not isinstance(view.dev.sidecar.spark.Sidecar, JavaClass):
        raise SidecarError(
            "the sidecar connector is not on the Spark driver's class path. Create the "
            "SparkSession with .config('spark.jars', sidecar.jar_path()) before anything starts "
            "Spark in this Python process (spark-submit: --jars), where sidecar.jar_path() is "
            f"{_jar_or_reason()}")
    return view


def _jar_or_reason() -> str:
    try:
        return jar_path()
    except FileNotFoundError as e:
        return f"not available ({e})"


def java_path(view: Any, path: "os.PathLike[str] | str") -> Any:
    """A java.nio.file.Path of ``path``, made absolute here (the JVM's directory may differ)."""
    return view.java.io.File(os.path.abspath(os.fspath(path))).toPath()
