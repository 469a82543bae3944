"""The two selection methods: each returns a 0/1 mask whose expectation is the design's π.

* ``systematic``: stratified systematic πps. Each stratum is laid out officer by officer (officers
  and their cases in a fresh random order every draw) and cut with one random start; because no
  officer × stratum block holds more than 1 of π, a block yields at most one case.
* ``balanced``: the cube method (:mod:`serving.cube`) with strata, blocks and officer caps as hard
  rows and the balancing categories as soft rows.
"""

from __future__ import annotations

import numpy as np

from serving.cube import EPSILON, flight_and_landing
from serving.design import Design
from serving.landing import land

METHODS = ("systematic", "balanced")
SNAP = 1e-9


def layout(design: Design, rng: np.random.Generator) -> np.ndarray:
    """Frame rows ordered by stratum, then officer (random order), then case (random order)."""
    groups = design.groups
    officer_key = rng.permutation(len(groups.officer_names))[groups.officer]
    case_key = rng.random(len(design.pi))
    return np.lexsort((case_key, officer_key, groups.stratum))


def systematic(design: Design, rng: np.random.Generator) -> np.ndarray:
    """One stratified systematic πps draw: a boolean mask over the frame."""
    if design.needs_officer_rows():
        raise ValueError("systematic selection needs every officer to span at most cap strata")
    order = layout(design, rng)
    pi = design.pi[order]
    stratum = design.groups.stratum[order]
    cumulative = np.cumsum(pi)
    first = np.searchsorted(stratum, np.arange(design.groups.n_strata))
    before = np.concatenate(([0.0], cumulative))[first][stratum]
    within = cumulative - before
    start = rng.random(design.groups.n_strata)[stratum]
    hits = np.floor(within - start + SNAP) - np.floor(within - pi - start + SNAP)
    chosen = np.zeros(len(pi), dtype=bool)
    chosen[order] = hits > 0
    return chosen


def constraint_rows(design: Design) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Units (frame cases, then slack units) with their rows, their π, which rows are soft, and
    the slack units' block or officer (for ordering)."""
    groups = design.groups
    n = len(design.pi)
    strata, blocks = groups.n_strata, groups.n_blocks
    officers = len(groups.officer_names) if design.needs_officer_rows() else 0
    balance = [code for code, _ in groups.balance.values()]
    offsets = np.cumsum(
        [strata + blocks + officers] + [len(lv) for _, lv in groups.balance.values()]
    )
    width = 3 + len(balance)
    rows = np.full((n, width), -1, dtype=np.int64)
    rows[:, 0] = groups.stratum
    rows[:, 1] = strata + groups.block
    if officers:
        rows[:, 2] = strata + blocks + groups.officer
    for index, code in enumerate(balance):
        rows[:, 3 + index] = offsets[index] + code
    n_rows = int(offsets[-1])
    soft = np.zeros(n_rows, dtype=bool)
    soft[strata + blocks + officers :] = True

    block_total = np.bincount(groups.block, weights=design.pi, minlength=blocks)
    block_slack = np.clip(1.0 - block_total, 0.0, 1.0)
    slack_rows = [np.full((blocks, width), -1, dtype=np.int64)]
    slack_rows[0][:, 1] = strata + np.arange(blocks)
    slack_pi = [block_slack]
    slack_block = [np.arange(blocks)]
    if officers:
        cap = design.officer_cap
        officer_total = np.bincount(groups.officer, weights=design.pi, minlength=officers)
        share = np.clip(cap - officer_total, 0.0, cap) / cap
        units = np.repeat(np.arange(officers), cap)
        extra = np.full((len(units), width), -1, dtype=np.int64)
        extra[:, 2] = strata + blocks + units
        slack_rows.append(extra)
        slack_pi.append(share[units])
        slack_block.append(np.full(len(units), blocks))
    all_rows = np.vstack([rows, *slack_rows])
    all_pi = np.concatenate([design.pi, *slack_pi])
    return all_rows, all_pi, soft, np.concatenate(slack_block)


def balanced(design: Design, rng: np.random.Generator) -> np.ndarray:
    """One balanced (cube) draw: a boolean mask over the frame."""
    rows, pi, soft, slack_block = constraint_rows(design)
    n = len(design.pi)
    order = layout(design, rng)
    # each block's slack unit goes right after the block's last case; officer slacks go last
    block_of = design.groups.block[order]
    last_in_block = np.zeros(design.groups.n_blocks + 1, dtype=np.int64)
    last_in_block[block_of] = np.arange(n)
    last_in_block[-1] = n
    slack_position = last_in_block[slack_block] + 0.5
    position = np.concatenate([np.empty(n), slack_position])
    position[order] = np.arange(n)
    full_order = np.argsort(position, kind="stable")
    uniforms = rng.random(len(pi) + 1)
    flown = flight_and_landing(pi, rows, soft, full_order, uniforms, False)
    fractional = np.flatnonzero((flown > EPSILON) & (flown < 1 - EPSILON))
    if len(fractional):
        landed = _land_fractional(flown, fractional, rows, soft, rng)
        if landed is None:
            flown = flight_and_landing(flown, rows, soft, full_order, uniforms[::-1], True)
        else:
            flown[fractional] = landed
    return flown[:n] > 0.5


def _land_fractional(
    pi: np.ndarray, fractional: np.ndarray, rows: np.ndarray, soft: np.ndarray, rng
) -> np.ndarray | None:
    """LP landing over the units the flight left fractional (None when there are too many)."""
    touched = np.unique(rows[fractional][rows[fractional] >= 0])
    local = {row: i for i, row in enumerate(touched)}
    member = np.zeros((len(touched), len(fractional)))
    for j, unit in enumerate(fractional):
        for row in rows[unit][rows[unit] >= 0]:
            member[local[row], j] = 1.0
    return land(pi[fractional], member, ~soft[touched], rng)


def select(design: Design, method: str, rng: np.random.Generator) -> np.ndarray:
    """Draw one sample with ``method``: a boolean mask over the frame."""
    if method == "systematic":
        return systematic(design, rng)
    if method == "balanced":
        return balanced(design, rng)
    raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
