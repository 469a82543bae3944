"""95% intervals for design-based shares: Wilson (score) with the design's effective n and df.

The interval of svy's ``ci_method="wilson"`` (Wilson 1927; for survey data Kott & Carr 1997,
Franco, Little, Louis & Slud 2019, *JSSAM* 7): the effective sample size n* = p̂(1 − p̂)/v is
scaled by the design's degrees of freedom as Korn & Graubard (1998) do, n* · (t_{n−1}/t_df)²,
and the score interval is taken at n* with the t_df quantile t:

    centre = (p̂ + t²/2n*) / (1 + t²/n*),
    half   = t/(1 + t²/n*) · √(p̂(1 − p̂)/n* + t²/4n*²),

clipped to [0, 1]. It is asymmetric near 0 and 1 and widens with few degrees of freedom, which
keeps small domains at their nominal coverage (a Wald interval covers women, ~16 of 120 cases,
0.89–0.92).

Why not Korn–Graubard (R survey's ``svyciprop(method = "beta")``, used before): its
Clopper–Pearson core is conservative by construction; on generator frames where the variance
is right (a Wald interval with the same SEs covers 0.942–0.953) single judgements reached
0.975–0.98, while the score interval covers 0.93–0.97 per judgement (README, "Measured
coverage"). Near 0 or 1 it dips a little below nominal, as score intervals do (Brown, Cai &
DasGupta 2001): 0.915–0.925 for single true shares of 0.967 and 0.056 at n = 120 in a
stratified study where Korn–Graubard covered 0.933–0.984. The degrees of freedom enter twice
(n* scaled and the t_df quantile), as in svy; with one of the two (n* unscaled) the coverage
on generator frames is the same overall and 0.942–0.954 for women instead of 0.945–0.963, and
domains spread thinly over many strata (df ≪ n − 1) get narrower intervals: a Table 3 cell of
~27 cases with df 6 covered 0.975 instead of 0.992. svy's form is kept: it is the peer's, and
it errs on the safe side where the domain df rule is crudest.

Where v carries no information (p̂ = 0 or 1, or v = 0) n* = n, the design effect taken as 1
(the NCHS rule, Parker et al. 2017; svy gives no interval there), then scaled the same way: at
p̂ = 1 the interval is [n*/(n* + t²), 1], one-sided and never of zero width.

Degrees of freedom: sampled cases − strata for the whole sample; for a domain, the domain's
cases − the strata that hold them (Korn & Graubard 1999, *Analysis of Health Surveys*, §5.2),
at least 1.
"""

from __future__ import annotations

import numpy as np
from scipy.special import stdtrit

CI_METHOD = "wilson"
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


def wilson(share: float, se: float, n: int, df: int) -> tuple[float, float]:
    """The 95% Wilson interval of a share from n cases (module docstring); NaN without cases."""
    if n == 0 or not np.isfinite(share):
        return float("nan"), float("nan")
    t = float(stdtrit(max(df, 1), (1.0 + LEVEL) / 2))
    effective = effective_n(share, se, n)
    if n > 1:
        effective *= (float(stdtrit(n - 1, (1.0 + LEVEL) / 2)) / t) ** 2
    shrink = 1.0 + t**2 / effective
    centre = (share + t**2 / (2 * effective)) / shrink
    half = t / shrink * np.sqrt(share * (1.0 - share) / effective + t**2 / (4 * effective**2))
    return float(max(centre - half, 0.0)), float(min(centre + half, 1.0))
