"""``casework validate``: check a table against the data contract and summarise it."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from casework.app import command, console
from features.contract import (
    INSPECTED_COLUMNS,
    INSUFFICIENT,
    JUDGEMENTS,
    NOT_APPLICABLE,
    NOT_INSPECTED,
)
from features.validation import detect_kind, load_table


class Kind(StrEnum):
    """The contract's table kinds (CONTRACT.md §1–2, §7)."""

    inspected = "inspected"
    frame = "frame"
    judged = "judged"


@command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(help="A .csv, .parquet or .xlsx table.")],
    kind: Annotated[
        Kind | None,
        typer.Option(
            help="Table kind (default: inspected if judgement columns are present); judged: "
            "a judged sample, as estimate reads it."
        ),
    ] = None,
) -> None:
    """Check FILE against the data contract; exit 2 with every broken rule if it fails."""
    table = load_table(file, kind.value if kind else None)
    chosen = kind.value if kind else detect_kind(table.columns)
    console.print(f"[green]ok[/]: {file} is a valid {chosen} table")
    if chosen == "frame":
        console.print(
            f"rows {len(table):,} · offices {table['office'].nunique():,} · "
            f"officers {table['officer_id'].nunique():,}"
        )
        return
    facts = [f"rows {len(table):,}"]
    if "inspection_id" in table.columns:
        facts.append(f"inspections {table['inspection_id'].nunique():,}")
    if "officer_id" in table.columns:
        facts.append(f"officers {table['officer_id'].nunique():,}")
    if "inspection_date" in table.columns:
        dates = table["inspection_date"]
        facts.append(f"dates {dates.min():%Y-%m-%d} … {dates.max():%Y-%m-%d}")
    facts.append(f"not inspected {(table[JUDGEMENTS[0]] == NOT_INSPECTED).sum():,}")
    console.print(" · ".join(facts))
    console.print(_judgement_table(table))
    absent = [c for c in INSPECTED_COLUMNS if c not in table.columns]
    if absent:
        console.print(f"note: retrain also needs {', '.join(absent)}")


def _judgement_table(table: pd.DataFrame) -> Table:
    """Share of insufficient judgements among the inspected cases each judgement applies to."""
    summary = Table(title="Insufficient, among applicable inspected cases")
    for heading in ("judgement", "applicable", "insufficient"):
        summary.add_column(heading, justify="left" if heading == "judgement" else "right")
    for judgement in JUDGEMENTS:
        applies = ~table[judgement].isin([NOT_APPLICABLE, NOT_INSPECTED])
        share = (table.loc[applies, judgement] == INSUFFICIENT).mean() if applies.any() else None
        summary.add_row(judgement, f"{applies.sum():,}", "-" if share is None else f"{share:.1%}")
    return summary
