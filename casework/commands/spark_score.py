"""``casework score --engine spark``: the Spark path of ``casework score`` (no command here)."""

from __future__ import annotations

from casework.app import console
from features.settings import get_settings


def score_on_spark(
    data: str, out: str, model: str | None, master: str | None, conf: list[str] | None
) -> None:
    """Score Parquet ``data`` on Spark with the registered champion and print what was written."""
    from serving.spark.scoring import model_uri, score_parquet
    from serving.spark.session import parse_conf, spark_session

    settings = get_settings()
    spark_conf = parse_conf(conf or [])
    uri = model_uri(settings, model)
    master = master or settings.spark_master
    with console.status(f"scoring {data} on Spark ({master})"):
        with spark_session(master, spark_conf) as spark:
            run = score_parquet(spark, data, out, uri)
    console.print(
        f"wrote {run.out} ({run.rows:,} cases scored in {run.files} Parquet files, {run.model_uri})"
    )
