"""Inclusion probabilities of a risk-weighted stratified design: the ``Design`` and its builder.

The construction, in order (each step documented in the README's sampling section; the groups
in ``serving.design_groups``, steps 1 in ``serving.design_allocation``, 2 and 3 in
``serving.design_raking``):

1. **Allocation**: the size is shared among the explicit strata in proportion to their caseload
   (largest remainder), at least one case per stratum so every case has a positive chance, then
   moved between strata to meet minimums on stratifying columns.
2. **Tilt**: inside a stratum, π ∝ (1 − λ) + λ·score² / mean score² of the stratum, so λ = 0 is
   today's equal chance and λ = 1 is probability proportional to the squared predicted risk.
3. **Bounds and calibration** (bounded raking): π is raked so that the expected count of every
   balancing group equals its proportional target (or its minimum, if larger; a whole number
   when the minimums of its column are hard) and every stratum sums to its allocation, while
   keeping π ≥ floor × the equal chance, π ≤ 1, each officer × stratum block ≤ 1 and each
   officer ≤ the cap. The raking stops at relative tolerances within a bounded number of rounds
   and seconds; if it has not converged by then, a linear program finds the nearest π that meets
   every rule or proves that none does.

Anything that cannot be met is an ``features.errors.InputError`` naming the constraint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from features.errors import InputError
from serving.design_allocation import allocate, balance_targets, check_floor
from serving.design_groups import SOURCE, Groups, build_groups
from serving.design_raking import fit_probabilities, tilt

MAX_BALANCE_LEVELS = 100
"""A balancing column with more levels than this is refused (each level is a row of the cube)."""


@dataclass(frozen=True)
class Design:
    """Inclusion probabilities and the groups and targets they were fitted to."""

    pi: np.ndarray
    equal: np.ndarray
    allocation: np.ndarray
    groups: Groups
    targets: dict[str, np.ndarray]
    officer_cap: int
    hard: dict[str, np.ndarray] = field(default_factory=dict)
    """Per balancing column with hard minimums, each level's minimum (0: none, a soft row)."""

    @property
    def size(self) -> int:
        """The sample size n."""
        return int(self.allocation.sum())

    @cached_property
    def block_pi(self) -> np.ndarray:
        """Σπ of each officer × stratum block (``groups.block`` codes; the officer rule keeps it
        ≤ 1, so no sample takes two cases of one block)."""
        return np.bincount(self.groups.block, weights=self.pi, minlength=self.groups.n_blocks)

    def needs_officer_rows(self) -> bool:
        """True when some officer spans more strata than the cap (blocks alone don't cap them)."""
        spans = np.bincount(self.groups.block_officer, minlength=len(self.groups.officer_names))
        return bool((spans > self.officer_cap).any())


def build_design(
    frame: pd.DataFrame,
    score: np.ndarray,
    *,
    size: int,
    strata: list[str],
    balance: list[str],
    minimums: dict[tuple[str, str], int],
    officer_cap: int,
    risk_weight: float,
    floor: float,
    hard: frozenset[str] = frozenset(),
) -> Design:
    """Inclusion probabilities for ``frame`` (scores aligned with its rows) under a request.

    ``hard`` names the balancing columns whose minimums every draw must meet (balanced method).
    """
    if size > len(frame):
        raise InputError(
            f"size {size} is larger than the frame ({len(frame)} cases)",
            source=SOURCE,
            column="size",
        )
    groups = build_groups(frame, strata, balance)
    for column, (_, levels) in groups.balance.items():
        if len(levels) > MAX_BALANCE_LEVELS:
            raise InputError(
                f"balancing column {column} has {len(levels)} values, more than the cap of "
                f"{MAX_BALANCE_LEVELS}: balance on a coarser column (e.g. region for office)",
                source=SOURCE,
                column="balance",
            )
    allocation = allocate(frame, groups, size, strata, minimums, officer_cap)
    population = np.bincount(groups.stratum, minlength=groups.n_strata)
    equal = (allocation / population)[groups.stratum]
    check_floor(groups, floor * equal, floor, officer_cap)
    targets = balance_targets(groups, equal, minimums, size, hard)
    weight = tilt(score, groups.stratum, risk_weight)
    pi = fit_probabilities(weight, equal, floor, allocation, groups, targets, officer_cap, minimums)
    return Design(
        pi=pi,
        equal=equal,
        allocation=allocation,
        groups=groups,
        targets=targets,
        officer_cap=officer_cap,
        hard={
            column: np.array([minimums.get((column, str(v)), 0) for v in levels])
            for column, (_, levels) in groups.balance.items()
            if column in hard
        },
    )
