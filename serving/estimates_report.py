"""The report's "Judged samples" section: what judged samples say, with their uncertainty.

``casework report --judged A.csv [B.csv ...]`` adds it after the model sections: the pooled
share sufficient per judgement, the annual report's Table 2 and Table 3 layouts with their
Wilson intervals, each standard's rating with P(each band) as a chart, and the domains
with too few cases to publish. The tables come from ``serving.estimation`` on the pooled samples
(each inspection's strata kept apart); the chart is drawn like the report's other figures (an
inline PNG, nothing fetched).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from serving.estimation import MIN_PUBLISHABLE, estimate, national_tables, rate
from serving.intervals import CI_METHOD
from serving.pooling import prepare
from serving.ratings import BANDS, MIN_RATED
from training.reporting.report import Section
from training.reporting.report_plots import png
from training.reporting.report_tables import html_table

TITLE = "Judged samples"
BAND_COLOURS: tuple[str, ...] = ("#1a9850", "#a6d96a", "#fdae61", "#d73027")
"""Outstanding, Good, Requires improvement, Inadequate (a diverging scale, colour-blind safe)."""
PROBABILITIES: tuple[str, ...] = (
    "p_outstanding",
    "p_good",
    "p_requires_improvement",
    "p_inadequate",
)
FLAG = " †"
"""Marks a figure flagged ``too_few_to_publish``."""


def judged_section(
    samples: Sequence[pd.DataFrame], sources: Sequence[str], seed: int = 0
) -> Section:
    """The "Judged samples" section for the report, from judged samples named by ``sources``."""
    design = prepare(list(samples), sources=sources)  # one pooled design for every table
    shares = estimate(design)
    tables = national_tables(design)
    ratings = [rate(design, seed=seed)]
    if all("provider_type" in sample.columns for sample in samples):
        ratings.append(rate(design, by="provider_type", seed=seed))
    rated = pd.concat(ratings, ignore_index=True).dropna(subset=["rating"])
    parts = [
        _introduction(sum(len(s) for s in samples), len(design.sample), sources),
        "<h3>Share sufficient, all inspected cases</h3>",
        html_table(_estimate_rows(shares)),
    ]
    for name, part in tables.items():
        parts += [f"<h3>{html.escape(name.capitalize())} layout: keeping people safe</h3>"]
        parts += [html_table(layout(part))]
    if not tables:
        parts.append("<p>Tables 2 and 3 need the provider_type and rosh_level columns.</p>")
    parts += [
        "<h3>Ratings and the probability of each band</h3>",
        "<p>A standard's rating follows its lowest key question. The bars show how likely each "
        "band is given the sample alone (README: how to read a rating's probability); the "
        "point rating and its probability are printed beside each bar.</p>",
        f'<img alt="P(each band) per standard" src="data:image/png;base64,{band_chart(rated)}">',
        html_table(_rating_rows(rated)),
        "<h3>Too few to publish</h3>",
        _flagged(shares, tables, rated),
    ]
    return Section(TITLE, "\n".join(parts), id="judged-samples")


def layout(table: pd.DataFrame) -> pd.DataFrame:
    """A Table 2/3 block as published: one row per group, one column per question, each cell
    "share (low–high)", flagged cells marked with a dagger."""
    cells = table.assign(cell=[_cell(row) for _, row in table.iterrows()])
    wide = cells.pivot(index="group", columns="judgement", values="cell")
    wide = wide.reindex(index=list(dict.fromkeys(table["group"])))
    wide = wide[list(dict.fromkeys(table["judgement"]))]
    counts = cells.groupby("group", sort=False)["n"].min()
    return wide.assign(**{"fewest cases": counts}).rename_axis(index=None, columns=None)


def band_chart(rated: pd.DataFrame) -> str:
    """Stacked bars of P(Outstanding) … P(Inadequate) per standard and group, as base64 PNG."""
    labels = [f"{r.standard} ({r.group})" for r in rated.itertuples()]
    figure, ax = plt.subplots(figsize=(8, 0.32 * len(rated) + 1.2))
    left = np.zeros(len(rated))
    rows = np.arange(len(rated))[::-1]
    for band, column, colour in zip(BANDS, PROBABILITIES, BAND_COLOURS, strict=True):
        width = rated[column].to_numpy(dtype=float)
        ax.barh(rows, width, left=left, color=colour, label=band, height=0.7)
        left += width
    for row, r in zip(rows, rated.itertuples(), strict=True):
        flag = FLAG if r.too_few_to_publish else ""
        ax.text(1.02, row, f"{r.rating}, P = {r.p_rating_right:.2f}{flag}", va="center", fontsize=8)
    ax.set_yticks(rows, labels, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability of each band")
    ax.legend(ncols=4, fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False)
    return png(figure)


def _introduction(drawn: int, inspected: int, sources: Sequence[str]) -> str:
    names = ", ".join(html.escape(str(s)) for s in sources)
    return (
        f"<p>{len(sources)} judged sample(s) pooled ({names}): {inspected:,} cases inspected, "
        f"{drawn - inspected:,} drawn but not inspected (their strata's inspected cases carry "
        f"their weight). Shares sufficient among the cases a question applies to, design-weighted "
        f"(Hájek), each inspection's strata kept apart; 95% intervals {CI_METHOD} with the "
        f"design's degrees of freedom.{FLAG}: fewer than {MIN_PUBLISHABLE} cases (a rating: "
        f"fewer than {MIN_RATED}), too few to publish.</p>"
    )


def _cell(row: pd.Series) -> str:
    if not row["n"]:
        return "-"
    flag = FLAG if row["too_few_to_publish"] else ""
    return f"{row['estimate']:.1%} ({row['ci_low']:.1%}–{row['ci_high']:.1%}){flag}"


def _estimate_rows(shares: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cases": shares["n"].to_numpy(),
            "share sufficient (95% CI)": [_cell(row) for _, row in shares.iterrows()],
            "effective n": shares["n_effective"].round(0).to_numpy(),
        },
        index=pd.Index(shares["judgement"], name=None),
    )


def _rating_rows(rated: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "standard": rated["standard"],
            "group": rated["group"],
            "lowest key question": rated["lowest"],
            "its share": rated["lowest_share"].map("{:.1%}".format),
            "rating": rated["rating"] + np.where(rated["too_few_to_publish"], FLAG, ""),
            **{band: rated[column] for band, column in zip(BANDS, PROBABILITIES, strict=True)},
            "P(rating right)": rated["p_rating_right"],
            "fewest cases": rated["n"],
        }
    ).set_index(["standard", "group"])


def _flagged(shares: pd.DataFrame, tables: dict[str, pd.DataFrame], rated: pd.DataFrame) -> str:
    parts = [
        shares.assign(table="share sufficient"),
        *(t.assign(table=n) for n, t in tables.items()),
    ]
    figures = pd.concat(parts, ignore_index=True)
    figures = figures[figures["too_few_to_publish"].astype(bool)]
    rows = [
        {"table": r.table, "group": r.group, "question or standard": r.judgement, "cases": r.n}
        for r in figures.itertuples()
    ]
    rows += [
        {"table": "ratings", "group": r.group, "question or standard": r.standard, "cases": r.n}
        for r in rated[rated["too_few_to_publish"].astype(bool)].itertuples()
    ]
    if not rows:
        return "<p>None: every figure rests on enough cases.</p>"
    return html_table(pd.DataFrame(rows).set_index("table"))
