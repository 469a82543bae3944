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

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import mlflow
import numpy as np
import pandas as pd

from features.settings import Settings
from training.bundle import CaseworkModel
from training.lifecycle.registry import connect
from training.reporting import report_plots as plots
from training.reporting.explain import Contributions, explain_matrix
from training.reporting.fairness import FairnessAudit, audit_fairness
from training.reporting.replication import replication_table
from training.reporting.report_fairness import (
    disparities,
    fairness_charts,
    fairness_groups,
    gap_attribution,
)
from training.reporting.report_interactive import INTERACTIVE_CASES, SCRIPT, interactive_data
from training.reporting.report_metrics import (
    held_out_metrics,
    logistic_margins,
    reliability_curves,
)
from training.reporting.report_tables import (
    flagged,
    html_table,
    judged_table,
    model_facts,
    replication_rows,
    summary_table,
    truth_context,
)
from training.reporting.report_template import TEMPLATE
from training.reporting.truth_lab import TruthLab, has_truth, rows_of, truth_lab

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
REPORT_STEPS = 10
"""How many times ``build_report`` calls ``on_step`` (for a progress bar)."""


@dataclass(frozen=True)
class Section:
    """A section the caller adds after the built-in ones, listed in the table of contents.

    ``html`` is a trusted HTML fragment (the caller escapes what it takes from data); ``id`` is
    the anchor, by default the title in lower case with runs of other characters as ``-``.
    """

    title: str
    html: str
    id: str = ""

    @property
    def anchor(self) -> str:
        """The section's id in the page."""
        return self.id or re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")


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
    extra_sections: Sequence[Section] = (),
) -> Report:
    """The report on the inspected ``cases`` (from ``source``) for the champion ``model``.

    Args:
        training_metrics: the training run's test-set table (``metrics.csv`` in MLflow: every
            model and baseline); without it the section shows the champion on this file only.
        on_step: called with the name of each of the ``REPORT_STEPS`` steps as it starts.
        extra_sections: sections the caller built, shown after the built-in ones and listed
            in the table of contents like them.
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
        truth_lab(held_out, scores, held_shap, features, seed=seed, model=model)
        if has_truth(held_out)
        else None
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
    on_step("metrics against baselines")
    context = {
        "title": f"casework report: {Path(source).name}",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": source,
        "summary": html_table(summary_table(cases, held_out)),
        "judged": html_table(judged_table(cases)),
        "model": html_table(model_facts(model)),
        "training_metrics": None if training_metrics is None else html_table(training_metrics),
        "margins": [] if training_metrics is None else logistic_margins(training_metrics),
        "held_note": held_note,
        "held_metrics": html_table(held_out_metrics(held_out, scores, seed)),
        "truth": None if lab is None else truth_context(lab),
    }
    on_step("reliability, importance and SHAP figures")
    context["plots"] = {
        "reliability": plots.reliability(reliability_curves(held_out, scores)),
        "importance": plots.importance_heatmap(importance),
        "shap-summary": plots.beeswarms(shap, X, rows),
    }
    on_step("dependence plots and waterfalls")
    context |= {
        "interactive_cases": f"{len(picked):,}",
        "interactive_data": interactive_data(shap, X, cases, picked, turn),
        "interactive_script": SCRIPT,
        "turn": turn,
    }
    on_step("fairness tables and charts")
    context |= {
        "fairness_groups": html_table(fairness_groups(fairness)),
        "fairness_disparities": flagged(disparities(fairness)),
        "fairness_charts": fairness_charts(fairness),
        "fairness_attribution": html_table(
            gap_attribution(fairness, held_out, held_shap, features)
        ),
        "replication": html_table(replication_rows(replication)),
    }
    on_step("page")
    built_in = tuple(s for s in SECTIONS if s[0] != "truth" or lab is not None)
    page, sections = render_page(context, built_in, extra_sections)
    return Report(page, importance, fairness, replication, turn, lab, sections)


def render_page(
    context: dict[str, object],
    built_in: tuple[tuple[str, str], ...],
    extra_sections: Sequence[Section] = (),
) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The page from the template's ``context``, and every section's id and heading in order.

    The caller's ``extra_sections`` follow the ``built_in`` ones, in the page and in its table of
    contents.
    """
    sections = built_in + tuple((extra.anchor, extra.title) for extra in extra_sections)
    template = jinja2.Environment(autoescape=True).from_string(TEMPLATE)
    page = template.render(**context, sections=sections, extra_sections=list(extra_sections))
    return page, sections


def caseload_turn(shap: dict[str, Contributions], X: pd.DataFrame) -> float | None:
    """Where the caseload effect turns, in cases held; None when it never does (or no data).

    The lowest caseload above which the model's caseload contribution (log-odds, averaged over
    the judgements, in 5-case bins of at least 20 cases) stays more than 0.1 above its lowest
    level.
    """
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
