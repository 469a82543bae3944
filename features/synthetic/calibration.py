"""The generator's validated calibration config (``calibration.toml``) and calibration report."""

from __future__ import annotations

import tomllib
from datetime import date
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.contract import (
    AIMS,
    JUDGEMENTS,
    NOT_APPLICABLE,
    PROVIDER_TYPES,
    STAGES,
    SUFFICIENT,
)


class _Strict(BaseModel):
    """A calibration section: unknown keys are refused, values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Population(_Strict):
    """``[population]``: regions, offices, posts, caseloads and the inspection period."""

    regions: list[str]
    region_weights: list[float]
    crcs: list[list[str]]
    posts_per_office: int = Field(gt=0)
    nps_post_share: float = Field(gt=0, lt=1)
    mean_caseload: float = Field(gt=0)
    eligible_share: float = Field(gt=0, le=1)
    tenure_years: float = Field(gt=0)
    first_inspection: date
    last_inspection: date
    cases_per_inspection: int = Field(gt=0)

    @model_validator(mode="after")
    def _aligned(self) -> Population:
        if not len(self.regions) == len(self.region_weights) == len(self.crcs):
            raise ValueError("regions, region_weights and crcs must have one entry per region")
        return self


class Officers(_Strict):
    """``[officers.<provider>]``: grade mix and caseload distribution of one provider."""

    po_share: float = Field(ge=0, le=1)
    caseload_mean: dict[str, float]
    caseload_sd: float = Field(gt=0)


class Cases(_Strict):
    """``[cases]``: shares of RoSH, sentence, gender, ethnicity, IOM, continuity and age."""

    rosh_shares: dict[str, dict[str, float]]
    sentence_shares: dict[str, dict[str, float]]
    female_share: dict[str, float]
    ethnicity_shares: dict[str, float]
    london_ethnicity_shares: dict[str, float]
    age_mean: float
    age_sd: float
    iom_share: dict[str, float]
    continuity: dict[str, float]
    changes_base: float
    changes_per_month: float
    window_months: tuple[int, int]


class AimEffects(_Strict):
    """Effects of the drivers on one aim's judgements (log-odds of insufficient)."""

    caseload: float
    pso: float
    changes: float
    iom: float
    reoffending: float


class Truth(_Strict):
    """``[truth]``: latent spreads, the caseload curve and the effects per aim."""

    sigma_case: float = Field(ge=0)
    sigma_officer: float = Field(ge=0)
    caseload_knee: float
    caseload_width: float = Field(gt=0)
    caseload_scale: float
    caseload_power: float = Field(gt=0)
    reference_cases: int = Field(gt=1000)
    reference_seed: int
    effects: dict[str, AimEffects]


class Applicability(_Strict):
    """``[applicability]``: how often each stage's judgements apply to a case."""

    delivery: float
    review_short: float
    review_long: float
    safety_low_rosh: dict[str, float]


class Report(_Strict):
    """``[report]``: published figures the calibration report checks, with tolerances."""

    table3_tolerance: float
    table2_all_crc_2018: dict[str, float]
    table2_tolerance: float
    officers_over_50: dict[str, float]
    officers_over_50_tolerance: float
    crc_continuity: float
    crc_continuity_tolerance: float
    caseload_threshold: int
    min_judgements_worse: int


class CalibrationConfig(_Strict):
    """Published targets and structural parameters of the synthetic generator."""

    version: int
    population: Population
    officers: dict[str, Officers]
    cases: Cases
    truth: Truth
    applicability: Applicability
    targets: dict[str, dict[str, dict[str, float]]]
    report: Report

    @model_validator(mode="after")
    def _complete(self) -> CalibrationConfig:
        if set(self.officers) != set(PROVIDER_TYPES):
            raise ValueError(f"officers needs exactly {PROVIDER_TYPES}")
        if set(self.targets) != set(AIMS) or set(self.truth.effects) != set(AIMS):
            raise ValueError(f"targets and truth.effects need every aim {AIMS}")
        for aim, by_stage in self.targets.items():
            if set(by_stage) != set(STAGES):
                raise ValueError(f"targets.{aim} needs every stage {STAGES}")
        return self


