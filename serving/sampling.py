"""Risk-weighted stratified samples with known inclusion probabilities (CONTRACT.md §5).

``draw_sample(frame, scores, request, seed)`` builds the design (``serving.design``), draws
with the requested method (``serving.selection``) and returns the selected cases with their
inclusion probability, design weight, stratum, risk score and a reason a planner can read (and the
facts about their officer × stratum block that the variance estimator uses), plus the design
summary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from features.contract import (
    AIMS,
    CATEGORIES,
    FRAME_COLUMNS,
    INTEGER_RANGES,
    JUDGEMENTS,
    RISK_SCORE,
    score_column,
)
from features.errors import InputError
from serving.design import Design, build_design
from serving.design_groups import SOURCE
from serving.estimation import BLOCK_COLUMNS
from serving.selection import select_reported
from serving.summary import design_summary

SAMPLE_COLUMNS: tuple[str, ...] = (
    "case_id",
    "office",
    "officer_id",
    "stratum",
    "inclusion_probability",
    "design_weight",
    "risk_score",
    "reason",
)
"""The contract's sample columns; the frame's other columns, ``method``/``balance`` and the
``BLOCK_COLUMNS`` follow."""

DEFAULT_MINIMUMS: dict[str, int] = {
    "gender=female": 10,
    **{f"ethnicity={e}": 5 for e in ("black", "asian", "mixed", "other")},
    **{f"rosh_level={level}": 3 for level in CATEGORIES["rosh_level"]},
}
"""Enough women and cases of each minority ethnic group to report on, and every RoSH level."""

TARGETS: tuple[str, ...] = (RISK_SCORE, *JUDGEMENTS, *AIMS)
DEFAULT_BALANCE: tuple[str, ...] = ("ethnicity", "sentence_type", "rosh_level")

MAX_SIZE = 100_000
MAX_OFFICER_CAP = 1_000
MAX_COLUMNS = 6
MAX_MINIMUMS = 50
MAX_SEED = 2**63 - 1
"""Caps on a request's complexity; each refusal names its cap."""


def check_seed(seed: int) -> int:
    """A seed is a whole number in [0, 2⁶³ − 1]: refused, not wrapped, outside it."""
    if not 0 <= seed <= MAX_SEED:
        raise InputError(
            f"seed {seed}: expected a whole number from 0 to {MAX_SEED}",
            source=SOURCE,
            column="seed",
        )
    return seed


