"""``casework sample`` (CONTRACT.md §4): parses the options and hands them to the sampling
workflow (``serving.workflow``) in one call, with a progress bar; prints what it drew."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from pydantic import ValidationError
from rich.table import Table

from casework.app import command, console, step_bar
from casework.bundles import scoring_bundle
from casework.engines import (
    SIMULATION_SECONDS,
    ConfOption,
    Engine,
    EngineOption,
    MasterOption,
    draw_engine,
)
from features.errors import InputError
from features.settings import get_settings
from serving.sampling import SampleRequest
from serving.workflow import (
    SIMULATION_STEPS,
    STEPS,
    Applicability,
    Drawn,
    Options,
    Scorer,
    draw,
    simulate_request,
)


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


def _sources(scores: Path | None, model: str | None) -> tuple[Path | Scorer, Applicability]:
    """The scores file, or the champion (or ``--model``) to score the frame with; and the
    chance that each judgement applies, learned by that bundle (``scoring_bundle``)."""
    bundle = scoring_bundle(get_settings(), scores, model)

    def applies(frame: pd.DataFrame) -> pd.DataFrame | None:
        loaded = bundle()
        return None if loaded is None else loaded.applicability(frame)

    return (scores if scores is not None else lambda frame: bundle().predict(frame)), applies


def _files(out: Path | None, workbook: Path | None, sealed: bool) -> tuple[Path, ...]:
    """The files to write: the sample and the workbook, or a sealed sample's commitment."""
    if sealed:
        if out is not None and out.suffix.lower() != ".json":
            raise InputError("with --sealed, --out is the commitment's .json file", source=str(out))
        return () if out is None else (out,)
    targets = tuple(path for path in (out, workbook) if path is not None)
    if not targets:
        raise InputError(
            "--out or --workbook is required unless --simulate is given", source="options"
        )
    if workbook is not None and workbook.suffix.lower() != ".xlsx":
        raise InputError("the workbook must be an .xlsx file", source=str(workbook))
    return targets


