"""``casework validate``: check a table against the data contract and summarise it."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from casework.app import command, console
from features.contract import INSUFFICIENT, JUDGEMENTS, NOT_APPLICABLE
from features.validation import detect_kind, load_table


class Kind(StrEnum):
    """The contract's table kinds (CONTRACT.md §1–2)."""

    inspected = "inspected"
    frame = "frame"


@command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(help="A .csv or .parquet table.")],
    kind: Annotated[
        Kind | None,
        typer.Option(help="Table kind (default: inspected if judgement columns are present)."),
    ] = None,
) -> None:
    """Check FILE against the data contract; exit 2 with every broken rule if it fails."""
    table = load_table(file, kind.value if kind else None)
    chosen = kind.value if kind else detect_kind(table.columns)
    console.print(f"[green]ok[/]: {file} is a valid {chosen} table")
    if chosen == "inspected":
        dates = table["inspection_date"]
        console.print(
            f"rows {len(table):,} · inspections {table['inspection_id'].nunique():,} · "
            f"officers {table['officer_id'].nunique():,} · "
            f"dates {dates.min():%Y-%m-%d} … {dates.max():%Y-%m-%d}"
        )
        console.print(_judgement_table(table))
    else:
        console.print(
            f"rows {len(table):,} · offices {table['office'].nunique():,} · "
            f"officers {table['officer_id'].nunique():,}"
        )


def _judgement_table(table: pd.DataFrame) -> Table:
    """Share of insufficient judgements among the cases each judgement applies to."""
    summary = Table(title="Insufficient, among applicable cases")
    for heading in ("judgement", "applicable", "insufficient"):
        summary.add_column(heading, justify="left" if heading == "judgement" else "right")
    for judgement in JUDGEMENTS:
        applies = table[judgement] != NOT_APPLICABLE
        share = (table.loc[applies, judgement] == INSUFFICIENT).mean() if applies.any() else None
        summary.add_row(judgement, f"{applies.sum():,}", "-" if share is None else f"{share:.1%}")
    return summary
