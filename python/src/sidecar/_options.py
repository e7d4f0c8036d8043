"""run_spark's keyword arguments: checked here, then set on the JVM's RunOptions builder.

Defaults live in one place, the JVM's RunOptions: an option not given is not set.
"""

import datetime
import shlex
from typing import Any, Callable, Dict, NamedTuple


class _Option(NamedTuple):
    setter: str  # the RunOptions.Builder method
    convert: Callable[[str, Any, Any], Any]  # (name, value, jvm view) -> the Java value
    doc: str


def _int(minimum: int) -> Callable[[str, Any, Any], Any]:
    def convert(name: str, value: Any, _jvm: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
        if value < minimum:
            raise ValueError(f"{name} must be at least {minimum}, got {value}")
        return value
    return convert


def _bool(name: str, value: Any, _jvm: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return value


def _str(name: str, value: Any, _jvm: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__} {value!r}")
    return value


_MODES = {"process": "PROCESS", "in_process": "IN_PROCESS"}


def _mode(name: str, value: Any, jvm: Any) -> Any:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, one of {sorted(_MODES)}, got {value!r}")
    key = value.strip().lower().replace("-", "_")
    if key not in _MODES:
        raise ValueError(f"{name} must be one of {sorted(_MODES)}, got {value!r}")
    return getattr(jvm.dev.sidecar.spark, "RunOptions$SidecarMode").valueOf(_MODES[key])


def _duration(name: str, value: Any, jvm: Any) -> Any:
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TypeError(f"{name} must be seconds (int or float) or a datetime.timedelta, "
                        f"got {type(value).__name__} {value!r}")
    millis = round(seconds * 1000)
    if millis < 1:
        raise ValueError(f"{name} must be positive (at least 1 ms), got {value!r}")
    return jvm.java.time.Duration.ofMillis(millis)


def _jvm_options(name: str, value: Any, jvm: Any) -> Any:
    if isinstance(value, str):
        value = shlex.split(value)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{name} must be a list of str (or one str to split like a shell), "
                        f"got {value!r}")
    out = jvm.java.util.ArrayList()
    for v in value:
        out.add(v)
    return out


OPTIONS: Dict[str, _Option] = {
    "chunk_rows": _Option("chunkRows", _int(1),
                          "rows per request (default: about 4 MiB of input)"),
    "chunks_in_flight": _Option("chunksInFlight", _int(1),
                                "requests a task keeps unanswered (default 4)"),
    "sidecar_mode": _Option("sidecarMode", _mode,
                            "'process' (default) or 'in_process'"),
    "keep_input_columns": _Option("keepInputColumns", _bool,
                                  "keep the DataFrame's columns before the outputs (default True)"),
    "output_prefix": _Option("outputPrefix", _str,
                             "prefix of every output and lineage column (default '')"),
    "sidecar_jvm_options": _Option("sidecarJvmOptions", _jvm_options,
                                   "JVM options of the sidecar process (default -Xmx1g "
                                   "-XX:+UseSerialGC)"),
    "sidecar_intra_op_threads": _Option("sidecarIntraOpThreads", _int(0),
                                        "ONNX Runtime intra-op threads (default 0: the "
                                        "server's choice)"),
    "start_timeout": _Option("startTimeout", _duration,
                             "seconds a sidecar may take to start (default 60)"),
    "request_timeout": _Option("requestTimeout", _duration,
                               "seconds a task waits for one answer (default 120)"),
    "allow_nulls": _Option("allowNulls", _bool,
                           "rows with a null input get null outputs instead of failing "
                           "(default False)"),
    "expected_digest": _Option("expectedDigest", _str,
                               "'sha256:<64 hex>': fail before any task runs unless the bundle "
                               "has this digest (same as a '#sha256:...' suffix)"),
    "lineage_columns": _Option("lineageColumns", _bool,
                               "add sidecar_bundle, sidecar_version, sidecar_digest, sidecar_api "
                               "and sidecar_scored_at to every row (default False)"),
    "shared_memory": _Option("sharedMemory", _bool,
                             "pass chunks to the sidecar through shared memory where possible "
                             "(default True); False: always as bytes on the gRPC stream"),
}


def check(options: Dict[str, Any]) -> None:
    """Raises TypeError for an unknown option, naming it and listing the valid ones."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise TypeError(f"run_spark() got unknown option(s) {', '.join(unknown)}; valid options: "
                        f"{', '.join(OPTIONS)}")


def run_options(jvm: Any, options: Dict[str, Any]) -> Any:
    """The JVM's RunOptions for ``options`` (already checked by :func:`check` and converted)."""
    builder = jvm.dev.sidecar.spark.RunOptions.builder()
    for name, value in convert(jvm, options).items():
        getattr(builder, OPTIONS[name].setter)(value)
    return builder.build()


def convert(jvm: Any, options: Dict[str, Any]) -> Dict[str, Any]:
    """Each option's Java value; raises TypeError or ValueError naming a bad one."""
    check(options)
    return {name: OPTIONS[name].convert(name, value, jvm) for name, value in options.items()}
