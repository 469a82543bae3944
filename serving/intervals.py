"""95% intervals for design-based shares: Korn–Graubard (beta) with design degrees of freedom.

The interval of R survey's ``svyciprop(method = "beta")`` (Korn & Graubard 1998, *Survey
Methodology* 24): the effective sample size n* = p̂(1 − p̂)/v is scaled by the design's degrees
of freedom, n* · (t_{n−1}/t_df)², and the Clopper–Pearson interval is taken at x = n*·p̂:

    low = Beta⁻¹(α/2; x, n* − x + 1),   high = Beta⁻¹(1 − α/2; x + 1, n* − x).

It is asymmetric near 0 and 1 and widens with few degrees of freedom, which is what keeps small
domains and extreme shares at their nominal coverage (a Wald interval with 1.96 does not). Where
v carries no information (p̂ = 0 or 1, or v = 0) n* = n, the design effect taken as 1 (the rule
of the NCHS standards, Parker et al. 2017): a one-sided Clopper–Pearson interval, never a
zero-width one.

Degrees of freedom: sampled cases − strata for the whole sample; for a domain, the domain's
cases − the strata that hold them (Korn & Graubard 1999, *Analysis of Health Surveys*, §5.2),
at least 1.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaincinv, stdtrit

CI_METHOD = "korn-graubard"
"""The ``ci_method`` column's value."""
LEVEL = 0.95


def domain_df(strata: np.ndarray, member: np.ndarray) -> int:
    """Degrees of freedom of a domain: its cases minus the strata that hold them, at least 1."""
    cases = int(member.sum())
    return max(cases - len(np.unique(strata[member])), 1)


def informative(share: float, se: float) -> bool:
    """Whether the variance says anything: 0 < p̂ < 1 and a positive, finite SE."""
    return bool(0.0 < share < 1.0 and np.isfinite(se) and se > 0)


def effective_n(share: float, se: float, n: int) -> float:
    """n* = p̂(1 − p̂)/v, or n where the variance carries no information (module docstring)."""
    return share * (1.0 - share) / se**2 if informative(share, se) else float(n)


def korn_graubard(share: float, se: float, n: int, df: int) -> tuple[float, float]:
    """The 95% Korn–Graubard interval of a share from n cases; NaN without cases."""
    if n == 0 or not np.isfinite(share):
        return float("nan"), float("nan")
    alpha = 1.0 - LEVEL
    effective = effective_n(share, se, n)
    if informative(share, se) and n > 1:
        effective *= (stdtrit(n - 1, alpha / 2) / stdtrit(df, alpha / 2)) ** 2
    x = effective * share
    low = betaincinv(x, effective - x + 1, alpha / 2) if x > 0 else 0.0
    high = betaincinv(x + 1, effective - x, 1 - alpha / 2) if effective > x else 1.0
    return float(low), float(high)
