"""Sealed samples from the command line: ``casework release``, ``casework verify`` and
``casework sealed list|purge`` (``casework sample --sealed`` seals through the sampling workflow).

The CLI and the service share the sealed store (``<data dir>/sealed``) and the canonical form
of ``serving.commitment``, so a commitment made by either is released and verified by both
and by the planner page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from casework.app import command, console, errors
from features.errors import InputError
from features.readers import read_table
from features.settings import get_settings
from serving.commitment import (
    BOUND_COLUMNS,
    SealedStore,
    is_commitment,
    verify,
)
from serving.judged_file import judged_table, write_judged

EXIT_MISMATCH = 3
"""``casework verify``: the sample does not match the commitment."""


@command("release")
def release_command(
    commitment: Annotated[str, typer.Argument(help="The sealed sample's commitment (64 hex).")],
    out: Annotated[Path, typer.Option("--out", help="Sample file to write (CSV/Parquet/XLSX).")],
) -> None:
    """Write a sealed sample's case list; print the salt and seed that let anyone check it."""
    record = SealedStore.from_settings(get_settings()).release(_commitment(commitment))
    if record is None:
        raise InputError("no sealed sample has this commitment", source="sealed store")
    write_judged(judged_table(pd.DataFrame(record["cases"])), out)
    console.print(f"wrote {out} ({len(record['cases'])} cases)")
    console.print(f"salt {record['salt']}\nseed {record['seed']}")
    console.print(
        f"check: casework verify --sample {out} --commitment {commitment} --salt {record['salt']}"
    )


@command("verify")
def verify_command(
    sample: Annotated[Path, typer.Option("--sample", help="The released sample file.")],
    commitment: Annotated[str, typer.Option("--commitment", help="The published commitment.")],
    salt: Annotated[str, typer.Option("--salt", help="The salt released with the list.")],
) -> None:
    """Check a released sample against its commitment (exit 0 match, 3 no match)."""
    table = read_table(sample)
    missing = [c for c in BOUND_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"missing columns {', '.join(missing)}", source=str(sample))
    try:
        salt.encode("ascii")
        matches = verify(table[list(BOUND_COLUMNS)], salt, _commitment(commitment))
    except (UnicodeEncodeError, ValueError) as exc:
        raise InputError(f"cannot read the sample's values ({exc})", source=str(sample)) from None
    if not matches:
        errors.print("the sample does NOT match the commitment")
        raise typer.Exit(EXIT_MISMATCH)
    console.print(f"the sample matches the commitment ({len(table)} cases)")


class Action(StrEnum):
    """What ``casework sealed`` does."""

    list = "list"
    purge = "purge"


@command("sealed")
def sealed_command(
    action: Annotated[Action, typer.Argument(help="list, or purge (the retention limits)")],
    everything: Annotated[
        bool, typer.Option("--all", help="purge: remove every sealed sample.")
    ] = False,
) -> None:
    """List the sealed samples kept, or purge those beyond the retention limits."""
    settings = get_settings()
    store = SealedStore.from_settings(settings)
    if action is Action.purge:
        removed = store.purge(everything=everything)
        console.print(f"removed {removed} sealed sample(s); {len(store.entries())} kept")
        return
    table = Table(title=f"Sealed samples (keep {settings.sealed_keep}, {settings.sealed_days:g} d)")
    for column in ("commitment", "sealed", "cases", "released"):
        table.add_column(column)
    for entry in store.entries():
        released = "" if entry.released_at is None else _when(entry.released_at)
        table.add_row(entry.commitment, _when(entry.sealed_at), str(entry.cases), released)
    console.print(table)


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _commitment(text: str) -> str:
    if not is_commitment(text.strip().lower()):
        raise InputError("expected 64 hexadecimal digits", source="commitment")
    return text.strip().lower()
