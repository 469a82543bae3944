"""Design-based variance of linearised totals: the balanced-sample (Deville–Tillé) residual form.

The variance of Σ z_k/π_k is approximated as for a balanced sample (Deville & Tillé 2005):

    v = Σ_s (1 − π_k) (ž_k − x̌_k'b̂)² / (1 − h_k),   ž = z/π,  b̂ weighted by (1 − π_k),

where x̌_k holds the variables the design balanced on, p is their rank and h_k the leverage of
case k in that regression (Σ h_k = p: Deville & Tillé's n/(n − p), case by case; see
``ResidualVariance``):

* the indicators of the explicit stratum, strata with a single sampled case collapsed together
  (``collapsed_codes``);
* for **balanced** (cube) samples, the indicators of the balancing categories named in the
  sample's ``balance`` column. **Systematic** samples (``method`` column = ``systematic``) were
  never balanced on them, so their x̌ leaves them out;
* **certainty blocks**: for a case whose officer × stratum block has Σπ = 1 (``block_pi``), the
  block-level auxiliaries 1, M_b and M_b·r̄_b (``block_cases``, and it times ``block_risk``, the
  block's number of frame cases and mean risk score); 0 for other cases.

Why the certainty blocks: both selection methods draw exactly one case from every block with
Σπ = 1, so for any block-level g, Σ_s g_b(k)·[Π_b(k) = 1] = Σ_{b: Π_b = 1} g_b in every draw.
Most of n can come from such blocks when officers hold many frame cases (whole caseloads): the
sample is then nearly stratified by officer. With one case per block the block's own indicator
cannot be used (one unit per stratum); the three auxiliaries span a working model of the block
totals, Σ_b z ≈ β₀ + β₁M_b + β₂M_b·r̄_b, as in Hartley, Rao & Kiefer (1969, JASA 64). A
regression on a subspace of the balanced span leaves larger residuals than one on the whole
span, so the estimator stays conservative within the Deville–Tillé approximation.

Why the fpc follows the officer × stratum block (``block_variance``): both methods draw at
most one case from a block (systematic: the block is a run of the sorted list shorter than the
sampling step; balanced: a hard row), so two cases of one officer in one stratum never meet, a
restriction the case-level (1 − π_k) does not know. Cases of one officer resemble each other
(the officer's effect and caseload), so the case-level form overstates the variance: with ρ the
share of the residual variance that lies between blocks, the variance of a design that takes
one case from a block of Σπ = Π_b is about Σ_s [(1 − Π_b)ρ + (1 − π_k)(1 − ρ)] e_k², i.e.
c_k = 1 − π_k − ρ(Π_b − π_k) (two-stage sampling: blocks with chance Π_b, then one case
within; Särndal, Swensson & Wretman 1992, §4.3). ρ is estimated from the sample itself: the
correlation of the residuals of sampled cases that share an officer (across strata), pooled
over the judgements (``officer_correlation``); without ``officer_id`` or ``block_pi`` it
is 0, the case-level form. The estimate is not truncated at 0: the fpc is linear in ρ (and v
nearly so: the fpc also weights the regression), so an unbiased ρ̂ keeps v unbiased on average
however few officer pairs a sample holds (8–16 in a 120-case window sample), whereas truncation
keeps the positive half of the noise (no true correlation, 10 pairs, one judgement: mean ρ̂ 0.12
truncated, ≈ 0 not). Under unit non-response (``serving.pooling``) a block's Σπ is divided by
its stratum's response factor, as its cases' π are. The officer order of a systematic draw is
random and not recorded, so successive differences in the sort order carry nothing beyond
this. Measured on a 3,000-case window frame (seed 61, 600 draws of 120): estimated/true
variance 1.076 → 1.019 (systematic), 1.060 → 1.014 (balanced) with ρ̂ truncated at 0; on
other draws of the same frame (seed 29) truncated 0.996 / 1.011, untruncated 1.007 / 1.022
(one judgement's ratio from 600 draws has a Monte Carlo SE of ~0.06); whole caseloads,
where almost every sampled case comes from a certainty block, are unchanged (1.002).

Several inspections pooled: each inspection's x̌ is built from its own rows (its strata, its
method's balancing categories, its blocks) and the blocks are stacked block-diagonally, so the
inspections are a further stratum level.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.linalg import block_diag

BLOCK_COLUMNS: tuple[str, ...] = ("block_pi", "block_cases", "block_risk")
"""Facts about a sampled case's officer × stratum block (written by ``draw_sample``): its Σπ,
its number of frame cases and its mean risk score."""
CERTAIN = 1e-6
"""A block whose Σπ is within this of 1 yields exactly one case in every draw."""
RANK_TOLERANCE = 1e-10
"""Eigenvalues of x̌ᵀCx̌ below this share of the largest are collinear directions (collapsed
strata, a category implied by the others): a relative rule, independent of n and units."""


def collapsed_codes(values: pd.Series) -> np.ndarray:
    """Codes 0..G−1 of a column's values in the sample, values held by one sampled case collapsed.

    A lone case is fitted exactly by its own indicator, so its variance would be lost (the
    one-unit-per-stratum problem): lone values are pooled into one group, and a single lone value
    joins the smallest other group (collapsed strata; Wolter 2007, *Introduction to Variance
    Estimation*, §2.5). The pooled groups' differences then count as variance: conservative.
    """
    labels = values.astype(str).to_numpy(dtype=object)
    if len(labels) == 0:
        return np.empty(0, dtype=int)
    names, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
    lone = counts[codes] < 2
    if lone.any() and len(names) > 1:
        if lone.sum() == 1:
            shared = np.flatnonzero(counts >= 2)
            codes = np.where(lone, shared[np.argmin(counts[shared])], codes)
        else:
            codes = np.where(lone, codes[lone][0], codes)
    return np.unique(codes, return_inverse=True)[1]


def collapsed_indicators(values: pd.Series) -> np.ndarray:
    """Indicators of ``collapsed_codes``."""
    codes = collapsed_codes(values)
    if len(codes) == 0:
        return np.empty((0, 0))
    return np.eye(codes.max() + 1)[codes]


def balanced_on(sample: pd.DataFrame) -> list[str]:
    """The balancing columns a sample was drawn balanced on: none for systematic samples."""
    if "balance" not in sample.columns:
        return []
    if "method" in sample.columns and (sample["method"].astype(str) == "systematic").all():
        return []
    named = sample["balance"].dropna().astype(str)
    columns = [c for c in (named.iloc[0].split(",") if len(named) else []) if c]
    return [c for c in columns if c in sample.columns]


def block_auxiliaries(sample: pd.DataFrame) -> np.ndarray:
    """1, M_b and M_b·r̄_b for cases of certainty blocks (Σπ = 1), 0 for the others; no columns
    when the sample lacks ``BLOCK_COLUMNS`` or holds no certainty block.

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


