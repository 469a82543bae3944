"""The report's metric tables: the training run's test metrics and the champion on this file."""

from __future__ import annotations

from tempfile import TemporaryDirectory

import mlflow
import numpy as np
import pandas as pd

from features.contract import INSUFFICIENT, JUDGEMENTS, has_verdict, score_column
from features.settings import Settings
from training.bootstrap_metrics import METRICS as RANKING_METRICS
from training.bootstrap_metrics import metrics_with_intervals
from training.lifecycle.registry import MODEL_NAME, connect
from training.metrics import reliability_curve
from training.reporting.explain import judgement_phrase
from training.reporting.report_tables import interval
from training.trainer import design_weights

METRIC_NAMES = {
    "auc": "AUC",
    "pr_auc": "PR-AUC",
    "brier": "Brier",
    "ece": "ECE",
    "precision_at_10": "precision@10%",
    "precision_at_20": "precision@20%",
    "lift_at_10": "lift@10%",
    "lift_at_20": "lift@20%",
}
MODEL_NAMES = {"lightgbm": "LightGBM", "logistic": "logistic", "prevalence": "prevalence"}


def training_metrics(settings: Settings, version: str | None) -> pd.DataFrame | None:
    """The test metrics (champion and baselines) its training run logged, per judgement."""
    if version is None:
        return None
    client = connect(settings)
    try:
        run_id = client.get_model_version(MODEL_NAME, str(version)).run_id
        with TemporaryDirectory() as tmp:
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path="metrics.csv", dst_path=tmp
            )
            metrics = pd.read_csv(path)
    except (mlflow.exceptions.MlflowException, OSError):
        return None
    return metrics_wide(metrics)


def metrics_wide(metrics: pd.DataFrame) -> pd.DataFrame:
    """A training run's long metrics table as one row per judgement, metric × model columns."""
    weighting = "design" if (metrics["weighting"] == "design").any() else "unweighted"
    metrics = metrics[metrics["weighting"] == weighting]
    shown = [m for m in RANKING_METRICS if m in metrics.columns]
    wide = metrics.pivot_table(index="judgement", columns="model", values=shown, sort=False)
    present = set(wide.columns.get_level_values(1))
    wide = wide[
        [
            (metric, m)
            for metric in shown
            for m in MODEL_NAMES
            if m in present and (m != "prevalence" or metric in ("auc", "brier"))
        ]
    ]
    wide.columns = [f"{METRIC_NAMES[metric]} {MODEL_NAMES[m]}" for metric, m in wide.columns]
    return wide.reindex([j for j in JUDGEMENTS if j in wide.index])


def logistic_margins(metrics: pd.DataFrame) -> list[str]:
    """One plain sentence per judgement: LightGBM's test AUC against logistic regression's."""
    if not {"AUC LightGBM", "AUC logistic"} <= set(metrics.columns):
        return []
    sentences = []
    for judgement, row in metrics.iterrows():
        lgbm, logit = row["AUC LightGBM"], row["AUC logistic"]
        margin = lgbm - logit
        if abs(margin) < 0.0005:
            verdict = "the same AUC as logistic regression"
        else:
            side = "more" if margin > 0 else "less"
            verdict = f"{abs(margin):.3f} {side} AUC than logistic regression"
        sentences.append(
            f"{judgement_phrase(str(judgement)).capitalize()}: LightGBM has {verdict} "
            f"({lgbm:.3f} against {logit:.3f})."
        )
    return sentences


def applicable(
    cases: pd.DataFrame, scores: pd.DataFrame, judgement: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, scores and the row mask of the cases judged sufficient or insufficient."""
    values = cases[judgement].astype(str).to_numpy()
    keep = has_verdict(values)
    p = scores[score_column(judgement)].to_numpy()[keep]
    return (values[keep] == INSUFFICIENT).astype(float), p, keep


def held_out_metrics(cases: pd.DataFrame, scores: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Per judgement: cases, prevalence and every metric with its officer-bootstrap interval."""
    weight = design_weights(cases)
    officers = cases["officer_id"].astype(str).to_numpy()
    rows = {}
    for judgement in JUDGEMENTS:
        y, p, keep = applicable(cases, scores, judgement)
        if len(np.unique(y)) < 2 or np.isnan(p).any():
            continue
        w = None if weight is None else weight[keep]
        found = metrics_with_intervals(y, p, officers[keep], w, seed=seed)
        row = {"cases": f"{len(y):,}", "prevalence": f"{np.average(y, weights=w):.3f}"}
        for metric, (value, low, high) in found.iterrows():
            row[METRIC_NAMES[metric]] = interval(value, low, high)
        rows[judgement] = row
    return pd.DataFrame(rows).T


def reliability_curves(cases: pd.DataFrame, scores: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Reliability curve of each judgement scored on its judged cases."""
    curves = {}
    for judgement in JUDGEMENTS:
        y, p, _ = applicable(cases, scores, judgement)
        if len(y) and not np.isnan(p).any():
            curves[judgement] = reliability_curve(y, p)
    return curves
