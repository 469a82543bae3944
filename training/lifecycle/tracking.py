"""MLflow tracking: a parent run per training, a nested run per judgement, a registered version.

Each training registers a new version of the pyfunc model (``training.lifecycle.registry``).

Logging never moves an alias: ``training.lifecycle.promotion`` names the new version.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
import pandas as pd
from mlflow.models import infer_signature

from features.contract import FRAME_COLUMNS, JUDGEMENTS
from features.settings import Settings
from training.lifecycle.registry import MODEL_NAME, RegisteredRun, connect
from training.pyfunc import BUNDLE_ARTIFACT, CaseworkPyfunc
from training.reporting.model_card import render_model_card
from training.trainer import TrainingResult, data_fingerprint

if TYPE_CHECKING:
    from training.tuning import TrialRecord, TuningResult

PIP_REQUIREMENTS = ["casework", "lightgbm", "scikit-learn", "pandas", "numpy"]


def log_training(
    result: TrainingResult,
    cases: pd.DataFrame,
    source: str,
    settings: Settings,
    params: dict[str, object],
    card: dict,
    run_id: str | None = None,
) -> RegisteredRun:
    """Log a training (parent + nested runs) and register its model as a new version.

    ``run_id`` resumes a parent run opened earlier with ``training_run`` (``--tune``).
    """
    connect(settings)
    bundle = result.model
    trained_on = bundle.metadata["trained_on"]
    metrics = result.metrics
    name = None if run_id else _run_name(trained_on)
    with mlflow.start_run(run_id=run_id, run_name=name) as parent:
        mlflow.log_params(
            {
                **params,
                "judgements_skipped": len(result.skipped),
                "split": result.split.mode,
                "split_kept_share": round(result.split.kept_share, 4),
                "split_test_rows": len(result.split.test),
            }
        )
        mlflow.set_tags({f"data.{k}": v for k, v in trained_on.items()})
        dataset = mlflow.data.from_pandas(
            cases, source=source, name="inspected_cases", digest=str(trained_on["sha256"])[:32]
        )
        mlflow.log_input(dataset, context="training")
        for row in metrics.itertuples(index=False):
            if row.model == "lightgbm":
                for metric in ("auc", "ece", "brier", "pr_auc", "precision_at_20"):
                    mlflow.log_metric(
                        f"{metric}__{row.judgement}__{row.weighting}", getattr(row, metric)
                    )
        for judgement in JUDGEMENTS:
            with mlflow.start_run(run_name=judgement, nested=True):
                _log_judgement(result, judgement)
        with tempfile.TemporaryDirectory() as tmp:
            metrics_file = Path(tmp) / "metrics.csv"
            metrics.to_csv(metrics_file, index=False)
            mlflow.log_artifact(str(metrics_file))
            for name, text in render_model_card(card).items():
                mlflow.log_text(text, name)
            bundle_dir = bundle.save(Path(tmp) / "bundle")
            example = cases.loc[:, list(FRAME_COLUMNS)].head(5)
            example = example.astype(
                {c: str for c in example.select_dtypes("category")}
                | {c: float for c in example.select_dtypes("integer")}
            )
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=CaseworkPyfunc(),
                artifacts={BUNDLE_ARTIFACT: str(bundle_dir)},
                signature=infer_signature(example, bundle.predict(example)),
                input_example=example,
                registered_model_name=MODEL_NAME,
                pip_requirements=PIP_REQUIREMENTS,
            )
    return RegisteredRun(parent.info.run_id, str(info.registered_model_version))


@contextmanager
def training_run(cases: pd.DataFrame, settings: Settings) -> Iterator[str]:
    """Open a training's parent run ahead of training, so tuning trials nest under it live.

    Yields the run id for ``log_training``; an exception inside marks the run failed.
    """
    connect(settings)
    with mlflow.start_run(run_name=_run_name(data_fingerprint(cases))) as parent:
        yield parent.info.run_id


def log_trial(trial: TrialRecord) -> None:
    """One tuning trial as a nested run of the active parent: its parameters and CV losses."""
    with mlflow.start_run(run_name=f"trial {trial.number}", nested=True):
        mlflow.set_tags({"kind": "tuning_trial", "trial": trial.number})
        mlflow.log_params(trial.params)
        mlflow.log_metrics(
            {
                "cv_log_loss": trial.log_loss,
                "seconds": trial.seconds,
                **{f"cv_log_loss__{j}": v for j, v in trial.per_judgement.items()},
                **{f"rounds__{j}": v for j, v in trial.rounds.items()},
            }
        )


def log_tuning(tuning: TuningResult, objective: str) -> None:
    """The search's outcome on the active parent run: trial count and the best parameters."""
    best = tuning.best
    mlflow.log_params(
        {
            "tune.trials": len(tuning.trials),
            "tune.objective": objective,
            "tune.best_trial": best.number,
            **{f"tune.best.{name}": value for name, value in best.params.items()},
        }
    )
    mlflow.log_metric("tune.best_cv_log_loss", best.log_loss)


def _run_name(trained_on: dict[str, object]) -> str:
    return f"train {trained_on['date_max']}"


def _log_judgement(result: TrainingResult, judgement: str) -> None:
    if judgement in result.skipped:
        mlflow.set_tags({"status": "skipped", "reason": result.skipped[judgement]})
        return
    model = result.model.models[judgement]
    mlflow.set_tag("status", "trained")
    mlflow.log_params(
        {"n_rounds": model.n_rounds_, "calibration": model.calibration_, **model.get_params()}
    )
    rows = result.metrics[result.metrics["judgement"] == judgement]
    for row in rows.itertuples(index=False):
        for metric in (
            "n",
            "prevalence",
            "auc",
            "pr_auc",
            "brier",
            "ece",
            "precision_at_10",
            "precision_at_20",
            "lift_at_10",
            "lift_at_20",
        ):
            mlflow.log_metric(f"{row.model}.{row.weighting}.{metric}", getattr(row, metric))
