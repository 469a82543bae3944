"""The researchers' report: one self-contained HTML file, also logged to MLflow.

Sections: data summary, model version, metrics against baselines (with officer-bootstrap
intervals), the truth lab (data with ``p_true__*`` only), reliability curves, importance heat
map, SHAP summary, an interactive dependence plot and per-case waterfall, fairness audit with
charts and the SHAP attribution of flagged gaps, replication table. Figures are embedded as base64
PNG or inline SVG, the interactive ones drawn by an inline script from embedded data; the page
loads nothing else, so it opens offline. Model quality is measured on the cases of the file the
champion was not trained on (its ``trained_case_ids``); explanations, importance and replication
use every case of the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

import jinja2
import mlflow
import numpy as np
import pandas as pd

from features.contract import INSUFFICIENT, JUDGEMENTS, score_column
from features.settings import Settings
from training.bootstrap_metrics import METRICS as RANKING_METRICS
from training.bootstrap_metrics import metrics_with_intervals
from training.bundle import CaseworkModel
from training.lifecycle.tracking import MODEL_NAME, connect
from training.metrics import reliability_curve
from training.reporting import report_plots as plots
from training.reporting.explain import Contributions, explain_matrix, judgement_phrase
from training.reporting.fairness import (
    INTERSECTION,
    METRIC_LABELS,
    METRICS,
    FairnessAudit,
    audit_fairness,
    characteristics,
)
from training.reporting.replication import replication_table
from training.reporting.report_interactive import INTERACTIVE_CASES, SCRIPT, interactive_data
from training.reporting.report_template import TEMPLATE
from training.reporting.truth_lab import TruthLab, has_truth, rows_of, truth_lab
from training.trainer import design_weights
from training.trainer import judged as has_verdict

PLOT_CASES = 3000
TURN_BIN = 5
TURN_MIN_CASES = 20
TURN_RISE = 0.1
SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "Data summary"),
    ("model", "Model version"),
    ("metrics", "Metrics against baselines"),
    ("truth", "Truth lab"),
    ("reliability", "Reliability curves"),
    ("importance", "Importance by judgement"),
    ("shap-summary", "SHAP summary"),
    ("dependence", "Dependence plots"),
    ("waterfall", "Per-case waterfall"),
    ("fairness", "Fairness audit"),
    ("replication", "Replication of published findings"),
)
"""Section ids and headings, in page order (the browser test checks each one); the truth lab
appears only when the data carries the generator's ``p_true__*``."""
REPORT_STEPS = 7
"""How many times ``build_report`` calls ``on_step`` (for a progress bar)."""
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


@dataclass(frozen=True)
class Report:
    """The rendered page and the tables it shows."""

    html: str
    importance: pd.DataFrame
    fairness: FairnessAudit
    replication: pd.DataFrame
    caseload_turn: float | None
    truth: TruthLab | None
    sections: tuple[tuple[str, str], ...]


def build_report(
    model: CaseworkModel,
    cases: pd.DataFrame,
    source: str,
    training_metrics: pd.DataFrame | None = None,
    seed: int = 0,
    on_step: Callable[[str], None] = lambda step: None,
) -> Report:
    """The report on the inspected ``cases`` (from ``source``) for the champion ``model``.

    ``training_metrics`` is the training run's test-set table (``metrics.csv`` in MLflow: every
    model and baseline); without it the section shows the champion on this file only.
    ``on_step`` is called with the name of each of the ``REPORT_STEPS`` steps as it starts.
    """
    cases = cases.reset_index(drop=True)
    trained = cases["case_id"].isin(pd.Index(model.trained_case_ids)).to_numpy()
    held_rows = ~trained if (~trained).any() else np.ones(len(cases), dtype=bool)
    held_out = cases[held_rows].reset_index(drop=True)
    on_step("scoring")
    scores = model.predict(held_out)
    on_step("SHAP for every case")
    X = model.matrix(cases)
    shap = explain_matrix(model, X)
    features = list(X.columns)
    importance = _importance(shap, features)
    on_step("fairness audit")
    fairness = audit_fairness(held_out, scores, seed=seed)
    on_step("replication")
    replication = replication_table(cases, shap, features, seed=seed)
    on_step("truth lab")
    held_shap = rows_of(shap, held_rows)
    lab = (
        truth_lab(held_out, scores, held_shap, features, seed=seed) if has_truth(held_out) else None
    )
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(cases), min(PLOT_CASES, len(cases)), replace=False))
    picked = rows[np.sort(rng.choice(len(rows), min(INTERACTIVE_CASES, len(rows)), replace=False))]
    turn = caseload_turn(shap, X)
    held_note = (
        f"{len(held_out):,} cases the champion was not trained on"
        if (~trained).any()
        else f"all {len(cases):,} cases (the champion was trained on every one: in-sample)"
    )
    sections = tuple(s for s in SECTIONS if s[0] != "truth" or lab is not None)
    on_step("metrics with intervals, figures")
    context = {
        "title": f"casework report: {Path(source).name}",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": source,
        "sections": sections,
        "summary": _table(_summary(cases, held_out)),
        "judged": _table(_judged(cases)),
        "model": _table(_model_facts(model)),
        "training_metrics": None if training_metrics is None else _table(training_metrics),
        "margins": [] if training_metrics is None else logistic_margins(training_metrics),
        "held_note": held_note,
        "held_metrics": _table(_held_out_metrics(held_out, scores, seed)),
        "truth": None if lab is None else _truth_context(lab),
        "plots": {
            "reliability": plots.reliability(_curves(held_out, scores)),
            "importance": plots.importance_heatmap(importance),
            "shap-summary": plots.beeswarms(shap, X, rows),
        },
        "interactive_cases": f"{len(picked):,}",
        "interactive_data": interactive_data(shap, X, cases, picked, turn),
        "interactive_script": SCRIPT,
        "turn": turn,
        "fairness_groups": _table(_fairness_groups(fairness)),
        "fairness_disparities": _flagged(_disparities(fairness)),
        "fairness_charts": _fairness_charts(fairness),
        "fairness_attribution": _table(_gap_attribution(fairness, held_out, held_shap, features)),
        "replication": _table(_replication(replication)),
    }
    on_step("page")
    page = jinja2.Environment(autoescape=True).from_string(TEMPLATE).render(**context)
    return Report(page, importance, fairness, replication, turn, lab, sections)


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
    applicable = values.apply(has_verdict)
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
    """Labels, scores and the row mask of the cases judged sufficient or insufficient."""
    values = cases[judgement].astype(str).to_numpy()
    keep = has_verdict(values)
    p = scores[score_column(judgement)].to_numpy()[keep]
    return (values[keep] == INSUFFICIENT).astype(float), p, keep