def design_matrix(sample: pd.DataFrame) -> np.ndarray:
    """The balancing variables x̌ of one inspection's sample (see the module docstring)."""
    parts = [collapsed_indicators(sample["stratum"])]
    parts.extend(collapsed_indicators(sample[c]) for c in balanced_on(sample))
    parts.append(block_auxiliaries(sample))
    return np.hstack(parts)


def pooled_design_matrix(sample: pd.DataFrame, inspection: np.ndarray) -> np.ndarray:
    """x̌ of several inspections: each one's ``design_matrix``, block-diagonal.

    ``inspection`` holds consecutive codes (the rows sorted by inspection).
    """
    bounds = np.flatnonzero(np.diff(inspection)) + 1
    pieces = np.split(np.arange(len(sample)), bounds)
    return block_diag(*(design_matrix(sample.iloc[rows]) for rows in pieces))


class ResidualVariance:
    """Deville–Tillé variance of Σ ž for one sample, with the regression on x̌ factored once.

    With c = 1 − π (or the given ``fpc``) and w = √c·ž, the weighted residuals are
    r = (I − UUᵀ)w where U is an orthonormal basis of √c·x̌ (from the eigen-decomposition of
    the small p × p cross-product, directions below ``RANK_TOLERANCE`` of the largest dropped
    as collinear), so every judgement and group reuses one factorisation. Deville & Tillé's
    n/(n − p) correction is applied case by case through the leverages h_k = ‖U_k‖²
    (Σ h_k = p): v = Σ r_k²/(1 − h_k), the bias-reduced linearisation of Bell & McCaffrey (2002,
    *Survey Methodology* 28). With strata only and equal π within a stratum, h_k = 1/n_h and
    this is the textbook stratified n_h/(n_h − 1); unlike one global factor it does not
    understate the variance of a domain that lives in strata of two or three cases. Cases
    fitted exactly (h_k = 1, the certainty blocks' own fit) have r_k = 0 and add nothing.
    """

    def __init__(self, x: np.ndarray, pi: np.ndarray, fpc: np.ndarray | None = None) -> None:
        self.root = np.sqrt(np.clip(1.0 - pi if fpc is None else fpc, 0.0, None))
        weighted = x * self.root[:, None]
        values, vectors = np.linalg.eigh(weighted.T @ weighted)
        keep = values > values.max(initial=0.0) * RANK_TOLERANCE
        self.basis = weighted @ (vectors[:, keep] / np.sqrt(values[keep]))
        leverage = (self.basis**2).sum(axis=1)
        free = 1.0 - leverage
        self.scale = np.where(free > 1e-9, 1.0 / np.sqrt(np.maximum(free, 1e-9)), 0.0)

    def residuals(self, z_check: np.ndarray) -> np.ndarray:
        """√c·ž minus its fit on x̌, over √(1 − h): one column per column of ``z_check``."""
        wide = z_check.ndim > 1
        root = self.root[:, None] if wide else self.root
        w = root * z_check
        residual = w - self.basis @ (self.basis.T @ w)
        return residual * (self.scale[:, None] if wide else self.scale)

    def __call__(self, z_check: np.ndarray) -> float:
        """v = Σ c (ž − x̌ᵀb̂)² / (1 − h)."""
        return float((self.residuals(z_check) ** 2).sum())

    def covariance(self, z_check: np.ndarray) -> np.ndarray:
        """The k × k covariance of k linearised totals (columns of ``z_check``), same form."""
        residual = self.residuals(z_check)
        return residual.T @ residual