class SampleRequest(BaseModel):
    """A planner's sampling request; every field but ``size`` has a documented default."""

    model_config = ConfigDict(extra="forbid")

    size: int = Field(
        ..., ge=1, le=MAX_SIZE, description="Number of cases to select (n); at most the frame."
    )
    strata: list[str] = Field(
        default_factory=lambda: ["office", "gender"],
        max_length=MAX_COLUMNS,
        description="Explicit strata: counts are exact in every draw. Categorical columns only "
        "(band numbers such as age first).",
    )
    balance: list[str] = Field(
        default_factory=lambda: list(DEFAULT_BALANCE),
        max_length=MAX_COLUMNS,
        description="Balancing variables, in priority order: counts match their targets "
        "(exactly in expectation; within ±2 in nearly every balanced draw).",
    )
    minimums: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_MINIMUMS),
        max_length=MAX_MINIMUMS,
        description='Minimum counts, "column=value" → count: met in every draw on stratifying '
        "columns and, unless soft_minimums, in every balanced draw (see soft_minimums).",
    )
    soft_minimums: bool | None = Field(
        None,
        description="true: minimums on non-stratifying columns are expected counts only; false: "
        "met in every draw (balanced: hard rows of the cube; systematic: the column joins the "
        "strata); null (default): hard for balanced, expected counts for systematic.",
    )
    officer_cap: int = Field(
        2, ge=1, le=MAX_OFFICER_CAP, description="At most this many cases per officer."
    )
    risk_weight: float = Field(
        0.8, ge=0.0, le=1.0, description="λ: 0 = equal chance within strata, 1 = π ∝ risk²."
    )
    floor: float = Field(
        0.2,
        gt=0.0,
        le=1.0,
        description="No case's chance falls below this fraction of the equal chance.",
    )
    target: str = Field(
        RISK_SCORE, description="What the tilt follows: risk_score, a judgement or an aim."
    )
    method: Literal["systematic", "balanced"] = Field(
        "balanced", description="balanced (cube method, default) or systematic (fast)."
    )

    @field_validator("strata", "balance")
    @classmethod
    def _known_columns(cls, columns: list[str]) -> list[str]:
        unknown = [c for c in columns if c not in FRAME_COLUMNS or c == "case_id"]
        if unknown:
            raise ValueError(f"not frame columns: {', '.join(unknown)}")
        numbers = [c for c in columns if c in INTEGER_RANGES]
        if numbers:
            raise ValueError(f"{_band_hint(numbers)}; it cannot stratify or balance as it is")
        if len(set(columns)) != len(columns):
            raise ValueError("a column is listed twice")
        return columns

    @field_validator("minimums")
    @classmethod
    def _minimum_keys(cls, minimums: dict[str, int], info: ValidationInfo) -> dict[str, int]:
        totals: dict[str, int] = {}
        for key, count in minimums.items():
            column, sep, value = key.partition("=")
            if not sep or column not in FRAME_COLUMNS or column == "case_id":
                raise ValueError(f'{key!r}: expected "column=value" with a frame column')
            if column in INTEGER_RANGES:
                raise ValueError(f"{key!r}: {_band_hint([column])}")
            if column in CATEGORIES and value not in CATEGORIES[column]:
                raise ValueError(f"{key!r}: {value!r} is not a category of {column}")
            if not 0 <= count <= MAX_SIZE:
                raise ValueError(f"{key!r}: a minimum is a count from 0 to {MAX_SIZE}")
            totals[column] = totals.get(column, 0) + count
        size = info.data.get("size")
        for column, total in totals.items():
            if size is not None and total > size:
                raise ValueError(
                    f"minimums on {column} add up to {total}, more than the size {size}: the "
                    f"smallest feasible size is {total}"
                )
        return minimums

    @field_validator("target")
    @classmethod
    def _known_target(cls, target: str) -> str:
        if target not in TARGETS:
            raise ValueError(f"expected one of {', '.join(TARGETS)}")
        return target

    @model_validator(mode="before")
    @classmethod
    def _default_balance(cls, data: object) -> object:
        """The default balancing variables leave out the columns the request stratifies on."""
        if isinstance(data, dict) and data.get("balance") is None and data.get("strata"):
            strata = data["strata"]
            data = {**data, "balance": [c for c in DEFAULT_BALANCE if c not in strata]}
        return data

    @model_validator(mode="after")
    def _disjoint(self) -> SampleRequest:
        both = set(self.strata) & set(self.balance)
        if both:
            raise ValueError(f"{', '.join(sorted(both))}: a column is either a stratum or balanced")
        return self

    def parsed_minimums(self) -> dict[tuple[str, str], int]:
        """Minimums as (column, value) → count."""
        return {tuple(key.split("=", 1)): count for key, count in self.minimums.items()}

    def _minimum_columns(self) -> list[str]:
        """Columns with a positive minimum that are not explicit strata, in request order."""
        columns = [c for (c, _), m in self.parsed_minimums().items() if m > 0]
        return [c for c in dict.fromkeys(columns) if c not in self.strata]

    def stratifies_minimums(self) -> bool:
        """Systematic selection with hard minimums: their columns join the strata."""
        return self.method == "systematic" and self.soft_minimums is False

    def design_strata(self) -> list[str]:
        """Explicit strata, plus the minimum columns when ``stratifies_minimums``."""
        extra = self._minimum_columns() if self.stratifies_minimums() else []
        return self.strata + extra

    def balance_columns(self) -> list[str]:
        """Balancing variables plus any column with a minimum that is not a stratum."""
        strata = self.design_strata()
        extra = [c for c in self._minimum_columns() if c not in self.balance]
        return [c for c in self.balance + extra if c not in strata]

    def hard_columns(self) -> frozenset[str]:
        """Balancing columns whose minimums are hard rows of the cube (balanced method)."""
        if self.method != "balanced" or self.soft_minimums:
            return frozenset()
        return frozenset(self._minimum_columns())


def _band_hint(columns: list[str]) -> str:
    """The refusal for a numeric column used as a category."""
    ranges = ", ".join(f"{c} ({INTEGER_RANGES[c][0]}–{INTEGER_RANGES[c][1]})" for c in columns)
    return (
        f"{ranges}: a number, not a category; band it into a few groups in the frame first "
        "(e.g. age 18–24, 25–34, 35–49, 50+) and use the banded column"
    )


@dataclass
class Sample:
    """A drawn sample: selected cases, every frame case's π, and the design summary."""

    cases: pd.DataFrame
    frame_probabilities: pd.Series
    design: dict[str, object]


def target_score(scores: pd.DataFrame, target: str) -> np.ndarray:
    """The score the tilt follows: risk_score, one judgement, or the mean over an aim's stages."""
    if target == RISK_SCORE:
        return scores[RISK_SCORE].to_numpy(dtype=float)
    if target in JUDGEMENTS:
        return scores[score_column(target)].to_numpy(dtype=float)
    columns = [score_column(j) for j in JUDGEMENTS if j.endswith(f"_{target}")]
    return scores[columns].mean(axis=1).to_numpy(dtype=float)


