"""The Spark session casework runs on: local cores by default, any cluster by its master URL."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from features.errors import InputError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

APP_NAME = "casework"
DEFAULT_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.shuffle.partitions": "8",
}
"""Settings casework starts with; ``--conf`` overrides any of them."""


def parse_conf(pairs: Sequence[str]) -> dict[str, str]:
    """``--conf k=v`` options as a mapping; a pair without ``=`` is bad input."""
    conf = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{pair!r}: expected key=value", source="options", column="--conf")
        conf[key.strip()] = value
    return conf


@contextmanager
def spark_session(master: str, conf: dict[str, str] | None = None) -> Iterator[SparkSession]:
    """A Spark session on ``master``; an already active one is reused and left running.

    Python workers run this interpreter unless ``PYSPARK_PYTHON`` says otherwise, so local runs
    see the same packages as the driver (on a cluster, point it at the executors' Python).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise InputError(
            "Apache Spark is not installed: pip install 'casework[spark]'", column="--engine"
        ) from None
    active = SparkSession.getActiveSession()
    if active is not None:  # a notebook's or a test's session: its master and settings hold
        yield active
        return
    if shutil.which("java") is None and "JAVA_HOME" not in os.environ:
        raise InputError(
            "Spark needs Java 17 or newer and none was found (Debian: apt-get install "
            "default-jre-headless)",
            column="--engine",
        )
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(APP_NAME).master(master)
    for key, value in {**DEFAULT_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # the JVM refused the master or a setting: the user's to fix
        _stop_jvm()
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(
            f"Spark could not start on master {master!r} with these settings: {first}",
            source="options",
            column="--master",
        ) from None
    session.sparkContext.setLogLevel("OFF")  # failures reach Python as exceptions
    try:
        yield session
    finally:
        session.stop()
        _stop_jvm()


def _stop_jvm() -> None:
    """End the local JVM pyspark launched (it would otherwise live as long as this process)."""
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    process = getattr(gateway, "proc", None)
    if gateway is None or process is None:
        return
    gateway.shutdown()
    process.stdin.close()  # the JVM exits when its stdin closes
    process.wait(timeout=30)
    SparkContext._gateway = SparkContext._jvm = None