def linearised_ratios(
    y: np.ndarray, applies: np.ndarray, pi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Hájek ratios R = Σ a·y/π / Σ a/π per column and their linearised ž = a(y − R)/(π Σ a/π).

    The shares the estimator publishes and what their variance is taken of (Taylor
    linearisation of a ratio); a column without applicable cases gets R = NaN and ž = 0.
    """
    weight = applies / pi[:, None]
    total = weight.sum(axis=0)
    some = total > 0
    safe = np.where(some, total, 1.0)
    share = np.where(some, (weight * y).sum(axis=0) / safe, np.nan)
    return share, weight * (y - np.where(some, share, 0.0)) / safe


def group_pairs(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Σ v_ij v_i'k over pairs i ≠ i' of one group, (k, k) for (n, k) ``values`` (cases in
    group −1 left out)."""
    kept = groups >= 0
    values, groups = values[kept], groups[kept]
    sums = np.zeros((int(groups.max(initial=0)) + 1, values.shape[1]))
    np.add.at(sums, groups, values)
    return sums.T @ sums - values.T @ values


def officer_correlation(residuals: np.ndarray, officers: np.ndarray) -> float:
    """Pooled correlation of the residuals of sampled cases sharing an officer, in [−1, 1].

    Σ_o Σ_{k≠l ∈ o} r_k r_l / Σ_o (m_o − 1) Σ_{k ∈ o} r_k², summed over the columns of
    ``residuals`` (one per judgement): the pairwise intra-class correlation, 0 without pairs.
    Not truncated at 0: a 120-case sample holds only 8–16 officer pairs, and truncation keeps the
    positive half of the noise (no true correlation, 10 pairs, one judgement: mean 0.12), while
    the fpc is linear in ρ̂, so an unbiased ρ̂ keeps the variance unbiased on average (module
    docstring). A negative ρ̂ raises the fpc above 1 − π: conservative in that sample.
    """
    codes = np.unique(officers, return_inverse=True)[1]
    wide = residuals.reshape(len(codes), -1)
    pairs = float(np.trace(group_pairs(wide, codes)))
    scale = float(((np.bincount(codes)[codes] - 1)[:, None] * wide**2).sum())
    return float(np.clip(pairs / scale, -1.0, 1.0)) if scale > 0 else 0.0


def block_variance(
    sample: pd.DataFrame,
    x: np.ndarray,
    pi: np.ndarray,
    z_check: np.ndarray,
    response: np.ndarray | None = None,
) -> ResidualVariance:
    """The variance with the block fpc c_k = 1 − π_k − ρ̂(Π_b − π_k) (module docstring).

    ρ̂ comes from the case-level fit's residuals of ``z_check`` (one column per judgement);
    certainty blocks keep 1 − π_k (their auxiliaries already carry the block). ``response`` is
    each case's non-response factor f_h when ``pi`` is already divided by it
    (``serving.pooling``): a block lies in one stratum, so its Σπ becomes Π_b/f_h like its
    cases' π. Without ``officer_id`` or ``block_pi`` this is the case-level form.
    """
    plain = ResidualVariance(x, pi)
    if "officer_id" not in sample.columns or "block_pi" not in sample.columns:
        return plain
    block_pi = pd.to_numeric(sample["block_pi"], errors="coerce").to_numpy(dtype=float)
    usable = np.isfinite(block_pi) & (np.abs(block_pi - 1.0) > CERTAIN)
    ids = sample["officer_id"]
    alone = np.char.add("no officer ", np.arange(len(ids)).astype(str))  # pairs with nobody
    officers = np.where(ids.isna().to_numpy(), alone, ids.astype(str).to_numpy())
    rho = officer_correlation(plain.residuals(z_check), officers)
    if rho == 0 or not usable.any():
        return plain
    responding = block_pi if response is None else block_pi / response
    gap = np.where(usable, np.clip(responding - pi, 0.0, None), 0.0)
    return ResidualVariance(x, pi, fpc=1.0 - pi - rho * gap)
