"""``casework explain``: global SHAP importance, or one case's drivers in plain words."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from casework.app import command, console
from casework.bundles import champion
from features.contract import JUDGEMENTS
from features.errors import InputError
from features.readers import write_table
from features.settings import get_settings
from features.validation import load_table
from training.reporting.explain import STAGE_WORDS, drivers_by_aim, explain_cases, global_importance


@command("explain")
def explain_command(
    data: Annotated[
        Path, typer.Option("--data", help="Cases (CSV or Parquet, frame or inspected).")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write global importance here (judgement, feature, mean_abs_shap)."
        ),
    ] = None,
    case_id: Annotated[
        str | None, typer.Option("--case-id", help="Explain this case of --data instead.")
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Drivers shown per judgement.")] = 5,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --case-id: print the API's JSON instead.")
    ] = False,
) -> None:
    """Mean |SHAP| per judgement and feature (--out), or a case's top drivers (--case-id)."""
    if (out is None) == (case_id is None):
        raise InputError("give either --out FILE (global importance) or --case-id ID (one case)")
    cases = load_table(data)
    model = champion(get_settings())
    if out is not None:
        with console.status(f"SHAP for {len(cases):,} cases × {len(model.models)} judgements"):
            importance = global_importance(model, cases)
        write_table(importance, out)
        console.print(_top_features(importance))
        console.print(f"wrote {out} (mean |SHAP| over {len(cases):,} cases, log-odds)")
        return
    case = cases[cases["case_id"].astype(str) == case_id]
    if case.empty:
        raise InputError(f"case_id {case_id!r} not found", source=str(data), column="case_id")
    if as_json:
        typer.echo(json.dumps(explain_cases(model, case.head(1), top=top)[0], indent=2))
        return
    explanation = explain_cases(model, case.head(1), top=len(model.features.features_))[0]
    console.print(
        f"case {case_id}: chance each judgement is insufficient (typical case in brackets), "
        f"and the top {top} drivers of each aim, averaged over its judgements",
        style="bold",
        markup=False,
    )
    for aim, drivers in drivers_by_aim(explanation, top).items():
        chances = ", ".join(
            f"{STAGE_WORDS[j.split('_')[0]]} {_chance(explanation['probability'][j])}"
            f" ({_chance(explanation['base_probability'][j])})"
            for j in JUDGEMENTS
            if j.endswith(f"_{aim}")
        )
        console.print(f"{aim}: {chances}", style="bold", markup=False, highlight=False)
        console.print(
            "  " + "; ".join(d["text"] for d in drivers) if drivers else "  (not trained)",
            markup=False,
            highlight=False,
        )


def _chance(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _top_features(importance: pd.DataFrame) -> Table:
    """The three strongest features of each judgement."""
    table = Table(title="Top features by mean |SHAP| (log-odds)")
    table.add_column("judgement")
    for rank in (1, 2, 3):
        table.add_column(f"#{rank}")
    for judgement, rows in importance.groupby("judgement", sort=False):
        top = rows.head(3)
        table.add_row(
            judgement,
            *(f"{f} {v:.2f}" for f, v in zip(top["feature"], top["mean_abs_shap"], strict=True)),
        )
    return table
