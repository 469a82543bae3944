"""Calibration of the rating probabilities over populations whose true shares spread across the
four bands: the study shared by tests/serving_tests/test_estimation_coverage.py and
benchmarks/bench_estimate.py."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract import JUDGEMENTS, NOT_APPLICABLE, SUFFICIENT
from serving.estimation import rate
from serving.ratings import BANDS, STANDARDS, band

SPREAD_LEVELS = (-1.0, 3.5)
"""Logit range of the true judgement levels in ``spread_replicate``: the lowest key question
then falls in every band (about 12/24/37/27% over 1,000 populations), with no edge of the
truths near a threshold."""


def spread_replicate(rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, int]]:
    """A population whose true shares vary across replicates and its stratified sample.

    3,000 cases in four strata, a case quality shared by the 12 judgements, judgement levels
    uniform over ``SPREAD_LEVELS``; returns a judged sample of 120 (30 per stratum) and the
    true band of every standard. P(band) is a statement about where the truth lies given the
    sample alone, so its calibration is measured over truths spread across the bands (the
    generator's frames put every standard's truth just above 50%, see ``ratings_study``).
    """
    sizes = np.array([400, 600, 800, 1_200])
    stratum = np.repeat(np.arange(4), sizes)
    quality = rng.normal(size=(len(stratum), 1)) + 0.3 * stratum[:, None]
    level = rng.uniform(*SPREAD_LEVELS, size=len(JUDGEMENTS))
    good = rng.random((len(stratum), len(JUDGEMENTS))) < 1 / (1 + np.exp(-(level + quality)))
    values = np.where(good, SUFFICIENT, "insufficient").astype(object)
    values[rng.random(values.shape) < 0.1] = NOT_APPLICABLE
    population = pd.DataFrame(values, columns=list(JUDGEMENTS))
    counted = (values == SUFFICIENT).sum(axis=0) / (values != NOT_APPLICABLE).sum(axis=0)
    shares = pd.Series(counted, index=list(JUDGEMENTS))
    true_band = {standard: int(band(shares[list(q)].min())) for _, standard, q in STANDARDS}
    chosen = np.concatenate(
        [rng.choice(np.flatnonzero(stratum == h), 30, replace=False) for h in range(4)]
    )
    sample = population.iloc[chosen].assign(
        case_id=[f"c{k}" for k in chosen],
        stratum=stratum[chosen].astype(str),
        inclusion_probability=30 / sizes[stratum[chosen]],
    )
    return sample, true_band


def spread_statements(replicates: int, seed: int, draws: int = 2_000) -> pd.DataFrame:
    """One row per replicate, standard and band of ``spread_replicate`` populations: the stated
    P(band) (``rate``), whether it came true, and whether it is the point rating."""
    rng = np.random.default_rng(seed)
    rows = []
    for replicate in range(replicates):
        sample, true_band = spread_replicate(rng)
        rated = rate(sample, seed=int(rng.integers(2**31)), draws=draws)
        for row in rated.itertuples():
            stated = (row.p_outstanding, row.p_good, row.p_requires_improvement, row.p_inadequate)
            for k, probability in enumerate(stated):
                rows.append(
                    {
                        "replicate": replicate,
                        "band": k,
                        "stated": probability,
                        "hit": k == true_band[row.standard],
                        "point": BANDS[k] == row.rating,
                    }
                )
    return pd.DataFrame(rows)


TENTHS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
"""Reliability bins of width 0.1."""


def reliability(
    stated: np.ndarray,
    hit: np.ndarray,
    cluster: np.ndarray | None = None,
    edges: tuple[float, ...] = TENTHS,
    least: int = 50,
) -> list[dict[str, object]]:
    """Binned reliability of stated probabilities: bins between ``edges`` (width 0.1) holding
    ≥ ``least`` statements, with the Monte Carlo SE of observed − stated (clustered by
    ``cluster``: statements of one replicate, draw or frame are not independent). ``hit`` may
    be 0/1 or a share."""
    cluster = np.arange(len(stated)) if cluster is None else np.asarray(cluster)
    edges = np.asarray(edges, dtype=float)
    bins = np.clip(np.searchsorted(edges, stated, side="right") - 1, 0, len(edges) - 2)
    out = []
    for b in range(len(edges) - 1):
        inside = bins == b
        if inside.sum() < least:
            continue
        gap = pd.Series(hit[inside] - stated[inside]).groupby(cluster[inside])
        totals, counts = gap.sum(), gap.count()
        mean = totals.sum() / counts.sum()
        se = np.sqrt(((totals - mean * counts) ** 2).sum()) / counts.sum()
        out.append(
            {
                "bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}",
                "count": int(inside.sum()),
                "stated": round(float(stated[inside].mean()), 4),
                "observed": round(float(hit[inside].mean()), 4),
                "se": round(float(se), 4),
            }
        )
    return out
