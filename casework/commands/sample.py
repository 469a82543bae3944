"""``casework sample`` and ``casework estimate`` (CONTRACT.md §4)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from pydantic import ValidationError
from rich.table import Table

from casework.app import command, console
from features.errors import InputError
from features.readers import read_table, write_table
from features.settings import get_settings
from features.validation import load_table
from serving.estimation import estimate
from serving.sampling import SampleRequest, draw_sample
from serving.simulation import simulate
from training.job import load_model


def _request(**fields: object) -> SampleRequest:
    """The request from CLI options; a pydantic error becomes a bad-input message."""
    given = {k: v for k, v in fields.items() if v is not None}
    try:
        return SampleRequest(**given)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(p) for p in problem["loc"])
        raise InputError(problem["msg"], source="sample options", column=field) from None


def _minimums(values: list[str] | None) -> dict[str, int] | None:
    """``column=value:count`` options as the request's mapping."""
    if not values:
        return None
    parsed = {}
    for value in values:
        key, sep, count = value.rpartition(":")
        if not sep or not count.isdigit():
            raise InputError(
                f"{value!r}: expected column=value:count", source="options", column="--minimum"
            )
        parsed[key] = int(count)
    return parsed


def _columns(value: str | None) -> list[str] | None:
    return None if value is None else [c.strip() for c in value.split(",") if c.strip()]


def _scores(frame: pd.DataFrame, scores: Path | None, model: str | None) -> pd.DataFrame:
    if scores is not None:
        return read_table(scores)
    try:
        bundle = load_model(get_settings(), model)
    except FileNotFoundError as missing:
        raise InputError(f"no champion model at {missing}: run casework train first") from None
    return bundle.predict(frame)


@command("sample")
def sample_command(
    frame_file: Annotated[Path, typer.Option("--frame", help="Caseload frame (CSV/Parquet).")],
    size: Annotated[int, typer.Option("--size", help="Number of cases to select.")],
    out: Annotated[Path | None, typer.Option("--out", help="Sample file to write.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed.")] = None,
    strata: Annotated[str | None, typer.Option(help="Explicit strata, comma-separated.")] = None,
    balance: Annotated[
        str | None, typer.Option(help="Balancing variables, comma-separated.")
    ] = None,
    minimum: Annotated[
        list[str] | None, typer.Option("--minimum", help="column=value:count (repeatable).")
    ] = None,
    officer_cap: Annotated[int | None, typer.Option(help="Cases per officer at most.")] = None,
    risk_weight: Annotated[float | None, typer.Option(help="λ in [0, 1].")] = None,
    floor: Annotated[
        float | None, typer.Option(help="Floor as a fraction of equal chance.")
    ] = None,
    target: Annotated[str | None, typer.Option(help="risk_score, a judgement or an aim.")] = None,
    method: Annotated[str | None, typer.Option(help="balanced or systematic.")] = None,
    scores: Annotated[
        Path | None, typer.Option(help="Scores file (default: score with the champion).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Registered alias or version.")] = None,
    simulate_draws: Annotated[
        int | None, typer.Option("--simulate", help="Simulate R draws instead of drawing.")
    ] = None,
) -> None:
    """Draw a risk-weighted stratified sample with known inclusion probabilities."""
    request = _request(
        size=size,
        strata=_columns(strata),
        balance=_columns(balance),
        minimums=_minimums(minimum),
        officer_cap=officer_cap,
        risk_weight=risk_weight,
        floor=floor,
        target=target,
        method=method,
    )
    seed = get_settings().seed if seed is None else seed
    frame = load_table(frame_file, kind="frame")
    scored = _scores(frame, scores, model)
    if simulate_draws is not None:
        _print_simulation(simulate(frame, scored, request, simulate_draws, seed).to_dict())
        return
    if out is None:
        raise InputError("--out is required unless --simulate is given", source="options")
    sample = draw_sample(frame, scored, request, seed)
    write_table(sample.cases, out)
    _print_design(sample.design)
    console.print(f"wrote {out} ({len(sample.cases)} cases)")


def _print_design(design: dict) -> None:
    table = Table(title="Sample by stratum")
    for column in ("stratum", "population", "share", "allocated", "drawn"):
        table.add_column(column, justify="left" if column == "stratum" else "right")
    for row in design["strata"]:
        table.add_row(
            row["stratum"],
            f"{row['population']:,}",
            f"{row['population_share']:.1%}",
            str(row["allocated"]),
            str(row.get("drawn", "")),
        )
    console.print(table)
    console.print(
        f"expected insufficient judgements {design['expected_insufficient']:.1f} "
        f"(equal chances: {design['equal_chance_insufficient']:.1f}); "
        f"Kish design effect {design['design_effect']:.2f}, "
        f"effective sample size {design['effective_sample_size']:.0f}; "
        f"{design.get('officers', '?')} officers"
    )


def _print_simulation(result: dict) -> None:
    table = Table(title=f"Frontier over the risk weight ({result['method']})")
    for column in ("λ", "yield ratio", "design effect", "mean CI half-width"):
        table.add_column(column, justify="right")
    for point in result["frontier"]:
        table.add_row(
            f"{point['risk_weight']:.2f}",
            f"{point['yield_ratio']:.3f}",
            f"{point['design_effect']:.2f}",
            f"{point['mean_half_width']:.3f}",
        )
    console.print(table)
    widths = Table(title="Expected 95% CI half-width per judgement")
    widths.add_column("judgement")
    widths.add_column("this design", justify="right")
    widths.add_column("equal chances", justify="right")
    for judgement, width in result["half_widths"].items():
        equal = result["equal_chance_half_widths"][judgement]
        widths.add_row(judgement, f"±{width:.3f}", f"±{equal:.3f}")
    console.print(widths)
    share = result["margins_within_2"]
    console.print(
        f"λ = {result['risk_weight']:.2f}: expected insufficient judgements "
        f"{result['expected_insufficient']:.1f} vs {result['equal_chance_insufficient']:.1f} "
        f"with equal chances ({result['yield_ratio']:.2f}×), design effect "
        f"{result['design_effect']:.2f}; every margin within ±2 in "
        f"{'n/a' if share is None else f'{share:.1%}'} of {result['draws']} draws"
    )
    for note in result["notes"]:
        console.print(f"note: {note}")


@command("estimate")
def estimate_command(
    sample: Annotated[Path, typer.Option("--sample", help="Judged sample (CSV or Parquet).")],
    by: Annotated[
        str | None, typer.Option("--by", help="Estimate per value of this column.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the table here too.")] = None,
) -> None:
    """Share sufficient per judgement (Hájek), with design-based SEs and 95% CIs."""
    table = estimate(read_table(sample), by=by)
    if out is not None:
        write_table(table, out)
    view = Table(title="Share sufficient (design-weighted)")
    for column in ("judgement", "group", "n", "estimate", "95% CI", "n eff."):
        view.add_column(column, justify="left" if column in ("judgement", "group") else "right")
    for row in table.itertuples():
        view.add_row(
            row.judgement,
            row.group,
            str(row.n),
            f"{row.estimate:.1%}",
            f"{row.ci_low:.1%}–{row.ci_high:.1%}",
            f"{row.n_effective:.0f}",
        )
    console.print(view)
