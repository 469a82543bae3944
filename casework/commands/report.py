"""``casework report``: the researchers' self-contained HTML report, also logged to MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from casework.app import command, console, step_bar
from casework.bundles import champion
from features.readers import write_text
from features.settings import get_settings
from features.validation import load_judged, load_table
from serving.estimates_report import judged_section
from training.reporting.report import REPORT_STEPS, build_report, log_report
from training.reporting.report_metrics import training_metrics


@command("report")
def report_command(
    data: Annotated[Path, typer.Option("--data", help="Inspected cases (CSV or Parquet).")],
    out: Annotated[Path, typer.Option("--out", help="HTML file to write, e.g. report.html.")],
    judged: Annotated[
        list[Path] | None,
        typer.Option("--judged", help="Judged samples: adds a 'Judged samples' section."),
    ] = None,
    more_judged: Annotated[
        list[Path] | None, typer.Argument(help="More judged samples: `--judged A.csv B.csv`.")
    ] = None,
) -> None:
    """Data, metrics, calibration, SHAP, fairness and replication of the champion: one page."""
    settings = get_settings()
    cases = load_table(data, kind="inspected")
    model = champion(settings)
    version = model.metadata.get("version")
    files = [*(judged or []), *(more_judged or [])]
    samples = [load_judged(path) for path in files]
    extra = [judged_section(samples, [str(path) for path in files])] if files else []
    with step_bar("report", REPORT_STEPS) as step:
        report = build_report(
            model,
            cases,
            str(data),
            training_metrics(settings, version),
            on_step=step,
            extra_sections=extra,
        )
    write_text(report.html, out)
    run_id = log_report(report, settings, version, str(data))
    flagged = report.fairness.disparities
    flagged = flagged[flagged["flagged"]]
    replicated = int((report.replication["replicates"] == "yes").sum())
    console.print(f"findings replicated: {replicated} of {len(report.replication)}")
    console.print(
        "fairness ratios below 0.8: "
        + (", ".join(f"{r.characteristic} {r.metric}" for r in flagged.itertuples()) or "none")
    )
    if report.truth is not None:
        lab = report.truth
        console.print(
            f"truth lab: largest AUC gap to the Bayes-optimal score "
            f"{lab.bayes['auc_gap'].max():.4f}; protected characteristics' direct effect "
            f"interval holds 0 for {lab.no_direct_effect()} of {len(lab.protected)} groups"
        )
    if report.caseload_turn is not None:
        console.print(f"caseload effect turns at about {report.caseload_turn:.0f} cases")
    console.print(f"MLflow run {run_id} (artifact report.html)")
    console.print(f"wrote {out}")