@lru_cache(maxsize=1)
def load_config() -> CalibrationConfig:
    """The packaged calibration config, validated."""
    text = (
        resources.files("features.synthetic")
        .joinpath("calibration.toml")
        .read_text(encoding="utf-8")
    )
    return CalibrationConfig.model_validate(tomllib.loads(text))


TABLE3_CELLS: dict[str, tuple[str, tuple[str, ...]]] = {
    "NPS_high": ("NPS", ("high", "very_high")),
    "NPS_medium": ("NPS", ("medium",)),
    "CRC_medium": ("CRC", ("medium",)),
    "CRC_low": ("CRC", ("low",)),
}
"""Table 3 columns of the annual report as (provider type, RoSH levels)."""

PUBLISHED_CRC_LOW_PLANNING = 12.0
"""Table 3's CRC-low planning cell as published; an outlier the calibration is exempt from."""


def _share_sufficient(judgements: pd.Series) -> float:
    judged = judgements[judgements != NOT_APPLICABLE]
    return float((judged == SUFFICIENT).mean() * 100) if len(judged) else float("nan")


def calibration_report(inspected: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Generated vs published figures, one row each, with tolerance and whether it holds."""
    config = load_config()
    rows: list[dict[str, object]] = []

    def add(figure: str, source: str, published: float, generated: float, tol: float) -> None:
        ok = bool(abs(generated - published) <= tol) if np.isfinite(tol) else None
        rows.append(
            dict(
                figure=figure,
                source=source,
                published=published,
                generated=round(generated, 1),
                tolerance=tol,
                ok=ok,
            )
        )

    table3 = "annual report 2019/20, Table 3"
    for stage in STAGES:
        column = f"{stage}_safety"
        for cell, (ptype, levels) in TABLE3_CELLS.items():
            rows_in_cell = inspected[
                (inspected["provider_type"] == ptype) & inspected["rosh_level"].isin(levels)
            ]
            generated = _share_sufficient(rows_in_cell[column])
            if cell == "CRC_low" and stage == "planning":
                add(
                    f"{column} {cell} (outlier, not checked)",
                    table3,
                    PUBLISHED_CRC_LOW_PLANNING,
                    generated,
                    float("nan"),
                )
            else:
                published = config.targets["safety"][stage][cell]
                add(
                    f"{column} {cell}", table3, published, generated, config.report.table3_tolerance
                )

    crc = inspected[inspected["provider_type"] == "CRC"]
    for stage, published in config.report.table2_all_crc_2018.items():
        add(
            f"{stage}_safety all CRCs 2018/19",
            "annual report 2019/20, Table 2",
            published,
            _share_sufficient(crc[f"{stage}_safety"]),
            config.report.table2_tolerance,
        )

    officers = pd.concat([inspected, frame])[["officer_id", "provider_type", "officer_caseload"]]
    officers = officers.drop_duplicates("officer_id")
    for ptype, published in config.report.officers_over_50.items():
        held = officers.loc[officers["provider_type"] == ptype, "officer_caseload"]
        add(
            f"{ptype} officers holding > 50 cases (%)",
            "annual report 2019/20",
            published,
            float((held > 50).mean() * 100),
            config.report.officers_over_50_tolerance,
        )

    add(
        "CRC cases with the same officer throughout (%)",
        "London CRC report 2018",
        config.report.crc_continuity,
        float((crc["officer_changes"] == 0).mean() * 100),
        config.report.crc_continuity_tolerance,
    )

    heavy = inspected["officer_caseload"] >= config.report.caseload_threshold
    worse = sum(
        _share_sufficient(inspected.loc[heavy, j]) < _share_sufficient(inspected.loc[~heavy, j])
        for j in JUDGEMENTS
    )
    rows.append(
        dict(
            figure=f"judgements worse with >= {config.report.caseload_threshold} cases",
            source="annual report 2019/20",
            published=9.0,
            generated=float(worse),
            tolerance=float("nan"),
            ok=worse >= config.report.min_judgements_worse,
        )
    )
    return pd.DataFrame(rows)
