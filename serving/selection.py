"""The two selection methods: each returns a 0/1 mask whose expectation is the design's π.

* ``systematic``: stratified systematic πps. Each stratum is laid out officer by officer (officers
  and their cases in a fresh random order every draw) and cut with one random start; because no
  officer × stratum block holds more than 1 of π, a block yields at most one case.
* ``balanced``: the cube method (``serving.cube``) with strata, blocks and officer caps as hard
  rows, the categories with a hard minimum as rows dropped last, and the other balancing
  categories as soft rows. The landing, in order, each step bounded and none raising:

  1. linear programming over the ≤ 40 units the flight left fractional (``serving.landing``):
     π exact, hard rows exact, soft margins as close as possible;
  2. otherwise the cube landing: rows dropped one at a time (soft rows, lowest priority first,
     then minimum rows), so it lands with the best margins it can;
  3. units that rounding drift (~1e-9) leaves fractional on the hard rows alone are rounded by a
     small integer program that meets strata, blocks and officer caps exactly.

  Which path a draw took, its worst margin, any minimum it could not guarantee and whether a
  flight stopped at its step bound are reported
  (``Landing``, in the design summary).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from serving.cube import STEP_LIMIT, flight_and_landing
from serving.design import Design
from serving.landing import MAX_UNITS, land

METHODS = ("systematic", "balanced")
SNAP = 1e-9
DRIFT = 1e-6
"""After the flight, units this close to 0 or 1 are rounding drift and are snapped."""
SOFT_RANK = 1_000_000
"""Ranks of the cube's rows: −1 never dropped, minimum rows below this, soft rows above."""


