"""Unbiased estimates from a judged sample: Hájek ratios with design-based standard errors.

For judgement j and group d, the published figure is the share sufficient among the cases where
j applies, R = Σ_U d a y / Σ_U d a (a: j applies, y: sufficient). Its Hájek estimate weights each
sampled case by 1/π. **Variance**: the ratio is linearised, z_k = d_k a_k (y_k − R̂) / N̂_d, and
the variance of Σ z_k/π_k is approximated as for a balanced sample (Deville & Tillé 2005):

    v = n/(n − p) · Σ_s (1 − π_k) (ž_k − x̌_k'b̂)²,   ž = z/π,  b̂ weighted by (1 − π_k),

where x̌_k are the indicators of the design's explicit stratum and of its balancing categories
(the columns named in the sample's ``balance`` column) and p their rank. With strata only (the
systematic method) this is Hájek's approximation for stratified πps sampling. The 95% interval
is R̂ ± 1.96·se; the effective n is R̂(1 − R̂)/v.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract import INCLUSION_PROBABILITY, JUDGEMENTS, NOT_APPLICABLE, SUFFICIENT
from features.errors import InputError

ESTIMATE_COLUMNS: tuple[str, ...] = (
    "judgement",
    "group",
    "n",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
)
"""The contract's columns; ``n_effective`` follows them."""
Z95 = 1.959963984540054


def design_matrix(sample: pd.DataFrame) -> np.ndarray:
    """Indicators of the explicit stratum and balancing categories (x̌ of the variance formula)."""
    parts = [pd.get_dummies(sample["stratum"].astype(str), dtype=float)]
    if "balance" in sample.columns:
        named = sample["balance"].dropna().astype(str)
        columns = [c for c in (named.iloc[0].split(",") if len(named) else []) if c]
        for column in columns:
            if column in sample.columns:
                parts.append(pd.get_dummies(sample[column].astype(str), dtype=float))
    return np.hstack([p.to_numpy() for p in parts])


class ResidualVariance:
    """Deville–Tillé variance of Σ ž for one sample, with the regression on x̌ factored once.

    With c = 1 − π and w = √c·ž, the weighted residuals are (I − UUᵀ)w where U spans √c·x̌,
    so every judgement and group reuses one SVD.
    """

    def __init__(self, x: np.ndarray, pi: np.ndarray):
        self.root = np.sqrt(1.0 - pi)
        u, s, _ = np.linalg.svd(x * self.root[:, None], full_matrices=False)
        rank = int((s > s.max(initial=0.0) * max(x.shape) * np.finfo(float).eps).sum())
        self.basis = u[:, :rank]
        self.factor = len(pi) / (len(pi) - rank) if len(pi) > rank else float("nan")

    def __call__(self, z_check: np.ndarray) -> float:
        """v = n/(n − p) · Σ c (ž − x̌ᵀb̂)²."""
        w = self.root * z_check
        residual = w - self.basis @ (self.basis.T @ w)
        return float(self.factor * (residual**2).sum())


def ratio(
    sufficient: np.ndarray, applies: np.ndarray, pi: np.ndarray, variance: ResidualVariance
) -> tuple[int, float, float]:
    """n, Hájek estimate and standard error of the share sufficient among applicable cases."""
    n = int(applies.sum())
    weight = applies / pi
    total = weight.sum()
    if n == 0 or total == 0:
        return n, float("nan"), float("nan")
    share = float((weight * sufficient).sum() / total)
    z = applies * (sufficient - share) / total
    return n, share, float(np.sqrt(max(variance(z / pi), 0.0)))


def _check(sample: pd.DataFrame, by: str | None) -> None:
    required = [INCLUSION_PROBABILITY, "stratum"] + ([by] if by else [])
    missing = [c for c in required if c not in sample.columns]
    if missing:
        raise InputError(f"the judged sample lacks columns {', '.join(missing)}", source="sample")
    pi = pd.to_numeric(sample[INCLUSION_PROBABILITY], errors="coerce")
    bad = ~((pi > 0) & (pi <= 1))
    if bad.any():
        raise InputError(
            "inclusion_probability must be a number in (0, 1]",
            source="sample",
            column=INCLUSION_PROBABILITY,
            rows=(np.flatnonzero(bad.to_numpy()) + 2).tolist(),
        )
    judged = [j for j in JUDGEMENTS if j in sample.columns]
    if not judged:
        raise InputError("the sample holds none of the 12 judgement columns", source="sample")
    for judgement in judged:
        values = sample[judgement].astype("string")
        wrong = ~values.isin([SUFFICIENT, "insufficient", NOT_APPLICABLE])
        if wrong.any():
            raise InputError(
                "expected sufficient, insufficient or not_applicable",
                source="sample",
                column=judgement,
                rows=(np.flatnonzero(wrong.to_numpy()) + 2).tolist(),
                examples=values[wrong].head(3).tolist(),
            )


def estimate(judged_sample: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Share sufficient per judgement, overall (group 'all') or per value of ``by``."""
    _check(judged_sample, by)
    sample = judged_sample.reset_index(drop=True)
    pi = pd.to_numeric(sample[INCLUSION_PROBABILITY]).to_numpy(dtype=float)
    variance = ResidualVariance(design_matrix(sample), pi)
    groups = (
        [("all", np.ones(len(sample), dtype=bool))]
        if by is None
        else [
            (str(value), (sample[by] == value).to_numpy())
            for value in sorted(sample[by].dropna().unique(), key=str)
        ]
    )
    rows = []
    for judgement in (j for j in JUDGEMENTS if j in sample.columns):
        values = sample[judgement].astype(str).to_numpy()
        applies = values != NOT_APPLICABLE
        sufficient = (values == SUFFICIENT).astype(float)
        for name, member in groups:
            n, share, se = ratio(sufficient, (applies & member).astype(float), pi, variance)
            effective = share * (1 - share) / se**2 if se > 0 else float("nan")
            rows.append(
                {
                    "judgement": judgement,
                    "group": name,
                    "n": n,
                    "estimate": share,
                    "se": se,
                    "ci_low": max(0.0, share - Z95 * se),
                    "ci_high": min(1.0, share + Z95 * se),
                    "n_effective": effective,
                }
            )
    return pd.DataFrame(rows, columns=[*ESTIMATE_COLUMNS, "n_effective"])
