"""Unbiased estimates from a judged sample: Hájek ratios with design-based standard errors.

For judgement j and group d, the published figure is the share sufficient among the cases where
j applies, R = Σ_U d a y / Σ_U d a (a: j applies, y: sufficient). Its Hájek estimate weights each
sampled case by 1/π. **Variance**: the ratio is linearised, z_k = d_k a_k (y_k − R̂) / N̂_d, and
the variance of Σ z_k/π_k is approximated as for a balanced sample (Deville & Tillé 2005):

    v = n/(n − p) · Σ_s (1 − π_k) (ž_k − x̌_k'b̂)²,   ž = z/π,  b̂ weighted by (1 − π_k),

where x̌_k holds the balancing variables of the design and p is their rank:

* the indicators of the explicit stratum and of the balancing categories (the columns named in
  the sample's ``balance`` column), strata or categories with a single sampled case collapsed
  together (:func:`collapsed_indicators`);
* **certainty blocks**: for a case whose officer × stratum block has Σπ = 1 (``block_pi``), the
  block-level auxiliaries 1, M_b and M_b·r̄_b (``block_cases``, and it times ``block_risk``, the
  block's number of frame cases and mean risk score); 0 for other cases.

Why the second group: the design draws exactly one case from every block with Σπ = 1, so for any
block-level g, Σ_s g_b(k)·[Π_b(k) = 1] = Σ_{b: Π_b = 1} g_b in every draw. The sample is
balanced on these x̌ (they are combinations of the design's block rows, which both selection
methods meet), and most of n can come from such blocks when officers hold many frame cases (88
of 120 on a 5,000-case frame of whole caseloads, ~47 per officer; few on the generator's window
frame, ~16 per officer): the sample is then nearly stratified by officer, and the differences
between officers' caseloads are not part of its variance. The design is balanced on each
certainty block's own indicator too, but with one case per block that residual cannot be
estimated (the one-unit-per-stratum problem). The three auxiliaries instead span a working model
of the block totals, Σ_b z ≈ β₀ + β₁M_b + β₂M_b·r̄_b (the expected total of a(y − R) over a
block is linear in its case count and its total predicted risk), in the manner of Hartley, Rao &
Kiefer (1969, "Variance estimation with one unit per stratum", JASA 64). A regression on a
subspace of the balanced span leaves larger residuals than one on the whole span, so within the
Deville–Tillé approximation the estimator stays conservative: it overstates the variance by the
between-block variation the auxiliaries do not explain (latent officer effects, for instance).
Without the block columns (samples from other designs) or without certainty blocks, x̌ is the
strata and balancing categories only; with strata only that is Hájek's approximation for
stratified πps sampling. The 95% interval is R̂ ± 1.96·se; the effective n is
R̂(1 − R̂)/v.
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
BLOCK_COLUMNS: tuple[str, ...] = ("block_pi", "block_cases", "block_risk")
"""Facts about a sampled case's officer × stratum block (written by ``draw_sample``): its Σπ,
its number of frame cases and its mean risk score."""
CERTAIN = 1e-6
"""A block whose Σπ is within this of 1 yields exactly one case in every draw."""


def design_matrix(sample: pd.DataFrame) -> np.ndarray:
    """The balancing variables x̌ of the variance formula: indicators of the explicit stratum and
    balancing categories, then the certainty blocks' auxiliaries (:func:`block_auxiliaries`)."""
    parts = [collapsed_indicators(sample["stratum"])]
    if "balance" in sample.columns:
        named = sample["balance"].dropna().astype(str)
        columns = [c for c in (named.iloc[0].split(",") if len(named) else []) if c]
        parts.extend(collapsed_indicators(sample[c]) for c in columns if c in sample.columns)
    parts.append(block_auxiliaries(sample))
    return np.hstack(parts)


def collapsed_indicators(values: pd.Series) -> np.ndarray:
    """Indicators of a column's values in the sample, values held by one sampled case collapsed.

    A lone case is fitted exactly by its own indicator, so its variance would be lost (the
    one-unit-per-stratum problem): lone values are pooled into one group, and a single lone value
    joins the smallest other group (collapsed strata; Wolter 2007, *Introduction to Variance
    Estimation*, §2.5). The pooled groups' differences then count as variance: conservative.
    """
    labels = values.astype(str).to_numpy(dtype=object)
    if len(labels) == 0:
        return np.empty((0, 0))
    names, codes_, counts = np.unique(labels, return_inverse=True, return_counts=True)
    lone = counts[codes_] < 2
    if lone.any() and len(names) > 1:
        if lone.sum() == 1:
            shared = np.flatnonzero(counts >= 2)
            codes_ = np.where(lone, shared[np.argmin(counts[shared])], codes_)
        else:
            codes_ = np.where(lone, codes_[lone][0], codes_)
    _, codes_ = np.unique(codes_, return_inverse=True)
    return np.eye(codes_.max() + 1)[codes_]


def block_auxiliaries(sample: pd.DataFrame) -> np.ndarray:
    """1, M_b and M_b·r̄_b for cases of certainty blocks (Σπ = 1), 0 for the others; no columns
    when the sample lacks :data:`BLOCK_COLUMNS` or holds no certainty block.

    Each column is divided by its largest value (the fit does not change; the rank test does not
    depend on the units of the block counts).
    """
    if any(column not in sample.columns for column in BLOCK_COLUMNS):
        return np.empty((len(sample), 0))
    values = sample[list(BLOCK_COLUMNS)].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    block_pi, cases, risk = values.T
    certain = np.isfinite(values).all(axis=1) & (np.abs(block_pi - 1.0) <= CERTAIN)
    if not certain.any():
        return np.empty((len(sample), 0))
    columns = np.column_stack([np.ones(len(sample)), cases, cases * risk])
    columns = np.where(certain[:, None], columns, 0.0)
    scale = np.abs(columns).max(axis=0)
    return columns / np.where(scale > 0, scale, 1.0)


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
