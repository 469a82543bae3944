"""Score a Parquet frame of any size on Spark with the registered champion's pyfunc model.

The frame never reaches the driver: Spark reads the files, ``mlflow.pyfunc.spark_udf`` scores
each batch on the executors with the same pyfunc model the registry serves (the feature
pipeline travels inside it), and the executors write the scores as partitioned Parquet.
"""

from __future__ import annotations

import logging
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
from mlflow.exceptions import MlflowException

from features.contract import FRAME_COLUMNS, SCORE_COLUMNS
from features.errors import InputError
from features.settings import Settings
from training.lifecycle.registry import CHAMPION, MODEL_NAME, connect, missing_model
from training.lifecycle.registry import model_uri as registered_uri  # this module has its own

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)  # env_manager="local" is meant

ID_COLUMN = SCORE_COLUMNS[0]
FAILED_FILE = re.compile(r"(?:reading file|footer for file:?) (\S+?)\.?(?:\s|$)")
"""Where Spark's error messages name the file it could not read."""
LOCAL = re.compile(r"^file:/+")


@dataclass(frozen=True)
class ScoreRun:
    """What a Spark scoring wrote: the output folder, its row count, files and model version."""

    out: str
    rows: int
    files: int
    model_uri: str


def model_uri(settings: Settings, alias_or_version: str | None = None) -> str:
    """The registry URI of the champion (or a given alias or version); missing is exit 2."""
    client = connect(settings)
    ref = alias_or_version or CHAMPION
    try:
        if ref.isdigit():
            client.get_model_version(MODEL_NAME, ref)
        else:
            client.get_model_version_by_alias(MODEL_NAME, ref)
        return registered_uri(ref)
    except MlflowException:
        raise missing_model(alias_or_version) from None


def score_frame(
    spark: SparkSession, frame: DataFrame, uri: str, source: str | None = None
) -> DataFrame:
    """``case_id`` and the CONTRACT §3 score columns of every row of ``frame``, lazily.

    Columns are checked against the contract and the model's signature from the schema alone
    (``source`` names the data in the message); no row is read on the driver.
    """
    from pyspark.sql import functions as F

    missing = [c for c in FRAME_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(
            "the frame lacks contract columns (CONTRACT.md §2)",
            source=source,
            column=", ".join(missing),
        )
    inputs = mlflow.models.get_model_info(uri).signature.inputs.inputs
    given = {field.name: field.dataType for field in frame.schema.fields}
    for spec in inputs:
        wanted = spec.type.to_spark()
        if _kind(given[spec.name]) != _kind(wanted):
            raise InputError(
                f"expected {_kind(wanted)} values, found {given[spec.name].simpleString()}",
                source=source,
                column=spec.name,
            )
    # the signature's types (integers logged as doubles), cast on the executors
    columns = [F.col(spec.name).cast(spec.type.to_spark()) for spec in inputs]
    scores = ", ".join(f"`{name}` double" for name in SCORE_COLUMNS[1:])
    udf = mlflow.pyfunc.spark_udf(spark, uri, result_type=scores, env_manager="local")
    scored = frame.select(F.col(ID_COLUMN).cast("string"), udf(*columns).alias("scores"))
    return scored.select(ID_COLUMN, *(F.col(f"scores.`{c}`") for c in SCORE_COLUMNS[1:]))


def _kind(spark_type: object) -> str:
    """The contract's kind of a Spark column type: number, boolean or text."""
    from pyspark.sql.types import BooleanType, NumericType

    if isinstance(spark_type, BooleanType):
        return "boolean"
    return "numeric" if isinstance(spark_type, NumericType) else spark_type.simpleString()


def score_parquet(spark: SparkSession, data: str, out: str, uri: str) -> ScoreRun:
    """Read Parquet at ``data`` (file, folder or glob), score it, write ``out`` as Parquet.

    A local ``out`` is written beside itself and renamed into place, so a failed run leaves
    the previous output whole; elsewhere (``hdfs://``, ``s3a://``...) Spark's committer writes
    it and marks it ``_SUCCESS``.
    """
    local = "://" not in out or out.startswith("file://")
    target = Path(out.removeprefix("file://")) if local else None
    staging = str(target.with_name(f".{target.name}-{uuid.uuid4().hex[:8]}")) if target else out
    try:
        frame = spark.read.parquet(data)
        score_frame(spark, frame, uri, data).write.mode("overwrite").parquet(staging)
    except Exception as exc:
        if target is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if not isinstance(exc, InputError) and _is_input_problem(exc):
            raise _input_error(exc, data) from None
        raise
    written = spark.read.parquet(staging)
    run = ScoreRun(out, written.count(), len(written.inputFiles()), uri)
    if target is not None:
        _swap(Path(staging), target)
    return run


def _is_input_problem(exc: Exception) -> bool:
    from pyspark.errors import AnalysisException

    return isinstance(exc, AnalysisException) or FAILED_FILE.search(str(exc)) is not None


def _input_error(exc: Exception, data: str) -> InputError:
    """The file Spark could not read, named; or the path that matched nothing."""
    found = FAILED_FILE.search(str(exc))
    if found:
        return InputError("not a readable Parquet file", source=LOCAL.sub("/", found.group(1)))
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return InputError(first, source=data)


def _swap(staging: Path, target: Path) -> None:
    """Put the finished output in place of the old one with renames."""
    old = target.with_name(f".{target.name}-old-{uuid.uuid4().hex[:8]}")
    if target.exists():
        target.rename(old)
    staging.rename(target)
    if old.is_dir():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink(missing_ok=True)
