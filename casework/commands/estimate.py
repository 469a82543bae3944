"""``casework estimate`` (CONTRACT.md §4): shares, ratings and annual tables from judged samples."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from casework.app import command, console
from features.contract import JUDGEMENTS, NOT_INSPECTED
from features.readers import write_table
from features.validation import load_judged
from serving.estimation import MIN_PUBLISHABLE, estimate, national_tables, rate
from serving.intervals import CI_METHOD
from serving.pooling import prepare


@command("estimate")
def estimate_command(
    sample: Annotated[
        list[Path],
        typer.Option("--sample", help="Judged sample (CSV, Parquet or XLSX); repeatable."),
    ],
    more: Annotated[
        list[Path] | None,
        typer.Argument(help="More judged samples: `--sample A.csv B.csv C.csv` pools them."),
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Estimate per value of this column.")
    ] = None,
    ratings: Annotated[
        bool, typer.Option("--ratings", help="Rate each stage and aim, with P(each band).")
    ] = False,
    tables: Annotated[
        bool,
        typer.Option(
            "--tables", help="Annual report Tables 2 and 3 (on when several samples are given)."
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the ratings' draws.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the table here too (CSV/Parquet); ratings go beside it as *_ratings.",
        ),
    ] = None,
) -> None:
    """Share sufficient per judgement (Hájek), design-based SEs and Wilson 95% CIs."""
    files = [*sample, *(more or [])]
    judged = [load_judged(path) for path in files]
    missing = sum(
        int((part[list(JUDGEMENTS)] == NOT_INSPECTED).all(axis=1).sum()) for part in judged
    )
    if missing:
        console.print(
            f"{missing} drawn case(s) not inspected: their strata's inspected cases carry their "
            "weight (README, cases not inspected)"
        )
    design = prepare(judged, by, sources=[str(path) for path in files])  # once for every table
    shares = estimate(design, by=by)
    _print_shares(shares, "Share sufficient (design-weighted)")
    parts = [shares.assign(table="estimates")]
    if tables or len(files) > 1:
        for name, part in national_tables(design).items():
            _print_shares(part, f"{name.capitalize()} layout: keeping people safe")
            parts.append(part.assign(table=name))
    rated = rate(design, by=by, seed=seed) if ratings else None
    if rated is not None:
        _print_ratings(rated)
    if out is not None:
        write_table(pd.concat(parts, ignore_index=True) if len(parts) > 1 else shares, out)
        if rated is not None:
            write_table(rated, out.with_name(f"{out.stem}_ratings{out.suffix}"))


def _print_shares(table: pd.DataFrame, title: str) -> None:
    view = Table(title=f"{title}; 95% CI: {CI_METHOD}")
    for column in ("judgement", "group", "n", "estimate", "95% CI", "n eff."):
        view.add_column(column, justify="left" if column in ("judgement", "group") else "right")
    for row in table.itertuples():
        flag = " *" if row.too_few_to_publish else ""
        view.add_row(
            row.judgement,
            f"{row.group}{flag}",
            str(row.n),
            *(
                (
                    f"{row.estimate:.1%}",
                    f"{row.ci_low:.1%}–{row.ci_high:.1%}",
                    f"{row.n_effective:.0f}",
                )
                if row.n
                else ("-", "-", "-")
            ),
        )
    console.print(view)
    if table["too_few_to_publish"].any():
        console.print(f"* fewer than {MIN_PUBLISHABLE} cases: too few to publish")


def _print_ratings(table: pd.DataFrame) -> None:
    view = Table(title="Ratings: lowest key question, P(each band)")
    for column in ("standard", "group", "lowest", "rating", "P(O)", "P(G)", "P(RI)", "P(I)"):
        view.add_column(
            column, justify="left" if column in ("standard", "group", "rating") else "right"
        )
    for row in table.dropna(subset=["rating"]).itertuples():
        probabilities = (
            row.p_outstanding,
            row.p_good,
            row.p_requires_improvement,
            row.p_inadequate,
        )
        view.add_row(
            row.standard,
            row.group,
            f"{row.lowest_share:.1%}",
            row.rating,
            *(f"{p:.2f}" for p in probabilities),
        )
    console.print(view)
