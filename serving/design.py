"""Inclusion probabilities of a risk-weighted stratified design.

The construction, in order (each step documented in the README's sampling section):

1. **Allocation**: the size is shared among the explicit strata in proportion to their caseload
   (largest remainder), at least one case per stratum so every case has a positive chance, then
   moved between strata to meet minimums on stratifying columns.
2. **Tilt**: inside a stratum, π ∝ (1 − λ) + λ·score² / mean score² of the stratum, so λ = 0 is
   today's equal chance and λ = 1 is probability proportional to the squared predicted risk.
3. **Bounds and calibration** (bounded raking): π is raked so that the expected count of every
   balancing group equals its proportional target (or its minimum, if larger) and every
   stratum sums to its allocation, while keeping π ≥ floor × the equal chance, π ≤ 1, each
   officer × stratum block ≤ 1 and each officer ≤ the cap.

Anything that cannot be met is an :class:`~features.errors.InputError` naming the constraint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.errors import InputError

SOURCE = "sample request"
TOLERANCE = 1e-10
MAX_ROUNDS = 5000


@dataclass(frozen=True)
class Groups:
    """Integer codes of the frame's cases in each grouping the design uses."""

    stratum: np.ndarray
    stratum_names: np.ndarray
    officer: np.ndarray
    officer_names: np.ndarray
    block: np.ndarray
    block_stratum: np.ndarray
    block_officer: np.ndarray
    balance: dict[str, tuple[np.ndarray, np.ndarray]]

    @property
    def n_strata(self) -> int:
        """Number of explicit strata."""
        return len(self.stratum_names)

    @property
    def n_blocks(self) -> int:
        """Number of officer × stratum blocks."""
        return len(self.block_stratum)


@dataclass(frozen=True)
class Design:
    """Inclusion probabilities and the groups and targets they were fitted to."""

    pi: np.ndarray
    equal: np.ndarray
    allocation: np.ndarray
    groups: Groups
    targets: dict[str, np.ndarray]
    officer_cap: int

    @property
    def size(self) -> int:
        """The sample size n."""
        return int(self.allocation.sum())

    def needs_officer_rows(self) -> bool:
        """True when some officer spans more strata than the cap (blocks alone don't cap them)."""
        spans = np.bincount(self.groups.block_officer, minlength=len(self.groups.officer_names))
        return bool((spans > self.officer_cap).any())


def codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and sorted level names of a column."""
    codes_, levels = pd.factorize(values, sort=True)
    return codes_.astype(np.int64), np.asarray(levels, dtype=str).astype(object)


def combined_codes(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the combinations of ``columns`` and readable names, e.g. ``Office 3 / female``.

    Without columns there is one group, 'all'.
    """
    if not columns:
        return np.zeros(len(frame), dtype=np.int64), np.array(["all"], dtype=object)
    parts = [codes(frame[column]) for column in columns]
    key = np.ravel_multi_index([c for c, _ in parts], [len(levels) for _, levels in parts])
    code, unique = pd.factorize(key, sort=True)
    index = np.unravel_index(np.asarray(unique), [len(levels) for _, levels in parts])
    names = [
        " / ".join(str(levels[i]) for (_, levels), i in zip(parts, combo, strict=True))
        for combo in zip(*index, strict=True)
    ]
    return code.astype(np.int64), np.array(names, dtype=object)


def build_groups(frame: pd.DataFrame, strata: list[str], balance: list[str]) -> Groups:
    """Codes for strata, officers, officer × stratum blocks and balancing columns."""
    stratum, stratum_names = combined_codes(frame, strata)
    officer, officer_names = codes(frame["officer_id"])
    block_key = stratum * len(officer_names) + officer
    block, block_keys = pd.factorize(block_key, sort=True)
    block_keys = np.asarray(block_keys, dtype=np.int64)
    return Groups(
        stratum=stratum,
        stratum_names=stratum_names,
        officer=officer,
        officer_names=officer_names,
        block=block.astype(np.int64),
        block_stratum=block_keys // len(officer_names),
        block_officer=block_keys % len(officer_names),
        balance={column: codes(frame[column]) for column in balance},
    )


