"""Synthetic probation population: offices, officer posts, officers over time, and case covariates.

The hierarchy is region → office → post (one officer at a time, NPS or CRC) → cases. Officers hold
a post for a gamma-distributed tenure (staff turnover), so inspections years apart meet different
officers, as real ones do. Caseload is drawn per officer from grade- and provider-specific
distributions. Cases are drawn in proportion to caseload; their RoSH, sentence type and the other
contract columns depend on the provider, never on the judgements.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract import (
    ETHNICITIES,
    GRADES,
    PROVIDER_TYPES,
    REOFFENDING_LEVELS,
    ROSH_LEVELS,
    SENTENCE_TYPES,
)
from features.synthetic.calibration import CalibrationConfig

DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class Posts:
    """Officer posts: where each sits (office, region) and for which provider."""

    office: np.ndarray
    region: np.ndarray
    provider_type: np.ndarray
    provider: np.ndarray

    def __len__(self) -> int:
        return len(self.office)


def draw_posts(n_posts: int, config: CalibrationConfig, rng: np.random.Generator) -> Posts:
    """Offices spread over regions by caseload weight, each office holding NPS and CRC posts."""
    pop = config.population
    n_offices = max(2, round(n_posts / pop.posts_per_office))
    weights = np.asarray(pop.region_weights) / np.sum(pop.region_weights)
    # Every region gets an office once there are enough; the rest follow the weights.
    office_region = np.concatenate(
        [
            rng.permutation(len(weights))[: min(n_offices, len(weights))],
            rng.choice(len(weights), size=max(0, n_offices - len(weights)), p=weights),
        ]
    )
    office_crc = np.array(
        [pop.crcs[r][k % len(pop.crcs[r])] for k, r in enumerate(office_region)], dtype=object
    )
    office = rng.integers(0, n_offices, size=n_posts)
    office[:n_offices] = np.arange(min(n_offices, n_posts))  # no empty office
    region = office_region[office]
    is_nps = rng.random(n_posts) < pop.nps_post_share
    regions = np.asarray(pop.regions, dtype=object)
    provider = np.where(is_nps, "NPS " + regions[region], office_crc[office])
    return Posts(
        office=np.char.add("Office ", np.char.zfill(office.astype(str), 3)).astype(object),
        region=regions[region],
        provider_type=np.where(is_nps, "NPS", "CRC").astype(object),
        provider=provider.astype(object),
    )


def draw_officers(
    posts: Posts, horizon_years: float, config: CalibrationConfig, rng: np.random.Generator
) -> pd.DataFrame:
    """Successive holders of every post over [0, horizon], with grade, caseload and effect.

    Each post starts three mean tenures before time 0 so that holders at time 0 are a stationary
    mix of new and long-serving officers.
    """
    tenure = config.population.tenure_years
    burn_in = 3 * tenure
    per_post = int(np.ceil((horizon_years + burn_in) / tenure * 2)) + 10
    lengths = rng.gamma(2.0, tenure / 2.0, size=(len(posts), per_post))
    ends = np.cumsum(lengths, axis=1) - burn_in
    starts = ends - lengths
    if np.any(ends[:, -1] < horizon_years):  # pragma: no cover - per_post is generous
        raise RuntimeError("officer tenures do not cover the horizon")
    post_idx, holder = np.nonzero((ends > 0) & (starts <= horizon_years))
    officers = pd.DataFrame(
        {
            "post": post_idx,
            "start": starts[post_idx, holder],
            "end": ends[post_idx, holder],
            "office": posts.office[post_idx],
            "region": posts.region[post_idx],
            "provider_type": posts.provider_type[post_idx],
            "provider": posts.provider[post_idx],
        }
    )
    n = len(officers)
    grade = np.empty(n, dtype=object)
    caseload = np.empty(n)
    for ptype in PROVIDER_TYPES:
        spec = config.officers[ptype]
        rows = officers["provider_type"].to_numpy() == ptype
        is_po = rng.random(rows.sum()) < spec.po_share
        grade[rows] = np.where(is_po, GRADES[0], GRADES[1])
        mean = np.where(is_po, spec.caseload_mean["PO"], spec.caseload_mean["PSO"])
        caseload[rows] = rng.normal(mean, spec.caseload_sd)
    officers["officer_grade"] = grade
    officers["officer_caseload"] = np.clip(np.rint(caseload), 5, 150).astype(np.int64)
    officers["officer_effect"] = rng.normal(0.0, config.truth.sigma_officer, size=n)
    officers["officer_id"] = [f"OFF{k:06d}" for k in rng.permutation(n)]
    return officers


def draw_case_covariates(
    officers: pd.DataFrame, months: np.ndarray, config: CalibrationConfig, rng: np.random.Generator
) -> pd.DataFrame:
    """Contract columns of cases, one per row of ``officers`` (each case's responsible officer)."""
    c = config.cases
    n = len(officers)
    ptype = officers["provider_type"].to_numpy()
    rosh = np.empty(n, dtype=object)
    sentence = np.empty(n, dtype=object)
    female = np.empty(n, dtype=bool)
    iom_p = np.empty(n)
    stay = np.empty(n)
    for p in PROVIDER_TYPES:
        rows = ptype == p
        k = int(rows.sum())
        rosh[rows] = _categorical(rng, c.rosh_shares[p], ROSH_LEVELS, k)
        sentence[rows] = _categorical(rng, c.sentence_shares[p], SENTENCE_TYPES, k)
        female[rows] = rng.random(k) < c.female_share[p]
        iom_p[rows] = c.iom_share[p]
        stay[rows] = c.continuity[p]
    london = officers["region"].to_numpy() == config.population.regions[0]
    ethnicity = np.where(
        london,
        _categorical(rng, c.london_ethnicity_shares, ETHNICITIES, n),
        _categorical(rng, c.ethnicity_shares, ETHNICITIES, n),
    )
    age = np.clip(np.rint(rng.normal(c.age_mean, c.age_sd, n)), 18, 85).astype(np.int64)
    # Younger people are more likely to reoffend (an assumed, plausible gradient).
    propensity = -0.05 * (age - c.age_mean) + rng.normal(0.0, 1.0, n)
    reoffending = np.asarray(REOFFENDING_LEVELS, dtype=object)[np.digitize(propensity, [-0.6, 0.6])]
    iom = rng.random(n) < iom_p * np.where(reoffending == "high", 2.0, 0.7)
    changes = np.where(
        rng.random(n) < stay,
        0,
        1 + rng.poisson(c.changes_base + c.changes_per_month * months),
    )
    return pd.DataFrame(
        {
            "provider_type": ptype,
            "provider": officers["provider"].to_numpy(),
            "region": officers["region"].to_numpy(),
            "office": officers["office"].to_numpy(),
            "officer_id": officers["officer_id"].to_numpy(),
            "officer_grade": officers["officer_grade"].to_numpy(),
            "officer_caseload": officers["officer_caseload"].to_numpy(),
            "officer_changes": np.minimum(changes, 20).astype(np.int64),
            "rosh_level": rosh,
            "reoffending_likelihood": reoffending,
            "sentence_type": sentence,
            "months_supervised": months.astype(np.int64),
            "iom": iom,
            "gender": np.where(female, "female", "male"),
            "ethnicity": ethnicity,
            "age": age,
        }
    )


def window_months(n: int, config: CalibrationConfig, rng: np.random.Generator) -> np.ndarray:
    """Months supervised of cases in an inspection's window: sentenced or released 6-9 months ago.

    Inspected cases and the frame (the cases the next inspection may select) alike.
    """
    low, high = config.cases.window_months
    return rng.integers(low, high + 1, size=n)


def _categorical(
    rng: np.random.Generator, shares: dict[str, float], levels: tuple[str, ...], n: int
) -> np.ndarray:
    p = np.array([shares.get(level, 0.0) for level in levels])
    return np.asarray(levels, dtype=object)[rng.choice(len(levels), size=n, p=p / p.sum())]
