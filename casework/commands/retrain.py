"""``casework retrain`` and ``casework rollback``: the unattended retraining job's commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from casework.app import EXIT_INTERNAL, command, console, errors, step_bar
from casework.tables import frame_table
from features.errors import InputError
from features.settings import get_settings
from training.lifecycle.gates import AUC_MARGIN, DISPARITY_MARGIN, LOG_LOSS_MARGIN, POOLED
from training.lifecycle.promotion import rollback
from training.lifecycle.retrain import (
    RETRAIN_STEPS,
    RetrainBusy,
    RetrainOutcome,
    accept,
    drop,
    ledger_table,
    retrain,
    retrain_lock,
)


@command("retrain")
def retrain_command(
    new: Annotated[
        Path | None,
        typer.Option("--new", help="New inspected cases or a judged sample (CSV/Parquet/XLSX)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and report drift; write nothing.")
    ] = False,
    accept_batch: Annotated[
        str | None,
        typer.Option(
            "--accept",
            help="Admit a held-back, pending or failed batch: retrain with it, gate, promote.",
        ),
    ] = None,
    drop_batch: Annotated[
        str | None, typer.Option("--drop", help="Remove a batch from the training store.")
    ] = None,
    show_status: Annotated[
        bool, typer.Option("--status", help="Show the store's ledger of batches.")
    ] = False,
) -> None:
    """Validate a batch, append it, check drift, train a challenger and promote it only if better.

    Exit codes: 0 promoted (or nothing new), 3 champion kept (batch held back), 2 bad input
    (batch quarantined), 1 internal error or another retrain running.
    """
    settings = get_settings()
    if sum([new is not None, accept_batch is not None, drop_batch is not None, show_status]) != 1:
        raise InputError("pass exactly one of --new FILE, --accept BATCH, --drop BATCH, --status")
    try:
        if show_status:
            console.print(
                frame_table(
                    ledger_table(settings), "Training store batches", whole=("batch", "status")
                )
            )
            return
        if drop_batch is not None:
            console.print(drop(drop_batch, settings))
            return
        with step_bar("retrain", RETRAIN_STEPS) as step:
            if accept_batch is not None:
                outcome = accept(accept_batch, settings, say=console.print, on_step=step)
            else:
                outcome = retrain(new, settings, dry_run=dry_run, say=console.print, on_step=step)
    except RetrainBusy as busy:
        errors.print(f"error: {busy}")
        raise typer.Exit(EXIT_INTERNAL) from None
    _show(outcome)
    raise typer.Exit(outcome.exit_code)


@command("rollback")
def rollback_command() -> None:
    """Make the previous champion the champion again (bundle and registry alias); waits for no
    retrain: while one runs (it holds the lock) the rollback is refused, exit 1."""
    settings = get_settings()
    try:
        with retrain_lock(settings):
            version = rollback(settings)
    except FileNotFoundError:
        raise InputError("no previous champion to roll back to") from None
    except RetrainBusy as busy:
        errors.print(f"error: {busy}")
        raise typer.Exit(EXIT_INTERNAL) from None
    console.print(f"champion is version {version} again")


def _show(outcome: RetrainOutcome) -> None:
    """Drift flags, then the gate decision's sentence above the gate table."""
    if outcome.drift is not None:
        flagged = outcome.drift[outcome.drift["flag"]]
        console.print(f"drift: {len(flagged)} of {len(outcome.drift)} checks flagged")
        if len(flagged):
            console.print(frame_table(flagged, "Drift flags (PSI > 0.2 or prevalence shift > 0.1)"))
    first, _, rest = outcome.message.partition("\n")
    (console if outcome.exit_code == 0 else errors).print(first)
    if outcome.gates is not None and len(outcome.gates):
        console.print(_gate_table(outcome.gates))
    if rest:
        (console if outcome.exit_code == 0 else errors).print(rest)


def _gate_table(gates: pd.DataFrame) -> Table:
    """Challenger − champion per check and holdout: the difference and its 95% interval."""
    holdouts = list(dict.fromkeys(gates["holdout"]))
    table = Table(
        title="Promotion gates: challenger − champion [interval, paired officer bootstrap]",
        caption=f"✗ = worse beyond the margin (AUC {AUC_MARGIN}, log loss {LOG_LOSS_MARGIN}, "
        f"disparity ratio {DISPARITY_MARGIN}; {POOLED}: any worse). Intervals 95%, "
        "simultaneous over the judgement and disparity rows (Bonferroni).",
    )
    table.add_column("check")
    for holdout in holdouts:
        n = int(gates.loc[(gates["holdout"] == holdout) & (gates["check"] == POOLED), "n"].sum())
        table.add_column(f"{holdout} ({n:,} cases)" if n else holdout, justify="right")
    cells = {(r.check, r.holdout): r for r in gates.itertuples(index=False)}
    for check in dict.fromkeys(gates["check"]):
        row = [check]
        for holdout in holdouts:
            r = cells.get((check, holdout))
            row.append(
                ""
                if r is None
                else f"{r.delta:+.4f} [{r.low:+.4f}, {r.high:+.4f}]" + (" ✗" if r.blocks else "")
            )
        table.add_row(*row)
    return table