@command("sample")
def sample_command(
    frame_file: Annotated[Path, typer.Option("--frame", help="Caseload frame (CSV/Parquet).")],
    size: Annotated[
        int, typer.Option("--size", help="Number of cases to select (1 to the frame's size).")
    ],
    out: Annotated[Path | None, typer.Option("--out", help="Sample file to write.")] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Random seed, 0 to 2^63 − 1 (default: CASEWORK_SEED, 1)."),
    ] = None,
    strata: Annotated[
        str | None,
        typer.Option(
            help="Explicit strata, comma-separated categorical columns (default: office,gender)."
        ),
    ] = None,
    balance: Annotated[
        str | None,
        typer.Option(
            help="Balancing variables, comma-separated (default: ethnicity,sentence_type,"
            "rosh_level, less any stratum)."
        ),
    ] = None,
    minimum: Annotated[
        list[str] | None,
        typer.Option(
            "--minimum",
            help="column=value:count (repeatable) (default: gender=female:10, 5 per minority "
            "ethnic group, 3 per RoSH level).",
        ),
    ] = None,
    soft_minimum: Annotated[
        bool | None,
        typer.Option(
            "--soft-minimum/--hard-minimum",
            help="Minimums on non-stratifying columns as expected counts only, or met in every "
            "draw (systematic: the column joins the strata) (default: hard for balanced, "
            "expected counts for systematic).",
            show_default=False,
        ),
    ] = None,
    officer_cap: Annotated[
        int | None, typer.Option(help="Cases per officer at most, 1 to 1000 (default: 2).")
    ] = None,
    risk_weight: Annotated[
        float | None, typer.Option(help="λ in [0, 1]; 0 is equal chance (default: 0.8).")
    ] = None,
    floor: Annotated[
        float | None,
        typer.Option(help="Floor as a fraction of the equal chance, in (0, 1] (default: 0.2)."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(help="risk_score, a judgement or an aim (default: risk_score)."),
    ] = None,
    method: Annotated[
        str | None, typer.Option(help="balanced or systematic (default: balanced).")
    ] = None,
    scores: Annotated[
        Path | None, typer.Option(help="Scores file (default: score with the champion).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Registered alias or version.")] = None,
    simulate_draws: Annotated[
        int | None, typer.Option("--simulate", help="Simulate R draws instead of drawing.")
    ] = None,
    engine: EngineOption = Engine.local,
    master: MasterOption = None,
    conf: ConfOption = None,
    inspection_id: Annotated[
        str | None,
        typer.Option(help="Inspection id (default: insp-YYYYMMDD- and a hash of the case ids)."),
    ] = None,
    inspection_date: Annotated[
        str | None, typer.Option(help="Inspection date YYYY-MM-DD (default: today).")
    ] = None,
    workbook: Annotated[
        Path | None,
        typer.Option(help="Also write an inspector workbook (.xlsx, drop-down judgements)."),
    ] = None,
    sealed: Annotated[
        bool,
        typer.Option(
            "--sealed",
            help="Keep the list in the sealed store (secret seed); write only the commitment "
            "and design (--out FILE.json). casework release writes the list later.",
        ),
    ] = False,
) -> None:
    """Draw a risk-weighted stratified sample with known inclusion probabilities."""
    request = _request(
        size=size,
        strata=_columns(strata),
        balance=_columns(balance),
        minimums=_minimums(minimum),
        soft_minimums=soft_minimum,
        officer_cap=officer_cap,
        risk_weight=risk_weight,
        floor=floor,
        target=target,
        method=method,
    )
    Options(sealed, inspection_id, inspection_date).check(seed)
    if engine is Engine.spark and simulate_draws is None:
        raise InputError(
            "Spark runs the draws of --simulate; a single draw runs here (leave out --engine)",
            source="options",
            column="--engine",
        )
    source, applies = _sources(scores, model)
    if simulate_draws is not None:
        chosen = get_settings().seed if seed is None else seed
        bar = step_bar("sample", len(SIMULATION_STEPS))
        with draw_engine(engine, master, conf) as runner, bar as step:
            result = simulate_request(
                frame_file,
                source,
                request,
                simulate_draws,
                chosen,
                budget_seconds=SIMULATION_SECONDS[engine],
                on_step=step,
                engine=runner,
                applies=applies,
            )
        _print_simulation(result.to_dict())
        return
    if seed is None and not sealed:
        seed = get_settings().seed
    options = Options(sealed, inspection_id, inspection_date, _files(out, workbook, sealed))
    with step_bar("sample", len(STEPS)) as step:
        drawn = draw(frame_file, source, request, seed, options, on_step=step)
    _print_design(drawn.design)
    _print_written(drawn, options)


def _print_written(drawn: Drawn, options: Options) -> None:
    """Where the sample went: the files written, or the sealed commitment and how to release it."""
    if drawn.commitment is not None:
        for path in options.files:
            console.print(f"wrote {path}")
        console.print(
            f"sealed sample of {len(drawn.judged)} cases; publish its commitment:\n"
            f"{drawn.commitment}"
        )
        console.print(
            f"release it after the inspection with: casework release {drawn.commitment} --out FILE"
        )
        return
    inspection = drawn.judged["inspection_id"].iloc[0]
    for path in options.files:
        console.print(f"wrote {path} ({len(drawn.judged)} cases, inspection {inspection})")


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
    _print_rating_accuracy(result)
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


def _print_rating_accuracy(result: dict) -> None:
    table = Table(title=f"Chance of the right rating at {result['size']} cases (model's shares)")
    for column in ("standard", "lowest key question", "predicted share", "rating"):
        table.add_column(column)
    table.add_column("P(right)", justify="right")
    table.add_column("size for 90%", justify="right")
    limit = result.get("rating_size_limit")
    for row in result.get("rating_accuracy", []):
        size = row["size_for_90"]
        table.add_row(
            f"{row['standard']} ({row['kind']})",
            row["lowest"],
            f"{row['predicted_share']:.1%}",
            row["rating"],
            f"{row['p_right']:.2f}",
            str(size) if size is not None else _not_reached(limit),
        )
    console.print(table)


def _not_reached(limit: int | None) -> str:
    return "not found (search cut short)" if limit is None else f"not within {limit} cases"
