"""The ``--engine``, ``--master`` and ``--conf`` options shared by the commands that scale out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated

import typer

from features.settings import get_settings
from serving.simulation import DrawEngine, local_draws


class Engine(StrEnum):
    """Where the heavy work runs: this process, or Spark (``serving.spark``)."""

    local = "local"
    spark = "spark"


EngineOption = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help="local (this machine) or spark (the master of --master where offered, else "
        "CASEWORK_SPARK_MASTER, else local[*]).",
    ),
]
MasterOption = Annotated[
    str | None,
    typer.Option(
        "--master",
        help="Spark master URL for --engine spark (default: CASEWORK_SPARK_MASTER, local[*]).",
    ),
]
ConfOption = Annotated[
    list[str] | None,
    typer.Option("--conf", help="Spark setting key=value for --engine spark (repeatable)."),
]

SIMULATION_SECONDS = {"local": 10.0, "spark": 600.0}
"""Time budget of ``casework sample --simulate`` per engine: a cluster is there for many draws."""


@contextmanager
def draw_engine(
    engine: Engine, master: str | None = None, conf: list[str] | None = None
) -> Iterator[DrawEngine]:
    """Where simulation draws run: this process, or Spark tasks on a session held open here."""
    if engine is Engine.local:
        yield local_draws
        return
    from serving.spark.session import parse_conf, spark_session
    from serving.spark.simulation import SparkDraws

    spark_conf = parse_conf(conf or [])
    with spark_session(master or get_settings().spark_master, spark_conf) as spark:
        yield SparkDraws(spark)
