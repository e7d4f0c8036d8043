"""Where the connector's shaded jar is: in this package, or where SIDECAR_JAR says."""

import glob
import os

JAR_GLOB = "sidecar-spark-connector*-shaded.jar"


def jar_path() -> str:
    """The path of the sidecar connector's shaded jar, for ``spark.jars`` or ``--jars``.

    ``$SIDECAR_JAR`` when set (a jar built elsewhere, e.g. for another Scala version), else the
    jar this package carries. Raises :class:`FileNotFoundError` saying how to get one.
    """
    override = os.environ.get("SIDECAR_JAR")
    if override:
        if not os.path.isfile(override):
            raise FileNotFoundError(f"SIDECAR_JAR={override}: no such file")
        return os.path.abspath(override)
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jars")
    found = sorted(glob.glob(os.path.join(here, JAR_GLOB)))
    if len(found) == 1:
        return found[0]
    if not found:
        raise FileNotFoundError(
            f"no {JAR_GLOB} in {here}: this copy of the sidecar package was installed without "
            "the connector jar. Build it (mvn -B -DskipTests package, which also writes the "
            "wheel to python/target/dist) and install the wheel, or set SIDECAR_JAR to the jar")
    raise FileNotFoundError(
        f"several connector jars in {here}: {[os.path.basename(f) for f in found]}; "
        "set SIDECAR_JAR to the one matching your Spark")
