"""Allocation of the sample size to the explicit strata, and the balancing targets.

The size is shared among the strata in proportion to their caseload (largest remainder), at
least one case per stratum so every case has a positive chance, at most one per officer ×
stratum block, then moved between strata to meet minimums on stratifying columns. Each
balancing group's expected count is its proportional share, raised to its minimum.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from features.errors import InputError
from serving.design_groups import SOURCE, Groups

HEADROOM = 1.0
"""Expected cases above a hard minimum (balanced method)."""
COARSER: dict[str, str] = {"officer_id": "office", "office": "region", "provider": "region"}
"""What a refusal offers instead of a stratifying column that makes too many strata."""


def proportional(
    total: int, weights: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """Integers lower ≤ c ≤ upper summing to ``total``, as proportional to ``weights`` as the
    bounds allow: c ≈ clip(t · weight, lower, upper) with t found by bisection, then largest
    remainders. The caller ensures Σ lower ≤ total ≤ Σ upper."""
    lower, upper = lower.astype(float), upper.astype(float)
    low, high = 0.0, 1.0
    for _ in range(200):  # bracket t: Σ clip(t·w) is non-decreasing in t
        if np.clip(high * weights, lower, upper).sum() >= total:
            break
        high *= 2.0
    for _ in range(200):
        middle = (low + high) / 2
        if np.clip(middle * weights, lower, upper).sum() < total:
            low = middle
        else:
            high = middle
        if high - low <= 1e-12 * high:
            break
    share = np.clip(high * weights, lower, upper)
    counts = np.clip(np.floor(share + 1e-9), lower, upper).astype(np.int64)
    remainder = share - counts
    missing = int(total - counts.sum())
    if missing > 0:
        room = np.flatnonzero(counts < upper)
        counts[room[np.argsort(-remainder[room], kind="stable")[:missing]]] += 1
    elif missing < 0:
        room = np.flatnonzero(counts > lower)
        counts[room[np.argsort(remainder[room], kind="stable")[:-missing]]] -= 1
    return counts


def coarser_strata(frame: pd.DataFrame, strata: list[str], size: int) -> tuple[list[str], int]:
    """The stratification a refusal offers: each column kept, replaced by a coarser one
    (``COARSER``: office → region) or dropped; the most columns, then the most strata, that
    fit ``size``."""
    chains = []
    for column in strata:
        chain = [column]
        while chain[-1] in COARSER and COARSER[chain[-1]] in frame.columns:
            chain.append(COARSER[chain[-1]])
        chains.append([*chain, None])
    best: tuple[tuple[int, int], list[str]] = ((0, 1), [])
    for choice in itertools.product(*chains):
        columns = list(dict.fromkeys(c for c in choice if c is not None))
        count = int(frame.groupby(columns, observed=True).ngroups) if columns else 1
        if count <= size and (len(columns), count) > best[0]:
            best = ((len(columns), count), columns)
    return best[1], best[0][1]


def _too_many_strata(frame: pd.DataFrame, strata: list[str], size: int, n_strata: int) -> None:
    columns, count = coarser_strata(frame, strata, size)
    hint = f"strata {' × '.join(columns)} ({count} strata) fit" if columns else "no strata fit"
    raise InputError(
        f"size {size} is smaller than the {n_strata} strata ({' × '.join(strata)}): every "
        "stratum needs at least one case so that every case has a positive chance; the "
        f"smallest feasible size is {n_strata}, or stratify more coarsely: {hint}",
        source=SOURCE,
        column="size",
    )


def allocate(
    frame: pd.DataFrame,
    groups: Groups,
    size: int,
    strata: list[str],
    minimums: dict[tuple[str, str], int],
    officer_cap: int,
) -> np.ndarray:
    """Cases per stratum: proportional, ≥ 1 each, minimums on stratifying columns met, at most
    one per officer × stratum block."""
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
        _too_many_strata(frame, strata, size, groups.n_strata)
    lower = np.ones(groups.n_strata, dtype=np.int64)
    stratum_values = frame.groupby(groups.stratum, sort=True)[strata].first() if strata else None
    for (column, value), minimum in minimums.items():
        if column not in strata or minimum == 0:
            continue
        member = (stratum_values[column].astype(str) == value).to_numpy()
        room = int(capacity[member].sum())
        if minimum > room:
            raise InputError(
                f"minimum {column}={value}: {minimum} cases asked for but at most {room} can be "
                "drawn (the frame's cases, at most one per officer in each stratum)",
                source=SOURCE,
                column="minimums",
            )
        if lower[member].sum() < minimum:
            lower[member] = proportional(
                minimum, population[member].astype(float), lower[member], capacity[member]
            )
    if lower.sum() > size:
        raise InputError(
            f"the minimums on stratifying columns with one case per stratum need "
            f"{lower.sum()} cases, more than the size {size}: the smallest feasible size is "
            f"{lower.sum()}",
            source=SOURCE,
            column="minimums",
        )
    allocation = proportional(size, population.astype(float), lower, capacity)
    _check_officer_cap(groups, size, officer_cap)
    return allocation


def _check_officer_cap(groups: Groups, size: int, officer_cap: int) -> None:
    spans = np.bincount(groups.block_officer, minlength=len(groups.officer_names))
    reachable = np.minimum(spans, officer_cap).sum()
    if reachable < size:
        reach = np.minimum(spans[None, :], np.arange(1, spans.max() + 1)[:, None]).sum(axis=1)
        works = int(np.argmax(reach >= size)) + 1
        raise InputError(
            f"officer cap {officer_cap} × {len(groups.officer_names)} officers allows at most "
            f"{reachable} cases, fewer than the size {size}; an officer cap of {works} would "
            "allow it",
            source=SOURCE,
            column="officer_cap",
        )


def balance_targets(
    groups: Groups,
    equal: np.ndarray,
    minimums: dict[tuple[str, str], int],
    size: int,
    hard: frozenset[str],
) -> dict[str, np.ndarray]:
    """Expected count per balancing group: proportional (equal-chance design), raised to minimums.

    Raising a group to its minimum takes the cases from the other groups of that column in
    proportion to their targets. A hard minimum's target is at least the minimum plus
    ``HEADROOM`` (or less, when the size or the group leaves less room), so that the cube
    has room to meet it in every draw.
    """
    targets = {}
    for column, (code, levels) in groups.balance.items():
        target = np.bincount(code, weights=equal, minlength=len(levels))
        population = np.bincount(code, minlength=len(levels))
        floor = np.zeros(len(levels))
        for (name, value), minimum in minimums.items():
            if name != column or minimum == 0:
                continue
            index = np.flatnonzero(levels == value)
            held = int(population[index[0]]) if len(index) else 0
            if minimum > held:
                raise InputError(
                    f"minimum {column}={value}: {minimum} cases asked for but the frame holds "
                    f"only {held}",
                    source=SOURCE,
                    column="minimums",
                )
            floor[index[0]] = minimum
        if floor.sum() > size:
            raise InputError(
                f"minimums on {column} add up to {floor.sum():.0f}, more than the size {size}: "
                f"the smallest feasible size is {floor.sum():.0f}",
                source=SOURCE,
                column="minimums",
            )
        if column in hard:  # room above a hard minimum, so that draws can vary and meet it
            raised = floor > 0
            room = min(HEADROOM, (size - floor.sum()) / max(raised.sum(), 1))
            floor = np.where(raised, np.minimum(floor + room, population), 0.0)
        for _ in range(len(levels)):
            raised = target < floor
            if not raised.any():
                break
            target = np.where(raised, floor, target)
            free = ~raised & (target > 0)
            target[free] *= (size - target[~free].sum()) / target[free].sum()
        targets[column] = target
    return targets


def check_floor(groups: Groups, lower: np.ndarray, floor: float, officer_cap: int) -> None:
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
