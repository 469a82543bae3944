"""``casework train`` and ``casework score``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from casework.app import command, console, errors, progress_bar, step_bar
from casework.bundles import champion
from casework.commands.spark_score import score_on_spark
from casework.engines import ConfOption, Engine, EngineOption, MasterOption
from casework.tables import frame_table
from features.contract import JUDGEMENTS
from features.readers import write_table
from features.settings import get_settings
from features.validation import load_table
from training.lifecycle.job import run_training
from training.lifecycle.registry import MODEL_NAME
from training.reporting.model_card import metrics_table
from training.tuning import TrialRecord


@command("train")
def train_command(
    data: Annotated[Path, typer.Option("--data", help="Inspected cases (CSV or Parquet).")],
    tune: Annotated[
        int | None,
        typer.Option(
            "--tune",
            min=1,
            metavar="N",
            help="First search N LightGBM configurations (Optuna, officer-grouped CV) and "
            "train with the best.",
        ),
    ] = None,
) -> None:
    """Train the 12 judgement models, log them to MLflow and register a model version."""
    settings = get_settings()
    cases = load_table(data, kind="inspected")
    progress = progress_bar("training")
    with progress:
        trials = None if tune is None else progress.add_task("tuning trials", total=tune)

        def on_trial(trial: TrialRecord) -> None:
            text = f"tuning trials (trial {trial.number}: CV log loss {trial.log_loss:.4f})"
            progress.update(trials, advance=1, description=text)

        task = progress.add_task("judgements", total=len(JUDGEMENTS))
        outcome = run_training(
            cases,
            str(data),
            settings,
            on_judgement=lambda j: progress.update(task, advance=1, description=j),
            tune_trials=tune,
            on_trial=on_trial,
        )
    result = outcome.result
    if outcome.tuning is not None:
        chosen = outcome.tuning.best
        shown = ", ".join(f"{k}={v:.4g}" for k, v in chosen.params.items())
        console.print(
            f"tuned over {len(outcome.tuning.trials)} trials: best is trial {chosen.number} "
            f"(CV log loss {chosen.log_loss:.4f}): {shown}"
        )
    split = result.split
    console.print(
        f"split: {split.mode} ({len(split.train):,} training cases, {split.kept_share:.0%} of "
        f"the training period; {len(split.test):,} test cases from {split.cutoff.date()})"
    )
    for judgement, reason in result.skipped.items():
        errors.print(f"warning: {judgement} skipped: {reason}")
    weighting = "design" if result.model.metadata.get("design_weighted") else "unweighted"
    console.print(
        frame_table(
            metrics_table(result, weighting),
            f"Test metrics ({weighting})",
            index="judgement",
            cell=lambda v: f"{v:.3f}",
        )
    )
    reg = outcome.registered
    console.print(
        f"MLflow run {reg.run_id}: {MODEL_NAME} version {reg.version} "
        f"(aliases: {', '.join(reg.aliases)})"
    )
    if outcome.exported:
        console.print(f"champion bundle exported to {outcome.exported}")
    console.print(f"MLflow UI: .venv/bin/mlflow ui --backend-store-uri {settings.mlflow_uri}")


@command("score")
def score_command(
    data: Annotated[
        str, typer.Option("--data", help="Caseload frame (CSV or Parquet; a URL with Spark).")
    ],
    out: Annotated[
        str, typer.Option("--out", help="Scores file (.csv or .parquet; a URL with Spark).")
    ],
    model: Annotated[
        str | None,
        typer.Option("--model", help="Registered alias or version (default: exported champion)."),
    ] = None,
    engine: EngineOption = Engine.local,
    master: MasterOption = None,
    conf: ConfOption = None,
) -> None:
    """Score every case: p_insufficient__<judgement> for the 12 judgements and risk_score."""
    if engine is Engine.spark:  # Parquet file, folder or glob in; a Parquet folder out
        return score_on_spark(data, out, model, master, conf)
    settings = get_settings()
    data, out = Path(data), Path(out)
    frame = load_table(data, kind="frame")
    with step_bar(f"scoring {len(frame):,} cases", 1 + len(JUDGEMENTS)) as step:
        step("loading the model")
        scores = champion(settings, model).predict(frame, on_judgement=step)
    write_table(scores, out)
    console.print(f"wrote {out} ({len(scores):,} cases scored)")
