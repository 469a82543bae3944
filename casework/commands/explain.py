"""``casework explain``: global SHAP importance, or one case's drivers in plain words."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from casework.app import command, console
from features.contract import JUDGEMENTS, score_column
from features.errors import InputError
from features.readers import write_table
from features.settings import Settings, get_settings
from features.validation import load_table
from training.bundle import CaseworkModel
from training.explain import explain_cases, global_importance
from training.job import load_model


def champion(settings: Settings) -> CaseworkModel:
    """The exported champion bundle; a missing one is the user's to fix (exit 2)."""
    try:
        return load_model(settings)
    except FileNotFoundError as missing:
        raise InputError(f"no champion model at {missing}: run casework train first") from None


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
        importance = global_importance(model, cases)
        write_table(importance, out)
        console.print(_top_features(importance))
        console.print(f"wrote {out} (mean |SHAP| over {len(cases):,} cases, log-odds)")
        return
    case = cases[cases["case_id"].astype(str) == case_id]
    if case.empty:
        raise InputError(f"case_id {case_id!r} not found", source=str(data), column="case_id")
    explanation = explain_cases(model, case.head(1), top=top)[0]
    if as_json:
        typer.echo(json.dumps(explanation, indent=2))
        return
    scores = model.predict(case.head(1)).iloc[0]
    console.print(f"case {case_id}: top {top} drivers of each judgement", style="bold")
    for judgement in JUDGEMENTS:
        drivers = explanation["judgements"][judgement]
        chance = scores[score_column(judgement)]
        console.print(f"{judgement}: P(insufficient) = {chance:.2f}", style="bold", markup=False)
        for driver in drivers:
            console.print(f"  {driver['text']}", markup=False, highlight=False)


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