@dataclass
class Landing:
    """How one draw ended: the path, its worst balancing margin, and what was given up."""

    path: str
    worst_margin: float = 0.0
    minimums_unmet: list[str] = field(default_factory=list)
    repaired_units: int = 0
    step_limit: bool = False
    """A flight stopped at its step bound (never seen: the bound is a safety net)."""

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (for the design summary)."""
        return asdict(self)


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


@dataclass
class Rows:
    """The cube's units (frame cases, then slack units), their rows and π, and the rows' ranks."""

    unit_rows: np.ndarray
    coefficient: np.ndarray
    pi: np.ndarray
    rank: np.ndarray
    minimum: np.ndarray
    free: int
    slack_block: np.ndarray
    slack_officer: np.ndarray


def constraint_rows(design: Design) -> Rows:
    """Rows: strata, officer × stratum blocks, officers spanning more strata than the cap, then
    every balancing category; slack units make the "at most" rows of blocks and officers
    equalities."""
    groups = design.groups
    n = len(design.pi)
    strata, blocks = groups.n_strata, groups.n_blocks
    spans = np.bincount(groups.block_officer, minlength=len(groups.officer_names))
    capped = np.flatnonzero(spans > design.officer_cap)
    officer_row = np.full(len(groups.officer_names), -1, dtype=np.int64)
    officer_row[capped] = np.arange(len(capped))
    officers = len(capped)
    offsets = np.cumsum(
        [strata + blocks + officers] + [len(lv) for _, lv in groups.balance.values()]
    )
    hard = [
        (column, index, int(m))
        for column, minimum in design.hard.items()
        for index, m in enumerate(minimum)
        if m > 0
    ]
    hard_columns = list(dict.fromkeys(column for column, _, _ in hard))
    width = 3 + len(groups.balance) + len(hard_columns)
    rows = np.full((n, width), -1, dtype=np.int64)
    rows[:, 0] = groups.stratum
    rows[:, 1] = strata + groups.block
    own = officer_row[groups.officer]
    rows[:, 2] = np.where(own >= 0, strata + blocks + own, -1)
    rank = np.full(int(offsets[-1]), -1, dtype=np.int64)
    minimum = np.zeros(int(offsets[-1]), dtype=np.int64)
    for index, (column, (code, levels)) in enumerate(groups.balance.items()):
        start = offsets[index]
        rows[:, 3 + index] = start + code
        span = np.arange(start, start + len(levels))
        minimum[span] = design.hard.get(column, np.zeros(len(levels), dtype=np.int64))
        rank[span] = SOFT_RANK + span
    # a minimum m on group g (target T): Σ_{k ∈ g} I_k − Σ slack = m, the slack units (−1)
    # carrying T − m; so the group's count is m plus the slack drawn, never less than m
    first = int(offsets[-1])
    rank = np.concatenate([rank, np.arange(first, first + len(hard))])
    minimum = np.concatenate([minimum, np.zeros(len(hard), dtype=np.int64)])
    minimum_slack = []
    for i, (column, index, m) in enumerate(hard):
        code, levels = groups.balance[column]
        slot = 3 + len(groups.balance) + hard_columns.index(column)
        rows[code == index, slot] = first + i
        mass = float(design.targets[column][index]) - m
        count = 2 * int(np.ceil(mass - 1e-9)) if mass > 1e-9 else 0
        unit = np.full((count, width), -1, dtype=np.int64)
        unit[:, slot] = first + i
        minimum_slack.append((unit, np.full(count, mass / max(count, 1))))

    block_slack = np.clip(1.0 - design.block_pi, 0.0, 1.0)
    block_units = np.full((blocks, width), -1, dtype=np.int64)
    block_units[:, 1] = strata + np.arange(blocks)
    slack_rows, slack_pi = [block_units], [block_slack]
    slack_block = [np.arange(blocks)]
    if officers:
        total = np.bincount(groups.officer, weights=design.pi)[capped]
        mass = np.clip(design.officer_cap - total, 0.0, None)
        count = np.ceil(mass - 1e-12).astype(np.int64)
        units = np.repeat(np.arange(officers), count)
        extra = np.full((len(units), width), -1, dtype=np.int64)
        extra[:, 2] = strata + blocks + units
        slack_rows.append(extra)
        slack_pi.append((mass / np.maximum(count, 1))[units])
        slack_block.append(np.full(len(units), blocks))
        slack_officer = np.concatenate([np.zeros(blocks, dtype=np.int64), capped[units]])
    else:
        slack_officer = np.zeros(blocks, dtype=np.int64)
    for unit, mass in minimum_slack:  # placed last in the flight order
        slack_rows.append(unit)
        slack_pi.append(mass)
    free = sum(len(mass) for _, mass in minimum_slack)
    unit_rows = np.vstack([rows, *slack_rows])
    coefficient = np.ones(unit_rows.shape)
    coefficient[len(unit_rows) - free :, 3 + len(groups.balance) :] = -1.0
    return Rows(
        unit_rows=unit_rows,
        coefficient=coefficient,
        pi=np.concatenate([design.pi, *slack_pi]),
        rank=rank,
        minimum=minimum,
        free=free,
        slack_block=np.concatenate(slack_block),
        slack_officer=slack_officer,
    )


def _order(design: Design, rows: Rows, rng: np.random.Generator) -> np.ndarray:
    """Flight order: officers grouped (by their first stratum, then at random), each officer's
    blocks in turn, cases at random; each slack unit right after its block's or officer's last
    case. So a block's, an officer's and mostly a stratum's rows close soon after they open,
    and the window stays a few dozen units wide."""
    groups = design.groups
    n = len(design.pi)
    first_stratum = np.full(len(groups.officer_names), groups.n_strata, dtype=np.int64)
    np.minimum.at(first_stratum, groups.officer, groups.stratum)
    officer_key = rng.permutation(len(groups.officer_names))
    order = np.lexsort(
        (
            rng.random(n),
            groups.stratum,
            officer_key[groups.officer],
            first_stratum[groups.officer],
        )
    )
    last = np.zeros(groups.n_blocks + 1, dtype=np.int64)
    last[groups.block[order]] = np.arange(n)
    last[-1] = n
    officer_last = np.zeros(len(groups.officer_names), dtype=np.int64)
    officer_last[groups.officer[order]] = np.arange(n)
    slack_position = np.where(
        rows.slack_block < groups.n_blocks,
        last[np.minimum(rows.slack_block, groups.n_blocks)],
        officer_last[rows.slack_officer],
    )
    ends = len(rows.pi) - n - len(slack_position)
    position = np.concatenate([np.empty(n), slack_position + 0.5, np.full(ends, n + 1.0)])
    position[order] = np.arange(n)
    return np.argsort(position, kind="stable")


def balanced(design: Design, rng: np.random.Generator) -> tuple[np.ndarray, Landing]:
    """One balanced (cube) draw: a boolean mask over the frame and how it landed."""
    rows = constraint_rows(design)
    order = _order(design, rows, rng)
    uniforms = rng.random(len(rows.pi) + 1)
    flown, outcome = flight_and_landing(
        rows.pi, rows.unit_rows, rows.coefficient, rows.rank, order, uniforms, False
    )
    outcomes = [outcome]
    path = "flight"
    hard = rows.rank < SOFT_RANK
    keep_minimums = np.where(hard, -1, rows.rank)
    for stage, rank in (("cube landing", keep_minimums), ("cube landing, minimums dropped", None)):
        fractional = _fractional(flown)
        if not len(fractional):
            break
        if _land_lp(flown, fractional, rows, rng):
            path = "linear programming" if path == "flight" else f"{path}, linear programming"
            break
        path = stage
        flown, outcome = flight_and_landing(
            flown,
            rows.unit_rows,
            rows.coefficient,
            rows.rank if rank is None else rank,
            order,
            uniforms[::-1],
            True,
        )
        outcomes.append(outcome)
    landing = Landing(path, step_limit=STEP_LIMIT in outcomes)
    fractional = _fractional(flown)
    if len(fractional):
        flown[fractional] = _repair(flown, fractional, rows, rng)
        landing.repaired_units = len(fractional)
    chosen = flown[: len(design.pi)] > 0.5
    landing.worst_margin = worst_margin(design, chosen)
    landing.minimums_unmet = unmet_minimums(design, chosen)
    return chosen, landing


def unmet_minimums(design: Design, chosen: np.ndarray) -> list[str]:
    """Hard minimums a draw missed (only a draw whose landing had to drop them can)."""
    unmet = []
    for column, minimum in design.hard.items():
        code, levels = design.groups.balance[column]
        drawn = np.bincount(code[chosen], minlength=len(levels))
        unmet += [f"{column}={v}" for v, d, m in zip(levels, drawn, minimum, strict=True) if d < m]
    return unmet


def _fractional(pi: np.ndarray) -> np.ndarray:
    """Units still fractional; those within ``DRIFT`` of 0 or 1 are snapped in place."""
    near = (pi <= DRIFT) | (pi >= 1 - DRIFT)
    pi[near] = np.round(pi[near])
    return np.flatnonzero(~near)


def _membership(fractional: np.ndarray, rows: Rows) -> tuple[np.ndarray, np.ndarray]:
    """The rows the ``fractional`` units touch (but the minimums' rows, which the landing states
    as "at least" on the group's balancing row) and a rows × units 0/1 matrix."""
    unit_rows = rows.unit_rows[fractional]
    unit_rows = np.where(
        (unit_rows >= 0) & (rows.rank[unit_rows] >= 0) & (rows.rank[unit_rows] < SOFT_RANK),
        -1,
        unit_rows,
    )
    touched = np.unique(unit_rows[unit_rows >= 0])
    member = np.zeros((len(touched), len(fractional)))
    unit, slot = np.nonzero(unit_rows >= 0)
    member[np.searchsorted(touched, unit_rows[unit, slot]), unit] = 1.0
    return touched, member


def _land_lp(pi: np.ndarray, fractional: np.ndarray, rows: Rows, rng: np.random.Generator) -> bool:
    """LP landing over the units the flight left fractional, in place (False when there are
    too many or no candidate meets the rules):
    strata, blocks and officers exact, every hard minimum met, soft margins closest. The slack
    units of the minimums' rows (the last ``rows.free``) are left out: those rows are stated as
    "at least" on the groups, and the slacks are set to 0."""
    slacks = fractional[fractional >= len(pi) - rows.free]
    fractional = fractional[fractional < len(pi) - rows.free]
    if len(fractional) > MAX_UNITS:
        return False
    touched, member = _membership(fractional, rows)
    settled = np.ones(len(pi), dtype=bool)
    settled[fractional] = False
    unit_rows = rows.unit_rows[settled & (pi > 0.5)]
    drawn = np.bincount(unit_rows[unit_rows >= 0], minlength=len(rows.rank))
    at_least = np.where(rows.minimum > 0, rows.minimum - drawn, -1)[touched]
    landed = land(pi[fractional], member, rows.rank[touched] < 0, rng, at_least.astype(float))
    if landed is None:
        return False
    pi[fractional] = landed
    pi[slacks] = 0.0
    return True


def _repair(
    pi: np.ndarray, fractional: np.ndarray, rows: Rows, rng: np.random.Generator
) -> np.ndarray:
    """0/1 values for units left fractional by rounding drift on the never-dropped rows: an
    integer program meets those rows' rounded totals exactly, preferring units of high π (a
    random tie-break); the shift in π is of the order of the drift."""
    touched, member = _membership(fractional, rows)
    structural = rows.rank[touched] < 0
    member = member[structural]
    goal = np.round(member @ pi[fractional])
    result = milp(
        c=rng.random(len(fractional)) * 1e-3 - pi[fractional],
        constraints=LinearConstraint(sparse.csr_matrix(member), goal, goal),
        integrality=np.ones(len(fractional)),
        bounds=Bounds(0, 1),
        options={"time_limit": 5.0},
    )
    if result.status == 0 and result.x is not None:
        return np.round(result.x)
    return (pi[fractional] >= rng.random(len(fractional))).astype(float)


def worst_margin(design: Design, chosen: np.ndarray) -> float:
    """Largest |drawn − target| over all balancing groups of one draw."""
    worst = 0.0
    for column, (code, levels) in design.groups.balance.items():
        drawn = np.bincount(code[chosen], minlength=len(levels))
        worst = max(worst, float(np.abs(drawn - design.targets[column]).max()))
    return worst


def select_reported(
    design: Design, method: str, rng: np.random.Generator
) -> tuple[np.ndarray, Landing]:
    """Draw one sample with ``method``: a boolean mask over the frame and how it landed."""
    if method == "systematic":
        chosen = systematic(design, rng)
        return chosen, Landing("systematic", worst_margin=worst_margin(design, chosen))
    if method == "balanced":
        return balanced(design, rng)
    raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")


def select(design: Design, method: str, rng: np.random.Generator) -> np.ndarray:
    """Draw one sample with ``method``: a boolean mask over the frame."""
    return select_reported(design, method, rng)[0]
