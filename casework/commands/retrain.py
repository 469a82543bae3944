"""``casework retrain`` and ``casework rollback``: the unattended retraining job's commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from casework.app import EXIT_INTERNAL, command, console, errors
from features.errors import InputError
from features.settings import get_settings
from training.promotion import rollback
from training.retrain import RetrainBusy, accept, retrain


@command("retrain")
def retrain_command(
    new: Annotated[
        Path | None, typer.Option("--new", help="New inspected cases (CSV or Parquet).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and report drift; write nothing.")
    ] = False,
    accept_batch: Annotated[
        str | None, typer.Option("--accept", help="Admit a held-back batch to training.")
    ] = None,
) -> None:
    """Validate a batch, append it, check drift, train a challenger and promote it only if better.

    Exit codes: 0 promoted (or nothing new), 3 champion kept (batch held back), 2 bad input
    (batch quarantined), 1 internal error or another retrain running.
    """
    settings = get_settings()
    if accept_batch is not None:
        console.print(accept(accept_batch, settings))
        return
    if new is None:
        raise InputError("pass --new FILE (a batch of inspected cases) or --accept BATCH")
    try:
        outcome = retrain(new, settings, dry_run=dry_run, say=console.print)
    except RetrainBusy as busy:
        errors.print(f"error: {busy}")
        raise typer.Exit(EXIT_INTERNAL) from None
    if outcome.drift is not None:
        flagged = outcome.drift[outcome.drift["flag"]]
        console.print(f"drift: {len(flagged)} of {len(outcome.drift)} checks flagged")
        if len(flagged):
            console.print(_table(flagged, "Drift flags (PSI > 0.2 or prevalence shift > 0.1)"))
    if outcome.gates is not None:
        console.print(_table(outcome.gates, "Promotion gates"))
    (console if outcome.exit_code == 0 else errors).print(outcome.message)
    raise typer.Exit(outcome.exit_code)


@command("rollback")
def rollback_command() -> None:
    """Make the previous champion the champion again (bundle and registry alias)."""
    try:
        version = rollback(get_settings())
    except FileNotFoundError:
        raise InputError("no previous champion to roll back to") from None
    console.print(f"champion is version {version} again")


def _table(frame: pd.DataFrame, title: str) -> Table:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    return table
