"""The model card: intended use, data, metrics against baselines, calibration and limits."""

from __future__ import annotations

import html

import pandas as pd

from training.bundle import RISK_SCORE_RULE
from training.lifecycle.registry import MODEL_NAME
from training.trainer import TrainingResult

INTENDED_USE = (
    "casework estimates, for each case in a probation caseload, the probability that each of "
    "the 12 key inspection judgements would be found insufficient. Planners use the scores to "
    "weight inspection samples toward risky cases with known inclusion probabilities; "
    "researchers use them, with SHAP explanations, to study what drives insufficient work. The "
    "scores are not a judgement of any officer or person and must not be used to act on an "
    "individual case."
)
LIMITS = (
    "Trained on the data named below. With the synthetic generator's data, figures describe the "
    "generator, not real probation practice. Protected characteristics (gender, ethnicity, "
    "age) are excluded from the model inputs by default but can be reached through proxies: see "
    "the fairness audit. A judgement with fewer than 200 applicable training cases is skipped "
    "and scores NaN. Officers seen in the test period are held out of training, so test figures "
    "are for officers the model has never seen."
)


def metrics_table(result: TrainingResult, weighting: str) -> pd.DataFrame:
    """One row per judgement: LightGBM and baseline AUC, ECE and lift at 20%."""
    metrics = result.metrics[result.metrics["weighting"] == weighting]
    wide = metrics.pivot_table(
        index="judgement", columns="model", values=["auc", "ece", "lift_at_20"], sort=False
    )
    short = {"auc": "AUC", "ece": "ECE", "lift_at_20": "lift@20%"}
    names = {"lightgbm": "lgbm", "logistic": "logit", "prevalence": "prev"}
    wide.columns = [f"{short[metric]} {names[model]}" for metric, model in wide.columns]
    keep = [
        "AUC lgbm",
        "AUC logit",
        "AUC prev",
        "ECE lgbm",
        "ECE logit",
        "lift@20% lgbm",
        "lift@20% logit",
    ]
    return wide[[c for c in keep if c in wide]].round(4)


def model_card(
    result: TrainingResult, version: str | None = None, aliases: tuple[str, ...] = ()
) -> dict:
    """The card's content: sections of text and tables, rendered as Markdown or HTML."""
    meta = result.model.metadata
    weighting = "design" if meta.get("design_weighted") else "unweighted"
    calibration = pd.DataFrame(
        {
            "calibrator": {j: m.calibration_ for j, m in result.model.models.items()},
            "boosting rounds": {j: m.n_rounds_ for j, m in result.model.models.items()},
        }
    )
    data = pd.DataFrame(
        {
            "value": {
                **meta["trained_on"],
                "test period from": meta["test_cutoff"],
                "training rows": len(result.split.train),
                "test rows": len(result.split.test),
                "rows held out (officer in test period)": result.split.dropped,
                "split": result.split.mode,
            }
        }
    )
    return {
        "title": f"{MODEL_NAME} {'v' + version if version else '(unregistered)'}",
        "sections": [
            ("Intended use and users", INTENDED_USE),
            ("Version", f"version {version or '-'}; aliases: {', '.join(aliases) or '-'}"),
            ("Training data", data),
            (f"Test metrics ({weighting}) against baselines", metrics_table(result, weighting)),
            ("Calibration", calibration),
            ("Risk score", RISK_SCORE_RULE),
            (
                "Skipped judgements",
                pd.Series(result.skipped, name="reason").to_frame() if result.skipped else "none",
            ),
            ("Limits", LIMITS),
        ],
    }


def render_model_card(card: dict) -> dict[str, str]:
    """The card as files: ``model_card.md`` and ``model_card.html`` (name → text)."""
    md, page = [f"# {card['title']}", ""], [f"<h1>{html.escape(card['title'])}</h1>"]
    for heading, body in card["sections"]:
        md += [f"## {heading}", ""]
        page.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(body, pd.DataFrame):
            md += [_markdown_table(body), ""]
            page.append(body.to_html(border=0))
        else:
            md += [str(body), ""]
            page.append(f"<p>{html.escape(str(body))}</p>")
    style = (
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "table{border-collapse:collapse}td,th{padding:2px 8px;text-align:right}</style>"
    )
    return {
        "model_card.md": "\n".join(md),
        "model_card.html": "<!doctype html><meta charset='utf-8'><title>model card</title>"
        + style
        + "\n".join(page),
    }


def _markdown_table(frame: pd.DataFrame) -> str:
    header = ["", *map(str, frame.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in frame.iterrows():
        lines.append("| " + " | ".join([str(index), *map(str, row.tolist())]) + " |")
    return "\n".join(lines)
