"""Pydantic models of the HTTP API (CONTRACT.md §6), built from the contract's names and enums.

The frame record's categories and ranges come from ``features.contract``, so a request the service
accepts is a row ``casework validate`` would accept, and the OpenAPI document lists the same enums.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, create_model

from features.contract import (
    CATEGORIES,
    FRAME_COLUMNS,
    INTEGER_RANGES,
    JUDGEMENT_VALUES,
    JUDGEMENTS,
    STRING_COLUMNS,
    score_column,
)
from features.errors import InputError
from features.validation import BOOLEAN_SPELLINGS, spelled_judgement
from serving.judged_file import parse_inspection_date, parse_inspection_id
from serving.sampling import SampleRequest


def _iom(value: object) -> object:
    """``iom`` spelt as ``casework validate`` accepts it; anything else (``"yes"``) is refused."""
    if isinstance(value, str):
        spelt = BOOLEAN_SPELLINGS.get(value.strip().lower())
        if spelt is None:
            raise ValueError(f"expected one of {', '.join(BOOLEAN_SPELLINGS)}")
        return spelt
    return value


def _unicode(value: str) -> str:
    """Refuse text that is not Unicode (lone surrogates): UTF-8, hence commitments, need it."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text (a lone surrogate)") from None
    return value


def _parsed(parse: Callable[[str | None], object]) -> Callable[[str | None], str | None]:
    """A validator refusing what ``parse`` (a ``casework sample`` option's rule) refuses, so the
    API names its own field, before any work."""

    def check(value: str | None) -> str | None:
        try:
            parse(value)
        except InputError as error:
            raise ValueError(error.rule) from None
        return value

    return check


InspectionId = Annotated[
    str | None, Field(None, max_length=200), AfterValidator(_parsed(parse_inspection_id))
]
InspectionDate = Annotated[
    str | None, Field(None, max_length=10), AfterValidator(_parsed(parse_inspection_date))
]


def _field(column: str) -> tuple[object, object]:
    """The type and constraints of one frame column."""
    if column in CATEGORIES:
        return Literal[CATEGORIES[column]], Field(...)  # type: ignore[valid-type]
    if column in INTEGER_RANGES:
        low, high = INTEGER_RANGES[column]
        return int, Field(..., ge=low, le=high, strict=False)
    if column == "iom":
        return Annotated[bool, BeforeValidator(_iom)], Field(
            ..., description="Integrated Offender Management case: true/false (or 1/0)."
        )
    if column in STRING_COLUMNS:
        return Annotated[str, AfterValidator(_unicode)], Field(..., min_length=1, max_length=200)
    raise KeyError(column)


FrameRecord = create_model(
    "FrameRecord",
    __config__=ConfigDict(extra="ignore"),
    __doc__="One case of the caseload frame (CONTRACT.md §2); extra columns are ignored.",
    **{column: _field(column) for column in FRAME_COLUMNS},
)

EXAMPLE_CASE: dict[str, object] = {
    "case_id": "C0001",
    "provider_type": "CRC",
    "provider": "London CRC",
    "region": "London",
    "office": "Camden",
    "officer_id": "O017",
    "officer_grade": "PSO",
    "officer_caseload": 68,
    "officer_changes": 2,
    "rosh_level": "medium",
    "reoffending_likelihood": "high",
    "sentence_type": "community_order",
    "months_supervised": 9,
    "iom": False,
    "gender": "male",
    "ethnicity": "white",
    "age": 31,
}
"""A valid frame record: the OpenAPI example and the tests' fixture."""

Cases = Annotated[
    list[FrameRecord],  # type: ignore[valid-type]
    Field(min_length=1, description="Frame records (CONTRACT.md §2).", examples=[[EXAMPLE_CASE]]),
]

Prediction = create_model(
    "Prediction",
    __doc__="CONTRACT §3 scores of one case.",
    case_id=(str, ...),
    **{score_column(j): (float | None, None) for j in JUDGEMENTS},
    risk_score=(float | None, None),
)


class Predictions(BaseModel):
    """The answer of ``/predict``."""

    predictions: list[Prediction]  # type: ignore[valid-type]


class Driver(BaseModel):
    """One feature's push on one judgement, in words and numbers."""

    feature: str
    value: Any
    contribution: float = Field(description="Change in the probability of insufficient work.")
    text: str


