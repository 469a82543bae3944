"""The report's fairness section: group tables, interval charts and what carries each gap."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.reporting import report_plots as plots
from training.reporting.explain import Contributions
from training.reporting.fairness import (
    INTERSECTION,
    METRIC_LABELS,
    METRICS,
    FairnessAudit,
    characteristics,
)
from training.reporting.report_tables import interval
from training.trainer import design_weights


def fairness_groups(audit: FairnessAudit) -> pd.DataFrame:
    """Per characteristic and group: cases (small groups marked) and each metric's interval."""
    table = audit.groups[["characteristic", "group"]].copy()
    table["n"] = [
        f"{n:,}{' (small)' if small else ''}"
        for n, small in audit.groups[["n", "small"]].to_numpy()
    ]
    for metric in METRICS:
        table[METRIC_LABELS[metric]] = [
            interval(*values)
            for values in audit.groups[[metric, f"{metric}_low", f"{metric}_high"]].to_numpy()
        ]
    return table.set_index(["characteristic", "group"])


def fairness_charts(audit: FairnessAudit) -> list[str]:
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


def gap_attribution(
    audit: FairnessAudit,
    cases: pd.DataFrame,
    shap: dict[str, Contributions],
    features: list[str],
) -> pd.DataFrame:
    """Each flagged disparity's gap in mean risk score, shared out by SHAP among its features.

    The gap is highest minus lowest group; the risk score is the mean of the judgements'
    probabilities, each its base plus its features' contributions.
    """
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


def disparities(audit: FairnessAudit) -> pd.DataFrame:
    """Each characteristic × metric: the lowest/highest ratio, its groups and the flag."""
    d = audit.disparities
    return pd.DataFrame(
        {
            "characteristic": d["characteristic"],
            "metric": d["metric"].map(METRIC_LABELS),
            "ratio (lowest / highest) [95% CI]": [
                interval(*v) for v in d[["ratio", "ratio_low", "ratio_high"]].to_numpy()
            ],
            "lowest group": d["lowest"],
            "highest group": d["highest"],
            "flagged (< 0.8)": np.where(d["flagged"], "FLAGGED", ""),
        }
    )
