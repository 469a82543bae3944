"""The researchers' report: one self-contained HTML file, also logged to MLflow.

Sections: data summary, model version, metrics against baselines, reliability curves, importance
heat map, SHAP summary and dependence plots, fairness audit, replication table. Figures are
embedded as base64 PNG and the page loads nothing else, so it opens offline. Model quality is
measured on the cases of the file the champion was not trained on (its ``trained_case_ids``);
explanations, importance and replication use every case of the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

import jinja2
import mlflow
import numpy as np
import pandas as pd

from features.contract import INSUFFICIENT, JUDGEMENTS, NOT_APPLICABLE, score_column
from features.settings import Settings
from training import report_plots as plots
from training.bundle import CaseworkModel
from training.explain import Contributions, explain_matrix
from training.fairness import METRIC_LABELS, METRICS, FairnessAudit, audit_fairness
from training.metrics import evaluate, reliability_curve
from training.replication import replication_table
from training.report_template import TEMPLATE
from training.tracking import MODEL_NAME, connect

PLOT_CASES = 3000
TURN_BIN = 5
TURN_MIN_CASES = 20
TURN_RISE = 0.1
SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "Data summary"),
    ("model", "Model version"),
    ("metrics", "Metrics against baselines"),
    ("reliability", "Reliability curves"),
    ("importance", "Importance by judgement"),
    ("shap-summary", "SHAP summary"),
    ("dependence", "Dependence plots"),
    ("fairness", "Fairness audit"),
    ("replication", "Replication of published findings"),
)
"""Section ids and headings, in page order (the browser test checks each one)."""


@dataclass(frozen=True)
class Report:
    """The rendered page and the tables it shows."""

    html: str
    importance: pd.DataFrame
    fairness: FairnessAudit
    replication: pd.DataFrame
    caseload_turn: float | None


def build_report(
    model: CaseworkModel,
    cases: pd.DataFrame,
    source: str,
    training_metrics: pd.DataFrame | None = None,
    seed: int = 0,
) -> Report:
    """The report on the inspected ``cases`` (from ``source``) for the champion ``model``.

    ``training_metrics`` is the training run's test-set table (``metrics.csv`` in MLflow: every
    model and baseline); without it the section shows the champion on this file only.
    """
    cases = cases.reset_index(drop=True)
    trained = np.isin(cases["case_id"].to_numpy(), model.trained_case_ids)
    held_out = cases[~trained] if (~trained).any() else cases
    scores = model.predict(held_out)
    X = model.matrix(cases)
    shap = explain_matrix(model, X)
    features = list(X.columns)
    importance = _importance(shap, features)
    fairness = audit_fairness(held_out, scores, seed=seed)
    replication = replication_table(cases, shap, features, seed=seed)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(cases), min(PLOT_CASES, len(cases)), replace=False))
    turn = caseload_turn(shap, X)
    strongest = importance.loc[importance.groupby("feature")["mean_abs_shap"].idxmax()]
    judgement_of = dict(zip(strongest["feature"], strongest["judgement"], strict=True))
    held_note = (
        f"{len(held_out):,} cases the champion was not trained on"
        if (~trained).any()
        else f"all {len(cases):,} cases (the champion was trained on every one: in-sample)"
    )
    context = {
        "title": f"casework report: {Path(source).name}",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": source,
        "sections": SECTIONS,
        "summary": _table(_summary(cases, held_out)),
        "judged": _table(_judged(cases)),
        "model": _table(_model_facts(model)),
        "training_metrics": None if training_metrics is None else _table(training_metrics),
        "held_note": held_note,
        "held_metrics": _table(_held_out_metrics(held_out, scores)),
        "plots": {
            "reliability": plots.reliability(_curves(held_out, scores)),
            "importance": plots.importance_heatmap(importance),
            "shap-summary": plots.beeswarms(shap, X, rows),
            "dependence": plots.dependence(shap, X, rows, judgement_of, turn),
        },
        "turn": turn,
        "fairness_groups": _table(_fairness_groups(fairness)),
        "fairness_disparities": _flagged(_disparities(fairness)),
        "replication": _table(_replication(replication)),
    }
    page = jinja2.Environment(autoescape=True).from_string(TEMPLATE).render(**context)
    return Report(page, importance, fairness, replication, turn)


def caseload_turn(shap: dict[str, Contributions], X: pd.DataFrame) -> float | None:
    """Where the caseload effect turns: the lowest caseload above which the model's caseload
    contribution (log-odds, averaged over the judgements, in 5-case bins of at least 20 cases)
    stays more than 0.1 above its lowest level."""
    column = list(X.columns).index("officer_caseload")
    mean = np.mean([c.log_odds[:, column] for c in shap.values()], axis=0)
    bins = (X["officer_caseload"].to_numpy() // TURN_BIN) * TURN_BIN
    by_bin = pd.DataFrame({"bin": bins, "shap": mean}).groupby("bin")["shap"].agg(["mean", "size"])
    curve = by_bin.loc[by_bin["size"] >= TURN_MIN_CASES, "mean"]
    if curve.empty:
        return None
    below = curve.index[curve <= curve.min() + TURN_RISE]
    above = curve.index[curve.index > below.max()]
    return float(above.min()) if len(above) else None


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
    weighting = "design" if (metrics["weighting"] == "design").any() else "unweighted"
    metrics = metrics[metrics["weighting"] == weighting]
    wide = metrics.pivot_table(
        index="judgement", columns="model", values=["auc", "ece", "lift_at_20"], sort=False
    )
    wide.columns = [f"{metric} {model}" for metric, model in wide.columns]
    return wide.reindex([j for j in JUDGEMENTS if j in wide.index]).round(4)


def log_report(report: Report, settings: Settings, version: str | None, source: str) -> str:
    """Log the page and its headline figures as an MLflow run; return the run id."""
    connect(settings)
    with mlflow.start_run(run_name=f"report v{version or '-'}") as run:
        mlflow.set_tags({"kind": "report", "model_version": str(version), "source": source})
        mlflow.log_text(report.html, "report.html")
        mlflow.log_metric("fairness_flags", int(report.fairness.disparities["flagged"].sum()))
        mlflow.log_metric(
            "findings_replicated", int((report.replication["replicates"] == "yes").sum())
        )
        if report.caseload_turn is not None:
            mlflow.log_metric("caseload_turn", report.caseload_turn)
    return run.info.run_id


def _importance(shap: dict[str, Contributions], features: list[str]) -> pd.DataFrame:
    rows = [
        {"judgement": judgement, "feature": feature, "mean_abs_shap": value}
        for judgement, c in shap.items()
        for feature, value in zip(features, np.abs(c.log_odds).mean(axis=0), strict=True)
    ]
    return pd.DataFrame(rows)


def _summary(cases: pd.DataFrame, held_out: pd.DataFrame) -> pd.DataFrame:
    dates = pd.to_datetime(cases["inspection_date"])
    facts = {
        "cases": f"{len(cases):,}",
        "inspections": f"{cases['inspection_id'].nunique():,}",
        "officers": f"{cases['officer_id'].nunique():,}",
        "offices": f"{cases['office'].nunique():,}",
        "inspection dates": f"{dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d}",
        "CRC share": f"{(cases['provider_type'].astype(str) == 'CRC').mean():.1%}",
        "mean officer caseload": f"{cases['officer_caseload'].mean():.1f}",
        "cases not trained on (quality measured on these)": f"{len(held_out):,}",
        "design-weighted": "yes" if "inclusion_probability" in cases else "no",
    }
    return pd.DataFrame({"value": facts})


def _judged(cases: pd.DataFrame) -> pd.DataFrame:
    values = cases[list(JUDGEMENTS)].astype(str)
    applicable = values != NOT_APPLICABLE
    return pd.DataFrame(
        {
            "applicable cases": applicable.sum(),
            "share insufficient": ((values == INSUFFICIENT).sum() / applicable.sum()).round(3),
        }
    )


def _model_facts(model: CaseworkModel) -> pd.DataFrame:
    meta = model.metadata
    trained_on = meta.get("trained_on", {})
    facts = {
        "registered model": MODEL_NAME,
        "version": meta.get("version", "-"),
        "aliases": ", ".join(meta.get("aliases", [])) or "-",
        "created": meta.get("created", "-"),
        "trained on (rows)": trained_on.get("rows", "-"),
        "trained on (dates)": "{} to {}".format(
            trained_on.get("date_min", "-"), trained_on.get("date_max", "-")
        ),
        "data sha256": str(trained_on.get("sha256", "-"))[:16],
        "test period from": meta.get("test_cutoff", "-"),
        "judgements skipped": ", ".join(model.skipped) or "none",
    }
    return pd.DataFrame({"value": facts})


def _applicable(cases: pd.DataFrame, scores: pd.DataFrame, judgement: str):
    values = cases[judgement].astype(str).to_numpy()
    keep = values != NOT_APPLICABLE
    return (values[keep] == INSUFFICIENT).astype(float), scores[score_column(judgement)].to_numpy()[
        keep
    ]


def _held_out_metrics(cases: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    rows = {}
    for judgement in JUDGEMENTS:
        y, p = _applicable(cases, scores, judgement)
        if len(np.unique(y)) == 2 and not np.isnan(p).any():
            found = evaluate(y, p)
            rows[judgement] = {
                k: found[k] for k in ("n", "prevalence", "auc", "brier", "ece", "lift_at_20")
            }
    return pd.DataFrame(rows).T.round(4)


def _curves(cases: pd.DataFrame, scores: pd.DataFrame) -> dict[str, pd.DataFrame]:
    curves = {}
    for judgement in JUDGEMENTS:
        y, p = _applicable(cases, scores, judgement)
        if len(y) and not np.isnan(p).any():
            curves[judgement] = reliability_curve(y, p)
    return curves


def _interval(value: float, low: float, high: float) -> str:
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _fairness_groups(audit: FairnessAudit) -> pd.DataFrame:
    table = audit.groups[["characteristic", "group", "n"]].copy()
    for metric in METRICS:
        table[METRIC_LABELS[metric]] = [
            _interval(*values)
            for values in audit.groups[[metric, f"{metric}_low", f"{metric}_high"]].to_numpy()
        ]
    return table.set_index(["characteristic", "group"])


def _disparities(audit: FairnessAudit) -> pd.DataFrame:
    d = audit.disparities
    return pd.DataFrame(
        {
            "characteristic": d["characteristic"],
            "metric": d["metric"].map(METRIC_LABELS),
            "ratio (lowest / highest) [95% CI]": [
                _interval(*v) for v in d[["ratio", "ratio_low", "ratio_high"]].to_numpy()
            ],
            "lowest group": d["lowest"],
            "highest group": d["highest"],
            "flagged (< 0.8)": np.where(d["flagged"], "FLAGGED", ""),
        }
    )


def _replication(table: pd.DataFrame) -> pd.DataFrame:
    def count(value: object) -> str:
        return "" if value is None or pd.isna(value) else f"{int(value)} of 12"

    return pd.DataFrame(
        {
            "finding": table["finding"],
            "published": table["published"] + " (" + table["source"] + ")",
            "observed difference, points [95% CI]": [
                f"{v:+.1f} [{lo:+.1f}, {hi:+.1f}]"
                for v, lo, hi in table[["observed", "observed_low", "observed_high"]].to_numpy()
            ],
            "model effect (avg SHAP difference), points": table["model"].map("{:+.1f}".format),
            "judgements worse: data / model": [
                f"{count(a)} / {count(b)}" if count(a) else ""
                for a, b in table[
                    ["judgements_worse_observed", "judgements_worse_model"]
                ].to_numpy()
            ],
            "replicates": table["replicates"],
        }
    ).set_index("finding")


def _table(frame: pd.DataFrame) -> str:
    """A DataFrame as an HTML table (escaped), floats with four significant figures."""
    return frame.to_html(border=0, classes="table", float_format=lambda v: f"{v:.4g}", na_rep="-")


def _flagged(frame: pd.DataFrame) -> str:
    """The disparity table with flagged rows highlighted."""
    styled = frame.style.apply(
        lambda row: ["background:#fdd" if row.iloc[-1] else "" for _ in row], axis=1
    ).hide(axis="index")
    return styled.set_table_attributes('class="table"').to_html()
