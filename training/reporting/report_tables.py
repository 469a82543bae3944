"""The report's tables as HTML, numbers formatted for people."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract import INSUFFICIENT, JUDGEMENTS, has_verdict
from training.bundle import CaseworkModel
from training.lifecycle.registry import MODEL_NAME
from training.reporting.truth_lab import TruthLab


def summary_table(cases: pd.DataFrame, held_out: pd.DataFrame) -> pd.DataFrame:
    """Headline facts of the file: cases, inspections, officers, dates, provider mix."""
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


def judged_table(cases: pd.DataFrame) -> pd.DataFrame:
    """Per judgement: cases it applies to and the share judged insufficient."""
    values = cases[list(JUDGEMENTS)].astype(str)
    applicable = values.apply(has_verdict)
    return pd.DataFrame(
        {
            "applicable cases": applicable.sum(),
            "share insufficient": ((values == INSUFFICIENT).sum() / applicable.sum()).round(3),
        }
    )


def model_facts(model: CaseworkModel) -> pd.DataFrame:
    """The champion's registry version, aliases, training data and skipped judgements."""
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


def truth_context(lab: TruthLab) -> dict[str, object]:
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
            "recovered (avg SHAP difference), points [simultaneous 95% CI]": points(
                top, "recovered", "low", "high"
            ),
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
            "direct effect (observed - predicted) [95% CI]; truth 0": points(
                protected, "direct", "direct_low", "direct_high"
            ),
            "model error (predicted - true) [95% CI]": points(
                protected, "model_error", "model_error_low", "model_error_high"
            ),
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
        "bayes": html_table(bayes),
        "drivers": html_table(drivers),
        "protected": html_table(known),
    }


def points(table: pd.DataFrame, value: str, low: str, high: str) -> list[str]:
    """A column in points and its interval, one decimal: ``+0.3 [-0.8, +1.4]``."""
    bounds = table[[value, low, high]].to_numpy()
    return [f"{v:+.1f} [{lo:+.1f}, {hi:+.1f}]" for v, lo, hi in bounds]


def interval(value: float, low: float, high: float) -> str:
    """A value and its interval, three decimals: ``0.745 [0.712, 0.778]``."""
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def replication_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The replication table as shown: finding, published claim, observed and model effects."""

    def count(value: object) -> str:
        return "" if value is None or pd.isna(value) else f"{int(value)} of 12"

    return pd.DataFrame(
        {
            "finding": table["finding"],
            "published": table["published"] + " (" + table["source"] + ")",
            "observed difference, points [95% CI]": points(
                table, "observed", "observed_low", "observed_high"
            ),
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


def html_table(frame: pd.DataFrame) -> str:
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


def flagged(frame: pd.DataFrame) -> str:
    """The disparity table with flagged rows highlighted."""
    styled = frame.style.apply(
        lambda row: ["background:#fdd" if row.iloc[-1] else "" for _ in row], axis=1
    ).hide(axis="index")
    return styled.set_table_attributes('class="table"').to_html()
