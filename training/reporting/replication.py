"""Replication table: the drivers the inspection reports name, in the data and in the model.

Each finding (DOMAIN.md, "Drivers the reports name") is a comparison of two groups of cases, the
one the reports say fares worse against the other, over the finding's judgements:

- **observed**: the difference in the share of applicable judgements found insufficient (worse
  group minus better group, in percentage points), within levels of a column where the finding
  says so (e.g. grade within provider), with a 95% interval from a bootstrap that resamples
  officers (an officer's cases share the officer's caseload, grade and latent quality);
- **model**: the average SHAP difference, the mean probability-scale contribution of the
  finding's feature in the worse group minus the better group, over the same judgements. Unlike
  the raw difference it separates the feature from the others (e.g. provider from caseload).

A finding replicates when the observed interval lies wholly on the published side of zero and the
model's effect points the same way. For caseload, whose published form is a count ("worse in 9
of 12 judgements"), each judgement is tested alone and both counts must reach the published one.
Design weights (1/π) are used when the cases carry inclusion probabilities.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract import INSUFFICIENT, JUDGEMENTS, has_verdict
from training.reporting.explain import Contributions
from training.trainer import design_weights

N_BOOT = 200
SAFETY = tuple(j for j in JUDGEMENTS if j.endswith("_safety"))

Mask = Callable[[pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class Finding:
    """A published driver as a comparison of the group that fares worse with the other."""

    name: str
    published: str
    source: str
    feature: str
    worse: Mask
    better: Mask
    judgements: tuple[str, ...] = JUDGEMENTS
    within: str | None = None
    judgements_worse: int | None = None  # the published count, for findings stated as one


def _column(name: str, test: Callable[[pd.Series], pd.Series]) -> Mask:
    return lambda cases: test(cases[name]).to_numpy(dtype=bool)


FINDINGS: tuple[Finding, ...] = (
    Finding(
        "caseload 50 or more",
        "officers holding 50 or more cases: work substantially worse in 9 of the 12 judgements",
        "annual-report-2019-20.txt",
        "officer_caseload",
        _column("officer_caseload", lambda c: c >= 50),
        _column("officer_caseload", lambda c: c < 50),
        judgements_worse=9,
    ),
    Finding(
        "PSO vs PO within a provider",
        "within a provider, POs' work was never rated below PSOs'",
        "annual-report-2019-20.txt, Table 1",
        "officer_grade",
        _column("officer_grade", lambda g: g.astype(str) == "PSO"),
        _column("officer_grade", lambda g: g.astype(str) == "PO"),
        within="provider_type",
    ),
    Finding(
        "CRC vs NPS at the same grade",
        "NPS rated above CRC at the same grade",
        "annual-report-2019-20.txt, Table 1",
        "provider_type",
        _column("provider_type", lambda p: p.astype(str) == "CRC"),
        _column("provider_type", lambda p: p.astype(str) == "NPS"),
        within="officer_grade",
    ),
    Finding(
        "lower vs higher RoSH, keeping people safe",
        "high-RoSH cases more often sufficient on keeping other people safe",
        "annual-report-2019-20.txt, Table 3",
        "rosh_level",
        _column("rosh_level", lambda r: r.astype(str).isin(["low", "medium"])),
        _column("rosh_level", lambda r: r.astype(str).isin(["high", "very_high"])),
        judgements=SAFETY,
    ),
    Finding(
        "change of officer vs continuity",
        "lack of continuity of the responsible officer led to poor contact and enforcement",
        "staffordshire-stoke-quality-impact-2017.txt; london-crc-quality-impact-2018.txt",
        "officer_changes",
        _column("officer_changes", lambda c: c >= 1),
        _column("officer_changes", lambda c: c == 0),
    ),
    Finding(
        "not IOM vs IOM",
        "Integrated Offender Management cases about 10 points better",
        "DOMAIN.md (inspection reports)",
        "iom",
        _column("iom", lambda i: ~i.astype(bool)),
        _column("iom", lambda i: i.astype(bool)),
    ),
)


def replication_table(
    cases: pd.DataFrame,
    shap: dict[str, Contributions],
    features: list[str],
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per finding: published claim, observed difference (95% CI), model effect, verdict.

    ``shap`` holds the TreeSHAP contributions of each judgement model for the rows of ``cases``
    (``training.reporting.explain.explain_matrix``), with columns in the order of ``features``.
    """
    officers, uniques = pd.factorize(cases["officer_id"])
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(uniques), (n_boot, len(uniques)))
    resample = np.bincount(
        (draws + len(uniques) * np.arange(n_boot)[:, None]).ravel(),
        minlength=n_boot * len(uniques),
    ).reshape(n_boot, len(uniques))
    weight = design_weights(cases)
    weight = np.ones(len(cases)) if weight is None else weight
    rows = []
    for finding in FINDINGS:
        pooled = _compare(cases, finding, finding.judgements, officers, weight, shap, features)
        observed, low, high, model = pooled.summary(resample)
        row = {
            "finding": finding.name,
            "published": finding.published,
            "source": finding.source,
            "observed": 100 * observed,
            "observed_low": 100 * low,
            "observed_high": 100 * high,
            "model": 100 * model,
            "judgements_worse_observed": None,
            "judgements_worse_model": None,
        }
        if finding.judgements_worse is None:
            replicates = low > 0 and model > 0
        else:
            per_judgement = [
                _compare(cases, finding, (j,), officers, weight, shap, features).summary(resample)
                for j in finding.judgements
            ]
            row["judgements_worse_observed"] = sum(s[1] > 0 for s in per_judgement)
            row["judgements_worse_model"] = sum(s[3] > 0 for s in per_judgement)
            replicates = (
                min(row["judgements_worse_observed"], row["judgements_worse_model"])
                >= finding.judgements_worse
            )
        row["replicates"] = "yes" if replicates else _partly(low, model)
        rows.append(row)
    return pd.DataFrame(rows)