class Explanation(BaseModel):
    """A case's top drivers per judgement."""

    case_id: str
    judgements: dict[str, list[Driver]]
    probability: dict[str, float | None] = Field(
        default_factory=dict, description="Each judgement's chance of being insufficient."
    )
    base_probability: dict[str, float | None] = Field(
        default_factory=dict,
        description="The typical case's chance: plus every driver's contribution, the chance.",
    )


class Explanations(BaseModel):
    """The answer of ``/explain``."""

    explanations: list[Explanation]


class SampleAnswer(BaseModel):
    """A drawn sample. Sealed: its commitment and design only. Released: also the case list,
    the seed and the salt that lets anyone recompute the commitment from the list."""

    commitment: str = Field(description="SHA-256 of the salt and the canonical case list.")
    design: dict[str, Any]
    salt: str | None = None
    seed: int | None = None
    cases: list[dict[str, Any]] | None = None


def _spelled(value: object) -> object:
    return spelled_judgement(value) if isinstance(value, str) else value


Judgement = Annotated[Literal[JUDGEMENT_VALUES], BeforeValidator(_spelled)]  # type: ignore[valid-type]


JudgedRow = create_model(
    "JudgedRow",
    __config__=ConfigDict(extra="allow"),
    __doc__="One judged sample row: selection facts and judgements; extra columns are kept "
    "(balancing variables, the ``by`` column).",
    case_id=(str, Field(min_length=1)),
    stratum=(str, Field(min_length=1)),
    inclusion_probability=(float, Field(gt=0.0, le=1.0)),
    **{j: (Judgement | None, None) for j in JUDGEMENTS},
)


class EstimateRow(BaseModel):
    """Share sufficient for one judgement and group (CONTRACT §4 columns plus effective n)."""

    judgement: str
    group: str
    n: int
    estimate: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    n_effective: float | None
    df: float | None = Field(None, description="Degrees of freedom of the interval.")
    ci_method: str | None = None
    too_few_to_publish: bool | None = None


class Estimates(BaseModel):
    """The answer of ``/estimate``: the estimates and, when asked for, the ratings."""

    estimates: list[EstimateRow]
    ratings: list[dict[str, Any]] | None = Field(
        None,
        description="With ratings: true, per stage and aim: the rating from the estimates and "
        "the chance of each rating band.",
    )


class ModelInfo(BaseModel):
    """The served model: registry version and alias, training data, headline metrics."""

    name: str
    version: str | None
    alias: str | None
    trained_on: dict[str, Any]
    metrics: dict[str, Any]


class FrontierPoint(BaseModel):
    """One risk weight's analytic figures on the simulation's frontier."""

    risk_weight: float
    yield_ratio: float = Field(description="Expected insufficient judgements / equal chances.")
    design_effect: float = Field(description="Kish design effect of the weights 1/π.")
    mean_half_width: float = Field(description="Mean expected 95% CI half-width.")


class SimulationAnswer(BaseModel):
    """The answer of ``/simulate``: what a request gives before any draw (README, sampling);
    the fields of ``serving.simulation.Simulation`` (a test keeps them equal)."""

    risk_weight: float
    expected_insufficient: float
    equal_chance_insufficient: float
    yield_ratio: float
    design_effect: float
    half_widths: dict[str, float] = Field(description="Expected 95% CI half-width per judgement.")
    equal_chance_half_widths: dict[str, float]
    frontier: list[FrontierPoint]
    draws: int = Field(description="Real draws made for the margins (within the time budget).")
    margins_within_2: float | None = Field(
        description="Share of draws with every balancing margin within ±2."
    )
    worst_margin_mean: float | None
    seconds: float
    method: str
    size: int
    rating_accuracy: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Per stage and aim: predicted rating, P(right) and the size reaching 90%.",
    )
    rating_size_limit: int | None = None
    notes: list[str] = Field(default_factory=list)


class Reloaded(BaseModel):
    """The answer of ``/admin/reload``: whether a new champion was loaded, and which is served."""

    reloaded: bool
    version: str | None


__all__ = [
    "Cases",
    "EXAMPLE_CASE",
    "Estimates",
    "Explanations",
    "FrameRecord",
    "JudgedRow",
    "ModelInfo",
    "Predictions",
    "Reloaded",
    "SampleAnswer",
    "SampleRequest",
    "SimulationAnswer",
]
