"""``casework generate``: calibrated synthetic inspected cases and caseload frame."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from casework.app import command, console, step_bar
from features.errors import InputError
from features.readers import write_table
from features.settings import get_settings
from features.synthetic.calibration import calibration_report
from features.synthetic.generator import GENERATE_STEPS, generate


@command("generate")
def generate_command(
    cases: Annotated[int, typer.Option("--cases", help="Inspected cases to generate.")] = 50_000,
    frame_cases: Annotated[
        int, typer.Option("--frame-cases", help="Frame cases (those the next inspection may pick).")
    ] = 250_000,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: CASEWORK_SEED).")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default: data dir).")] = None,
    with_truth: Annotated[
        bool, typer.Option("--with-truth", help="Add p_true__<judgement> columns.")
    ] = False,
    report: Annotated[
        bool,
        typer.Option("--calibration-report", help="Print generated vs published figures."),
    ] = False,
    whole_caseloads: Annotated[
        bool,
        typer.Option("--whole-caseloads", help="Frame of whole caseloads, not the window."),
    ] = False,
    years: Annotated[
        float | None,
        typer.Option("--years", min=0.1, help="Years of inspections (default: 2016-01..2020-03)."),
    ] = None,
    officer_turnover: Annotated[
        float | None,
        typer.Option(
            "--officer-turnover",
            min=0.01,
            max=1.0,
            help="Share of officers leaving each year (default: the calibrated ~0.8).",
        ),
    ] = None,
) -> None:
    """Write OUT/inspected.parquet and OUT/frame.parquet (deterministic for a seed)."""
    settings = get_settings()
    if cases < 1 or frame_cases < 1:
        raise InputError("--cases and --frame-cases must be at least 1")
    out = out or settings.data_dir
    seed = settings.seed if seed is None else seed
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file where the folder should be, no permission...
        raise InputError(
            f"--out must be a folder ({exc.strerror or exc})", source=str(out)
        ) from None
    with step_bar("generating", GENERATE_STEPS + 1) as step:
        data = generate(
            cases,
            frame_cases,
            seed,
            with_truth=with_truth,
            whole_caseloads=whole_caseloads,
            years=years,
            turnover=officer_turnover,
            on_step=step,
        )
        step("writing")
        write_table(data.inspected, out / "inspected.parquet")
        write_table(data.frame, out / "frame.parquet")
    console.print(f"wrote {out / 'inspected.parquet'} ({len(data.inspected):,} inspected cases)")
    console.print(f"wrote {out / 'frame.parquet'} ({len(data.frame):,} frame cases)")
    if report:
        console.print(_report_table(calibration_report(data.inspected, data.frame)))


def _report_table(report: pd.DataFrame) -> Table:
    table = Table(title="Calibration: generated vs published (% of cases judged sufficient)")
    for column in ("figure", "source", "published", "generated", "tolerance", "ok"):
        table.add_column(column, justify="left" if column in ("figure", "source") else "right")
    for row in report.itertuples(index=False):
        ok = {True: "[green]yes[/]", False: "[red]NO[/]"}.get(row.ok, "-")
        tolerance = "-" if pd.isna(row.tolerance) else f"±{row.tolerance:g}"
        table.add_row(
            row.figure, row.source, f"{row.published:g}", f"{row.generated:g}", tolerance, ok
        )
    return table