def _partly(low: float, model: float) -> str:
    """Which side, if any, supports a finding that does not fully replicate."""
    if low > 0:
        return "in the data only"
    if model > 0:
        return "in the model only"
    return "no"


@dataclass(frozen=True)
class _Totals:
    """Per officer, stratum and group (worse, better): weighted insufficient, cells, SHAP sum."""

    by_officer: np.ndarray  # (officers, strata, 2, 2): [insufficient, cells]
    shap: np.ndarray  # (strata, 2, 2): [SHAP contribution, cells]

    def summary(self, resample: np.ndarray) -> tuple[float, float, float, float]:
        """Observed difference, its 95% officer-bootstrap interval, and the model effect."""
        observed = _difference(self.by_officer.sum(axis=0))
        flat = self.by_officer.reshape(len(self.by_officer), -1)
        replicates = _difference((resample @ flat).reshape(len(resample), *self.shap.shape))
        low, high = np.nanpercentile(replicates, [2.5, 97.5])
        return float(observed), float(low), float(high), float(_difference(self.shap))


def _compare(
    cases: pd.DataFrame,
    finding: Finding,
    judgements: tuple[str, ...],
    officers: np.ndarray,
    weight: np.ndarray,
    shap: dict[str, Contributions],
    features: list[str],
) -> _Totals:
    """Totals of the finding's comparison over the applicable cells of ``judgements``."""
    group = np.where(finding.worse(cases), 0, np.where(finding.better(cases), 1, -1))
    strata = (
        np.zeros(len(cases), dtype=int)
        if finding.within is None
        else pd.factorize(cases[finding.within])[0]
    )
    n_strata, n_officers = int(strata.max()) + 1, int(officers.max()) + 1
    cell = (strata * 2 + group) * 2
    by_officer = np.zeros(n_officers * n_strata * 4)
    model = np.zeros(n_strata * 4)
    column = features.index(finding.feature)
    for judgement in judgements:
        values = cases[judgement].astype(str).to_numpy()
        keep = has_verdict(values) & (group >= 0)
        y = (values[keep] == INSUFFICIENT).astype(float)
        w, at = weight[keep], cell[keep]
        officer_at = officers[keep] * n_strata * 4 + at
        by_officer += np.bincount(officer_at, weights=w * y, minlength=len(by_officer))
        by_officer += np.bincount(officer_at + 1, weights=w, minlength=len(by_officer))
        if judgement in shap:
            contribution = shap[judgement].probability[keep, column]
            model += np.bincount(at, weights=w * contribution, minlength=len(model))
            model += np.bincount(at + 1, weights=w, minlength=len(model))
    return _Totals(by_officer.reshape(n_officers, n_strata, 2, 2), model.reshape(n_strata, 2, 2))


def _difference(totals: np.ndarray) -> np.ndarray:
    """Worse minus better group mean, averaged over strata where both occur, by stratum size.

    ``totals`` is (..., strata, 2 groups, 2) holding [sum, count]; NaN when no stratum has both.
    """
    sums, counts = totals[..., 0], totals[..., 1]
    both = (counts > 0).all(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.where(both, sums[..., 0] / counts[..., 0] - sums[..., 1] / counts[..., 1], 0.0)
        size = np.where(both, counts.sum(axis=-1), 0.0)
        return (size * gap).sum(axis=-1) / size.sum(axis=-1)