def largest_remainder(total: int, weights: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Integers ≥ ``lower`` summing to ``total``, as proportional to ``weights`` as possible."""
    counts = lower.astype(np.int64).copy()
    free = total - counts.sum()
    if free < 0:
        raise ValueError("lower bounds exceed the total")
    for _ in range(len(weights) + 1):
        quota = total * weights / weights.sum()
        extra = np.maximum(quota - counts, 0)
        if free == 0 or extra.sum() == 0:
            break
        share = extra / extra.sum() * free
        whole = np.floor(share).astype(np.int64)
        counts += whole
        free -= whole.sum()
        if free:
            remainder = share - whole
            counts[np.argsort(-remainder, kind="stable")[:free]] += 1
            free = 0
    return counts


def allocate(
    frame: pd.DataFrame,
    groups: Groups,
    size: int,
    strata: list[str],
    minimums: dict[tuple[str, str], int],
    officer_cap: int,
) -> np.ndarray:
    """Cases per stratum: proportional, ≥ 1 each, minimums on stratifying columns met."""
    population = np.bincount(groups.stratum, minlength=groups.n_strata)
    capacity = np.minimum(population, np.bincount(groups.block_stratum, minlength=groups.n_strata))
    if size > capacity.sum():
        raise InputError(
            f"size {size} is more than the {capacity.sum()} cases the officer × stratum rule "
            "allows (at most one case per officer in each stratum)",
            source=SOURCE,
            column="size",
        )
    if size < groups.n_strata:
        raise InputError(
            f"size {size} is smaller than the {groups.n_strata} strata: every stratum needs at "
            "least one case so that every case has a positive chance",
            source=SOURCE,
            column="size",
        )
    lower = np.ones(groups.n_strata, dtype=np.int64)
    stratum_values = frame.groupby(groups.stratum, sort=True)[strata].first() if strata else None
    for (column, value), minimum in minimums.items():
        if column not in strata:
            continue
        member = (stratum_values[column].astype(str) == value).to_numpy()
        if member.any() and lower[member].sum() < minimum:
            in_group = largest_remainder(minimum, population[member], lower[member])
            lower[member] = np.maximum(lower[member], in_group)
    allocation = largest_remainder(size, population.astype(float), lower)
    over = allocation > capacity
    for _ in range(groups.n_strata):
        if not over.any():
            break
        allocation = np.minimum(allocation, capacity)
        room = np.where(allocation < capacity, population, 0).astype(float)
        missing = size - allocation.sum()
        if room.sum() == 0:
            break
        allocation += np.minimum(
            largest_remainder(missing, room, np.zeros_like(allocation)), capacity - allocation
        )
        over = allocation > capacity
    if allocation.sum() != size or (allocation > capacity).any():
        raise InputError(
            f"size {size} cannot be spread over the strata within their capacity "
            f"(one case per officer per stratum): capacities {capacity.tolist()}",
            source=SOURCE,
            column="strata",
        )
    _check_officer_cap(groups, size, officer_cap)
    return allocation


def _check_officer_cap(groups: Groups, size: int, officer_cap: int) -> None:
    spans = np.bincount(groups.block_officer, minlength=len(groups.officer_names))
    reachable = np.minimum(spans, officer_cap).sum()
    if reachable < size:
        raise InputError(
            f"officer cap {officer_cap} × {len(groups.officer_names)} officers allows at most "
            f"{reachable} cases, fewer than the size {size}",
            source=SOURCE,
            column="officer_cap",
        )


def balance_targets(
    groups: Groups, equal: np.ndarray, minimums: dict[tuple[str, str], int], size: int
) -> dict[str, np.ndarray]:
    """Expected count per balancing group: proportional (equal-chance design), raised to minimums.

    Raising a group to its minimum takes the cases from the other groups of that column in
    proportion to their targets.
    """
    targets = {}
    for column, (code, levels) in groups.balance.items():
        target = np.bincount(code, weights=equal, minlength=len(levels))
        population = np.bincount(code, minlength=len(levels))
        floor = np.zeros(len(levels))
        for index, level in enumerate(levels):
            minimum = minimums.get((column, str(level)))
            if minimum is None:
                continue
            if minimum > population[index]:
                raise InputError(
                    f"minimum {column}={level}: {minimum} cases asked for but the frame holds "
                    f"only {population[index]}",
                    source=SOURCE,
                    column="minimums",
                )
            floor[index] = minimum
        if floor.sum() > size:
            raise InputError(
                f"minimums on {column} add up to {floor.sum():.0f}, more than the size {size}",
                source=SOURCE,
                column="minimums",
            )
        for _ in range(len(levels)):
            raised = target < floor
            if not raised.any():
                break
            target = np.where(raised, floor, target)
            free = ~raised & (target > 0)
            target[free] *= (size - target[~free].sum()) / target[free].sum()
        targets[column] = target
    return targets


def tilt(score: np.ndarray, stratum: np.ndarray, risk_weight: float) -> np.ndarray:
    """Relative selection weight: (1 − λ) + λ · (score / the stratum's mean score)².

    Squared because the yield-optimal tilt under a design-effect budget is convex in the risk
    (π ∝ 1/√(c − risk) from the Lagrangian), and the square gets most of that gain.
    """
    relative = score**2
    total = np.bincount(stratum, weights=relative)
    count = np.bincount(stratum)
    mean = np.divide(total, count, out=np.ones_like(total), where=total > 0)
    return (1 - risk_weight) + risk_weight * relative / mean[stratum]


def _scale_groups(pi: np.ndarray, code: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Scale each group so its total equals ``target``."""
    total = np.bincount(code, weights=pi, minlength=len(target))
    factor = np.divide(target, total, out=np.ones(len(target)), where=total > 0)
    return pi * factor[code]


def _shrink(pi: np.ndarray, lower: np.ndarray, code: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Pull each group whose total exceeds ``cap`` toward the lower bounds until it equals cap."""
    total = np.bincount(code, weights=pi, minlength=len(cap))
    over = total > cap
    if not over.any():
        return pi
    base = np.bincount(code, weights=lower, minlength=len(cap))
    room = total - base
    factor = np.ones(len(cap))
    np.divide(np.maximum(cap - base, 0.0), room, out=factor, where=over & (room > 0))
    return lower + (pi - lower) * factor[code]


def fit_probabilities(
    weight: np.ndarray,
    equal: np.ndarray,
    floor: float,
    allocation: np.ndarray,
    groups: Groups,
    targets: dict[str, np.ndarray],
    officer_cap: int,
) -> np.ndarray:
    """Bounded raking of the tilted weights to strata totals and balancing targets."""
    lower = floor * equal
    pi = _scale_groups(weight, groups.stratum, allocation.astype(float))
    for _ in range(MAX_ROUNDS):
        for column, (code, _) in groups.balance.items():
            pi = _scale_groups(pi, code, targets[column])
        pi = _bounded_strata(pi, lower, allocation.astype(float), groups, officer_cap)
        if _balance_gap(pi, groups, targets) < 1e-9:
            return pi
    _report_unmet(pi, groups, targets)
    raise AssertionError("unreachable")


def _balance_gap(pi: np.ndarray, groups: Groups, targets: dict[str, np.ndarray]) -> float:
    gaps = [
        np.abs(np.bincount(code, weights=pi, minlength=len(targets[c])) - targets[c]).max()
        for c, (code, _) in groups.balance.items()
    ]
    return max(gaps, default=0.0)


def _bounded_strata(
    pi: np.ndarray, lower: np.ndarray, target: np.ndarray, groups: Groups, officer_cap: int
) -> np.ndarray:
    """Make every stratum sum to its allocation while every bound holds (water-filling).

    Bounds: lower ≤ π ≤ 1, each officer × stratum block ≤ 1, each officer ≤ the cap.
    """
    block_cap = np.ones(groups.n_blocks)
    officer_cap_ = np.full(len(groups.officer_names), float(officer_cap))
    for _ in range(500):
        pi = np.clip(pi, lower, 1.0)
        pi = _shrink(pi, lower, groups.block, block_cap)
        pi = _shrink(pi, lower, groups.officer, officer_cap_)
        total = np.bincount(groups.stratum, weights=pi, minlength=len(target))
        if np.abs(total - target).max() <= TOLERANCE:
            # polish: the cases strictly inside their bounds absorb the last rounding error
            inside = (pi < 1.0) & (pi > lower)
            loose = np.bincount(
                groups.stratum, weights=np.where(inside, pi, 0.0), minlength=len(target)
            )
            factor = np.divide(total - target, loose, out=np.zeros(len(target)), where=loose > 0)
            return np.where(inside, pi * (1.0 - factor[groups.stratum]), pi)
        # too much: pull toward the lower bounds; too little: grow the cases with room left
        pi = _shrink(pi, lower, groups.stratum, target)
        block_full = np.bincount(groups.block, weights=pi, minlength=groups.n_blocks) >= 1 - 1e-12
        officer_full = (
            np.bincount(groups.officer, weights=pi, minlength=len(officer_cap_))
            >= officer_cap - 1e-12
        )
        free = (pi < 1 - 1e-12) & ~block_full[groups.block] & ~officer_full[groups.officer]
        held = np.bincount(groups.stratum, weights=np.where(free, 0.0, pi), minlength=len(target))
        loose = np.bincount(groups.stratum, weights=np.where(free, pi, 0.0), minlength=len(target))
        grow = (total < target) & (loose > 0)
        factor = np.where(grow, (target - held) / np.where(loose > 0, loose, 1.0), 1.0)
        pi = np.where(free, pi * factor[groups.stratum], pi)
    total = np.bincount(groups.stratum, weights=pi, minlength=len(target))
    worst = int(np.argmax(np.abs(total - target)))
    raise InputError(
        f"stratum {groups.stratum_names[worst]}: cannot reach its {target[worst]:.0f} cases "
        f"within the bounds (floor, at most one case per officer, officer cap {officer_cap})",
        source=SOURCE,
        column="strata",
    )


def _check_floor(groups: Groups, lower: np.ndarray, floor: float, officer_cap: int) -> None:
    """The floors of one officer's cases must fit in a block (1) and under the officer cap."""
    for code, names, cap, what in (
        (groups.block, None, 1.0, "in one stratum"),
        (groups.officer, groups.officer_names, float(officer_cap), "in all"),
    ):
        total = np.bincount(code, weights=lower)
        worst = int(np.argmax(total))
        if total[worst] > cap + 1e-9:
            officer = (
                names[worst]
                if names is not None
                else groups.officer_names[groups.block_officer[worst]]
            )
            raise InputError(
                f"floor {floor}: officer {officer}'s cases {what} would need {total[worst]:.2f} "
                f"expected cases, above the limit of {cap:g}; lower the floor",
                source=SOURCE,
                column="floor",
            )


def _report_unmet(pi: np.ndarray, groups: Groups, targets: dict[str, np.ndarray]) -> None:
    worst = max(
        (
            (abs(got - want), column, level, got, want)
            for column, (code, levels) in groups.balance.items()
            for level, got, want in zip(
                levels,
                np.bincount(code, weights=pi, minlength=len(levels)),
                targets[column],
                strict=True,
            )
        ),
    )
    _, column, level, got, want = worst
    raise InputError(
        f"balancing group {column}={level}: its expected count {want:.2f} cannot be met within "
        f"the strata, floor and officer limits (best reached {got:.2f})",
        source=SOURCE,
        column="balance",
    )


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
) -> Design:
    """Inclusion probabilities for ``frame`` (scores aligned with its rows) under a request."""
    if size > len(frame):
        raise InputError(
            f"size {size} is larger than the frame ({len(frame)} cases)",
            source=SOURCE,
            column="size",
        )
    groups = build_groups(frame, strata, balance)
    allocation = allocate(frame, groups, size, strata, minimums, officer_cap)
    population = np.bincount(groups.stratum, minlength=groups.n_strata)
    equal = (allocation / population)[groups.stratum]
    _check_floor(groups, floor * equal, floor, officer_cap)
    targets = balance_targets(groups, equal, minimums, size)
    weight = tilt(score, groups.stratum, risk_weight)
    pi = fit_probabilities(weight, equal, floor, allocation, groups, targets, officer_cap)
    return Design(
        pi=pi,
        equal=equal,
        allocation=allocation,
        groups=groups,
        targets=targets,
        officer_cap=officer_cap,
    )