def aligned_scores(frame: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Scores in the frame's row order; every frame case must have a finite score."""
    missing = [c for c in FRAME_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"the frame lacks columns {', '.join(missing)}", source="frame")
    ids = frame["case_id"].reset_index(drop=True)
    if not ids.is_unique:
        raise InputError("case_id must be unique", source="frame", column="case_id")
    given = scores["case_id"].reset_index(drop=True)
    if len(given) == len(ids) and bool((given.array == ids.array).all()):
        return scores.reset_index(drop=True)  # scored from this frame, in its order: no lookup
    indexed = scores.drop_duplicates("case_id").set_index("case_id")
    position = indexed.index.get_indexer(frame["case_id"])
    if (position < 0).any():
        raise InputError(
            "frame cases without a score",
            source="scores",
            column="case_id",
            examples=frame["case_id"].to_numpy()[position < 0][:5].tolist(),
        )
    return indexed.iloc[position].reset_index()


def design_for(frame: pd.DataFrame, scores: pd.DataFrame, request: SampleRequest) -> Design:
    """The inclusion probabilities of ``request`` on ``frame`` (scores matched by case_id)."""
    return aligned_design(frame, aligned_scores(frame, scores), request)


def aligned_design(frame: pd.DataFrame, aligned: pd.DataFrame, request: SampleRequest) -> Design:
    """``design_for`` with the scores already in the frame's row order (``aligned_scores``)."""
    score = target_score(aligned, request.target)
    if not np.isfinite(score).all() or (score < 0).any():
        raise InputError(f"{request.target} must be a finite, non-negative score", source="scores")
    return build_design(
        frame.reset_index(drop=True),
        score,
        size=request.size,
        strata=request.design_strata(),
        balance=request.balance_columns(),
        minimums=request.parsed_minimums(),
        officer_cap=request.officer_cap,
        risk_weight=request.risk_weight,
        floor=request.floor,
        hard=request.hard_columns(),
    )


def check_method(design: Design, request: SampleRequest) -> None:
    """Systematic selection caps officers through blocks only: reject a cap it cannot hold."""
    if request.method == "systematic" and design.needs_officer_rows():
        spans = np.bincount(design.groups.block_officer).max()
        raise InputError(
            f"officer cap {request.officer_cap}: some officers hold cases in up to {spans} "
            "strata, more than the cap, which systematic selection cannot enforce; use method "
            f"'balanced' or an officer cap of {spans}",
            source=SOURCE,
            column="officer_cap",
        )


def reasons(cases: pd.DataFrame, equal: np.ndarray) -> pd.Series:
    """A sentence per selected case: its stratum, its chance against the equal chance, its risk."""
    ratio = cases["inclusion_probability"].to_numpy() / equal
    texts = [
        f"chosen in stratum {stratum}; chance {pi:.1%}, {r:.1f}× the equal chance "
        f"(risk score {risk:.2f})"
        for stratum, pi, r, risk in zip(
            cases["stratum"], cases["inclusion_probability"], ratio, cases[RISK_SCORE], strict=True
        )
    ]
    return pd.Series(texts, index=cases.index)


def block_columns(design: Design, risk: np.ndarray) -> pd.DataFrame:
    """``serving.estimation.BLOCK_COLUMNS`` for every frame case: the Σπ, number of frame
    cases and mean risk score of its officer × stratum block."""
    block, blocks = design.groups.block, design.groups.n_blocks
    cases = np.bincount(block, minlength=blocks)
    mean_risk = np.bincount(block, weights=risk, minlength=blocks) / np.maximum(cases, 1)
    return pd.DataFrame(
        {
            "block_pi": design.block_pi[block],
            "block_cases": cases[block],
            "block_risk": mean_risk[block],
        }
    )


def draw_sample(
    frame: pd.DataFrame,
    scores: pd.DataFrame,
    request: SampleRequest,
    seed: int,
    on_step: Callable[[str], None] | None = None,
) -> Sample:
    """Draw one sample of ``frame`` under ``request`` (CONTRACT.md §5).

    Args:
        frame: The caseload frame (CONTRACT.md §2).
        scores: Its scores (CONTRACT.md §3), matched by ``case_id``.
        request: The sampling request.
        seed: The draw's random seed, 0 to 2⁶³ − 1.
        on_step: Called with ``"design"`` and then ``"draw"`` as each step starts (progress).

    Raises:
        InputError: The request cannot be met on this frame (the field is named).
    """
    step = on_step or (lambda name: None)
    frame = frame.reset_index(drop=True)
    check_seed(seed)
    step("design")
    aligned = aligned_scores(frame, scores)
    design = aligned_design(frame, aligned, request)
    check_method(design, request)
    step("draw")
    chosen, landing = select_reported(design, request.method, np.random.default_rng(seed))
    risk = aligned[RISK_SCORE].to_numpy(dtype=float)
    picked = frame.loc[chosen].copy()
    picked["stratum"] = design.groups.stratum_names[design.groups.stratum[chosen]]
    picked["inclusion_probability"] = design.pi[chosen]
    picked["design_weight"] = 1.0 / design.pi[chosen]
    picked["risk_score"] = risk[chosen]
    picked["reason"] = reasons(picked, design.equal[chosen])
    picked["method"] = request.method
    picked["balance"] = ",".join(request.balance_columns())
    blocks = block_columns(design, risk).loc[chosen]
    for column in BLOCK_COLUMNS:
        picked[column] = blocks[column].to_numpy()
    others = [c for c in picked.columns if c not in SAMPLE_COLUMNS]
    cases = picked[list(SAMPLE_COLUMNS) + others].reset_index(drop=True)
    probabilities = pd.Series(design.pi, index=frame["case_id"], name="inclusion_probability")
    summary = design_summary(frame, risk, design, request, chosen, seed, landing)
    return Sample(cases=cases, frame_probabilities=probabilities, design=summary)