def _held_out_metrics(cases: pd.DataFrame, scores: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Per judgement: cases, prevalence and every metric with its officer-bootstrap interval."""
    weight = design_weights(cases)
    officers = cases["officer_id"].astype(str).to_numpy()
    rows = {}
    for judgement in JUDGEMENTS:
        y, p, keep = _applicable(cases, scores, judgement)
        if len(np.unique(y)) < 2 or np.isnan(p).any():
            continue
        w = None if weight is None else weight[keep]
        found = metrics_with_intervals(y, p, officers[keep], w, seed=seed)
        row = {"cases": f"{len(y):,}", "prevalence": f"{np.average(y, weights=w):.3f}"}
        for metric, (value, low, high) in found.iterrows():
            row[METRIC_NAMES[metric]] = _interval(value, low, high)
        rows[judgement] = row
    return pd.DataFrame(rows).T


def _curves(cases: pd.DataFrame, scores: pd.DataFrame) -> dict[str, pd.DataFrame]:
    curves = {}
    for judgement in JUDGEMENTS:
        y, p, _ = _applicable(cases, scores, judgement)
        if len(y) and not np.isnan(p).any():
            curves[judgement] = reliability_curve(y, p)
    return curves


def _truth_context(lab: TruthLab) -> dict[str, object]:
    """The truth lab's tables and headline counts for the template."""
    bayes = lab.bayes.set_index("judgement")[
        ["n", "auc_model", "auc_bayes", "auc_gap", "log_loss_model", "log_loss_bayes"]
    ]
    bayes["n"] = bayes["n"].map("{:,}".format)
    bayes.columns = [
        "cases",
        "AUC model",
        "AUC Bayes (p_true)",
        "AUC gap",
        "log loss model",
        "log loss Bayes",
    ]
    top = lab.drivers[lab.drivers["true_rank"] <= 3]
    top = top.iloc[np.lexsort((top["true_rank"], top["judgement"].map(JUDGEMENTS.index)))]
    inside = (top["low"] <= top["true"]) & (top["true"] <= top["high"])
    drivers = pd.DataFrame(
        {
            "judgement": top["judgement"],
            "true rank": top["true_rank"],
            "driver": top["driver"],
            "contrast": top["contrast"],
            "recovered (avg SHAP difference), points [95% CI]": [
                f"{v:+.1f} [{lo:+.1f}, {hi:+.1f}]"
                for v, lo, hi in top[["recovered", "low", "high"]].to_numpy()
            ],
            "true effect, points": top["true"].map("{:+.1f}".format),
            "true inside interval": np.where(inside, "yes", "no"),
        }
    ).set_index(["judgement", "true rank"])
    protected = lab.protected
    proxies = [
        ", ".join(f"{name} {value:+.1f}" for name, value in series.head(3).items())
        for series in protected["proxies"]
    ]
    known = pd.DataFrame(
        {
            "characteristic": protected["characteristic"],
            "group vs reference": protected["group"] + " vs " + protected["reference"],
            "cases": protected["n"].map("{:,}".format),
            "observed gap": protected["observed"].map("{:+.1f}".format),
            "true gap (p_true)": protected["true"].map("{:+.1f}".format),
            "predicted gap": protected["predicted"].map("{:+.1f}".format),
            "carried by (SHAP, points)": proxies,
            "direct effect (observed - predicted) [95% CI]; truth 0": [
                f"{v:+.1f} [{lo:+.1f}, {hi:+.1f}]"
                for v, lo, hi in protected[["direct", "direct_low", "direct_high"]].to_numpy()
            ],
        }
    ).set_index(["characteristic", "group vs reference"])
    return {
        "max_auc_gap": float(lab.bayes["auc_gap"].max()),
        "judgements": len(lab.bayes),
        "recovered": int(lab.recovered().sum()),
        "drivers_inside": int(inside.sum()),
        "drivers_shown": len(top),
        "zero_inside": lab.no_direct_effect(),
        "groups": len(protected),
        "bayes": _table(bayes),
        "drivers": _table(drivers),
        "protected": _table(known),
    }


def _interval(value: float, low: float, high: float) -> str:
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _fairness_groups(audit: FairnessAudit) -> pd.DataFrame:
    table = audit.groups[["characteristic", "group"]].copy()
    table["n"] = [
        f"{n:,}{' (small)' if small else ''}"
        for n, small in audit.groups[["n", "small"]].to_numpy()
    ]
    for metric in METRICS:
        table[METRIC_LABELS[metric]] = [
            _interval(*values)
            for values in audit.groups[[metric, f"{metric}_low", f"{metric}_high"]].to_numpy()
        ]
    return table.set_index(["characteristic", "group"])


def _fairness_charts(audit: FairnessAudit) -> list[str]:
    """One interval chart per metric, a row per group; groups in a flagged disparity in red."""
    flagged = audit.disparities[audit.disparities["flagged"]]
    charts = []
    for metric in METRICS:
        pairs = {
            (row.characteristic, group)
            for row in flagged[flagged["metric"] == metric].itertuples()
            for group in (row.lowest, row.highest)
        }
        rows = [
            (
                (g.group if g.characteristic == INTERSECTION else f"{g.characteristic}: {g.group}")
                + (" (small)" if g.small else ""),
                getattr(g, metric),
                getattr(g, f"{metric}_low"),
                getattr(g, f"{metric}_high"),
                (g.characteristic, g.group) in pairs,
            )
            for g in audit.groups.itertuples()
        ]
        reference = 1.0 if metric == "calibration" else None
        charts.append(plots.svg_intervals(rows, METRIC_LABELS[metric], reference))
    return charts


def _gap_attribution(
    audit: FairnessAudit,
    cases: pd.DataFrame,
    shap: dict[str, Contributions],
    features: list[str],
) -> pd.DataFrame:
    """Each flagged disparity's gap in mean risk score (highest minus lowest group) shared out
    by SHAP among the features that carry it (the risk score is the mean of the judgements'
    probabilities, each its base plus its features' contributions)."""
    flagged = audit.disparities[audit.disparities["flagged"]]
    columns = ["characteristic", "metric", "groups", "risk score gap", "carried by (SHAP)"]
    if flagged.empty or not shap:
        return pd.DataFrame(columns=columns).set_index(columns[:2])
    labels = characteristics(cases)
    weight = design_weights(cases)
    weight = np.ones(len(cases)) if weight is None else weight
    contributions = np.mean([c.probability for c in shap.values()], axis=0)
    risk = np.mean([c.p for c in shap.values()], axis=0)
    rows = []
    for row in flagged.itertuples():
        high, low = (
            labels[row.characteristic] == row.highest,
            labels[row.characteristic] == row.lowest,
        )
        gap = pd.Series(
            np.average(contributions[high], axis=0, weights=weight[high])
            - np.average(contributions[low], axis=0, weights=weight[low]),
            index=features,
        ).sort_values(key=np.abs, ascending=False)
        risk_gap = np.average(risk[high], weights=weight[high]) - np.average(
            risk[low], weights=weight[low]
        )
        rows.append(
            {
                "characteristic": row.characteristic,
                "metric": METRIC_LABELS[row.metric],
                "groups": f"{row.highest} vs {row.lowest}",
                "risk score gap": f"{risk_gap:+.3f}",
                "carried by (SHAP)": ", ".join(f"{f} {v:+.3f}" for f, v in gap.head(3).items()),
            }
        )
    return pd.DataFrame(rows, columns=columns).set_index(columns[:2])


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
    """A DataFrame as an HTML table (escaped), numbers formatted for people."""
    return frame.to_html(border=0, classes="table", float_format=number, na_rep="-")


def number(value: float) -> str:
    """A number as people read it: 13,130 rather than 1.313e+04; 0.745; 0.0012."""
    if pd.isna(value):
        return "-"
    if float(value).is_integer() or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 0.01:
        return f"{value:.3f}"
    return np.format_float_positional(value, precision=2, fractional=False, trim="-")


def _flagged(frame: pd.DataFrame) -> str:
    """The disparity table with flagged rows highlighted."""
    styled = frame.style.apply(
        lambda row: ["background:#fdd" if row.iloc[-1] else "" for _ in row], axis=1
    ).hide(axis="index")
    return styled.set_table_attributes('class="table"').to_html()
