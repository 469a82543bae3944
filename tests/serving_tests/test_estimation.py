"""Estimation on hand-computed cases: intervals, pooling, non-response, duplicates, ratings,
national tables, the peer svy, and the `casework estimate` command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars
import pytest
import svy
from scipy import stats
from typer.testing import CliRunner

from casework.cli import app
from features.contract import JUDGEMENTS, NOT_INSPECTED, SUFFICIENT
from features.errors import InputError
from serving.estimates_report import judged_section, layout
from serving.estimation import MIN_PUBLISHABLE, estimate, national_tables, rate
from serving.pooling import linearised, prepare
from serving.ratings import BANDS, band
from serving.variance import ResidualVariance, design_matrix, officer_correlation

FIRST = JUDGEMENTS[0]


def sample_of(outcomes: list[str], stratum: list[str] | str, pi: list[float] | float, **extra):
    """A judged sample holding one judgement column (the others absent)."""
    frame = pd.DataFrame(
        {
            "case_id": [f"c{k}" for k in range(len(outcomes))],
            "stratum": stratum,
            "inclusion_probability": pi,
            FIRST: outcomes,
            **extra,
        }
    )
    return frame


def test_pooled_inspections_keep_their_strata_by_hand() -> None:
    """A: π = ½, sufficient/insufficient/sufficient; B: π = ¼, s/s/i; both label their stratum S.

    R̂ = (2·2 + 4·2)/(3·2 + 3·4) = 2/3, N̂ = 18. ž_A = (y − ⅔)/18/½ = (1, −2, 1)/27, ž_B = (y −
    ⅔)/18/¼ = (2, 2, −4)/27; residuals from each inspection's own mean (0 in both): v = 6/(6 − 2)
    · (½·6 + ¾·24)/729 = 31.5/729, df = 6 cases − 2 strata = 4.
    """
    a = sample_of([SUFFICIENT, "insufficient", SUFFICIENT], "S", 0.5, inspection_id="A")
    b = sample_of([SUFFICIENT, SUFFICIENT, "insufficient"], "S", 0.25, inspection_id="B")
    row = estimate([a, b]).iloc[0]
    assert row["estimate"] == pytest.approx(2 / 3)
    assert row["se"] == pytest.approx(np.sqrt(31.5 / 729))
    assert row["df"] == 4 and row["n"] == 6
    one_file = estimate(pd.concat([a, b.assign(case_id=["d0", "d1", "d2"])])).iloc[0]
    assert one_file["se"] == pytest.approx(row["se"])
    as_one_stratum = estimate(
        pd.concat([a, b.assign(case_id=["d0", "d1", "d2"])]).drop(columns="inspection_id")
    ).iloc[0]
    assert as_one_stratum["se"] != pytest.approx(row["se"])


def test_all_sufficient_group_gets_a_one_sided_interval() -> None:
    """p̂ = 1 and v = 0: n* = n·(t_{n−1}/t_df)², Wilson at p̂ = 1: [n*/(n* + t_df²), 1], never
    zero width (10 cases in 2 strata: df = 8)."""
    row = estimate(sample_of([SUFFICIENT] * 10, ["A"] * 5 + ["B"] * 5, 0.1)).iloc[0]
    assert row["estimate"] == 1.0 and row["se"] == 0.0
    assert row["ci_high"] == 1.0
    t8, t9 = stats.t.ppf(0.975, 8), stats.t.ppf(0.975, 9)
    n_star = 10 * (t9 / t8) ** 2
    assert row["ci_low"] == pytest.approx(n_star / (n_star + t8**2), rel=1e-12)
    assert row["ci_method"] == "wilson"
    assert bool(row["too_few_to_publish"]) is (10 < MIN_PUBLISHABLE)


def test_not_inspected_cases_reweight_their_stratum() -> None:
    """A: one sufficient, one not inspected; B: two insufficient (π = ½ throughout).

    Dropping the missing case would give 2/(2 + 4) = ⅓; the weighting class doubles A's
    respondent: 4/(4 + 4) = ½.
    """
    outcomes = [SUFFICIENT, NOT_INSPECTED, "insufficient", "insufficient"]
    sample = sample_of(outcomes, ["A", "A", "B", "B"], 0.5)
    row = estimate(sample).iloc[0]
    assert row["estimate"] == pytest.approx(0.5) and row["n"] == 3


def test_stratum_without_respondent_joins_its_neighbour() -> None:
    """'O1 / female' (nobody inspected) joins 'O1 / male', which shares its office."""
    sample = sample_of(
        [NOT_INSPECTED, SUFFICIENT, "insufficient", "insufficient", "insufficient"],
        ["O1 / female", "O1 / male", "O1 / male", "O2 / male", "O2 / male"],
        0.5,
    )
    # O1 drawn weight 6 over respondents' 4: ×1.5 → weights 3, 3 (one sufficient), 2, 2.
    assert estimate(sample).iloc[0]["estimate"] == pytest.approx(3 / 10)
    nobody = sample.assign(**{FIRST: NOT_INSPECTED})
    with pytest.raises(InputError, match="nothing to estimate from"):
        estimate(nobody)


def test_duplicate_case_ids_are_refused_naming_the_rows() -> None:
    sample = sample_of([SUFFICIENT, "insufficient", SUFFICIENT], "A", 0.5)
    sample.loc[2, "case_id"] = "c0"
    with pytest.raises(InputError) as error:
        estimate(sample)
    assert error.value.column == "case_id" and list(error.value.rows) == [2, 4]


def test_empty_and_partial_not_inspected_cells_are_refused() -> None:
    sample = sample_of([SUFFICIENT, None, SUFFICIENT], "A", 0.5)
    with pytest.raises(InputError, match="empty cell") as error:
        estimate(sample)
    assert list(error.value.rows) == [3]
    mixed = sample_of([SUFFICIENT, NOT_INSPECTED], "A", 0.5, **{JUDGEMENTS[1]: [SUFFICIENT] * 2})
    with pytest.raises(InputError, match="whole case"):
        estimate(mixed)


def test_systematic_samples_are_not_regressed_on_balancing_categories() -> None:
    outcomes = [SUFFICIENT, "insufficient"] * 6
    ethnicity = ["white"] * 3 + ["black"] * 3 + ["white"] * 3 + ["asian"] * 3
    base = sample_of(outcomes, ["A"] * 6 + ["B"] * 6, 0.3, ethnicity=ethnicity, balance="ethnicity")
    plain = estimate(base.drop(columns="balance")).iloc[0]["se"]
    assert estimate(base.assign(method="systematic")).iloc[0]["se"] == pytest.approx(plain)
    assert estimate(base.assign(method="balanced")).iloc[0]["se"] != pytest.approx(plain)


def test_interval_and_se_match_svy_on_a_stratified_sample() -> None:
    """svy (Taylor, strata, fpc from N_h, ``ci_method="wilson"``) and casework agree where their
    variances coincide: equal π and equal n_h within strata, so n/(n − H) = n_h/(n_h − 1)."""
    rng = np.random.default_rng(5)
    sizes = np.repeat([40, 60, 30, 90], 6)
    outcomes = rng.choice([SUFFICIENT, "insufficient", "not_applicable"], 24, p=[0.5, 0.35, 0.15])
    sample = sample_of(list(outcomes), [f"S{s}" for s in sizes], 6 / sizes)
    ours = estimate(sample).iloc[0]
    data = pd.DataFrame(
        {
            "stratum": sample["stratum"],
            "w": 1 / sample["inclusion_probability"],
            "N": sizes.astype(float),
            "y": (outcomes == SUFFICIENT).astype(float),
            "applies": outcomes != "not_applicable",
        }
    )
    design = svy.Design(stratum="stratum", wgt="w", pop_size="N")
    peer = svy.Sample(polars.from_pandas(data), design).estimation.prop(
        "y", where=svy.col("applies"), ci_method="wilson"
    )
    row = peer.to_polars().to_pandas().set_index("y").loc[1.0]
    assert ours["estimate"] == pytest.approx(row["est"], rel=1e-9)
    assert ours["se"] == pytest.approx(row["se"], rel=1e-9)
    assert (ours["ci_low"], ours["ci_high"]) == pytest.approx((row["lci"], row["uci"]), rel=1e-7)
    assert ours["df"] == row["df"] and ours["n"] == row["n"]


def test_band_thresholds() -> None:
    shares = np.array([0.95, 0.80, 0.7999, 0.65, 0.6499, 0.50, 0.4999, 0.0])
    assert [BANDS[b] for b in band(shares)] == [
        "Outstanding",
        "Outstanding",
        "Good",
        "Good",
        "Requires improvement",
        "Requires improvement",
        "Inadequate",
        "Inadequate",
    ]


def test_ratings_follow_the_lowest_key_question() -> None:
    """Assessment: engagement 90%, desistance 70%, safety 40% of 200 cases → Inadequate, surely;
    a share near a threshold leaves real doubt, and the probabilities sum to 1."""
    rng = np.random.default_rng(1)
    n = 200
    shares = {
        "assessment_engagement": 0.9,
        "assessment_desistance": 0.7,
        "assessment_safety": 0.4,
        "planning_engagement": 0.65,
    }
    columns = {
        j: np.where(np.arange(n) < round(p * n), SUFFICIENT, "insufficient")[rng.permutation(n)]
        for j, p in shares.items()
    }
    sample = pd.DataFrame(
        {
            "case_id": [f"c{k}" for k in range(n)],
            "stratum": ["A", "B"] * 100,
            "inclusion_probability": 0.1,
            **columns,
        }
    )
    table = rate(sample, seed=3).set_index(["kind", "standard"])
    assessment = table.loc[("stage", "assessment")]
    assert assessment["lowest"] == "assessment_safety" and assessment["rating"] == "Inadequate"
    assert assessment["p_inadequate"] > 0.99
    assert assessment["n"] == 200 and not assessment["too_few_to_publish"]
    planning = table.loc[("stage", "planning")]
    assert planning["rating"] == "Good" and 0.3 < planning["p_good"] < 0.7
    probabilities = table[["p_outstanding", "p_good", "p_requires_improvement", "p_inadequate"]]
    np.testing.assert_allclose(probabilities.dropna().sum(axis=1), 1.0)
    assert planning["p_rating_right"] == planning["p_good"]
    again = rate(sample, seed=3).set_index(["kind", "standard"])
    pd.testing.assert_frame_equal(table, again)


@pytest.fixture
def two_inspections(small_data) -> list[pd.DataFrame]:
    """Two judged inspections of 200 frame cases each (equal probabilities, office strata)."""
    frame = small_data.frame.head(400).reset_index(drop=True)
    judged = pd.concat([frame, small_data.frame_judgements.head(400)], axis=1).assign(
        stratum=lambda f: f["office"].astype(str), inclusion_probability=0.05
    )
    parts = [
        judged.iloc[:200].assign(inspection_id="A", inspection_date="2019-05-02"),
        judged.iloc[200:].assign(inspection_id="B", inspection_date="2020-01-15"),
    ]
    return parts


def test_national_tables_layout(two_inspections) -> None:
    parts = two_inspections
    tables = national_tables(parts)
    assert set(tables["table 2"]["group"]) == {"all CRCs 2019/20"}
    assert list(tables["table 2"]["judgement"].unique()) == [
        j for j in JUDGEMENTS if j.endswith("_safety")
    ]
    groups = list(dict.fromkeys(tables["table 3"]["group"]))
    assert groups[0].startswith("NPS") and groups[-1].startswith("CRC")
    crc = estimate([p[p["provider_type"] == "CRC"] for p in parts])
    mine = tables["table 2"].set_index("judgement")["estimate"]
    np.testing.assert_allclose(mine, crc.set_index("judgement").loc[mine.index, "estimate"])


def test_cli_pools_samples_rates_and_refuses_duplicates(tmp_path) -> None:
    rng = np.random.default_rng(2)
    files = []
    for name in ("A", "B"):
        values = {j: rng.choice([SUFFICIENT, "insufficient"], 40, p=[0.7, 0.3]) for j in JUDGEMENTS}
        sample = pd.DataFrame(
            {
                "case_id": [f"{name}{k}" for k in range(40)],
                "stratum": "S",
                "inclusion_probability": 0.2,
                "inspection_id": name,
                **values,
            }
        )
        files.append(tmp_path / f"{name}.csv")
        sample.to_csv(files[-1], index=False)
    out = tmp_path / "estimates.csv"
    runner = CliRunner()
    result = runner.invoke(
        app, ["estimate", "--sample", str(files[0]), str(files[1]), "--ratings", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)
    assert (written["n"] == 80).all() and "ci_method" in written
    ratings = pd.read_csv(tmp_path / "estimates_ratings.csv")
    assert len(ratings) == 7 and set(ratings["rating"]) <= set(BANDS)
    broken = pd.read_csv(files[0])
    broken.loc[5, "case_id"] = "A1"
    broken.to_csv(files[0], index=False)
    refused = runner.invoke(app, ["estimate", "--sample", str(files[0])])
    assert refused.exit_code == 2
    assert "case_id" in refused.output


def test_officer_correlation_by_hand() -> None:
    """Σ_o Σ_{k≠l} r_k r_l / Σ_o (m_o − 1) Σ r_k²: officers a, a, b, c with residuals 2, 1, 0, 0
    give 2·2·1 / (1·(4 + 1)) = 0.8; opposite residuals within officers give −4/4 = −1 (not
    truncated at 0); no shared officer gives 0."""
    assert officer_correlation(np.array([2.0, 1.0, 0.0, 0.0]), np.array(list("aabc"))) == 0.8
    assert officer_correlation(np.array([1.0, -1.0, 1.0, -1.0]), np.array(list("aabb"))) == -1.0
    assert officer_correlation(np.array([1.0, 2.0, 3.0]), np.array(list("abc"))) == 0.0
    both = np.array([[2.0, 1.0], [1.0, 1.0], [0.0, -1.0], [0.0, -1.0]])
    # columns pooled: pairs 2·(2 + 1) + 2·1 = 8 over 1·(5 + 2) + 1·2 = 9
    assert officer_correlation(both, np.array(list("aabb"))) == pytest.approx(8 / 9)


def block_sample(block_pi: float | np.ndarray, not_inspected: tuple[int, ...] = ()) -> pd.DataFrame:
    """24 cases in strata A, B, C (π 0.2) of 8 officers with three cases each (blocks of
    ``block_pi``), officers alternating between 30% and 70% sufficient; ``not_inspected``
    rows marked so."""
    n = 24
    rng = np.random.default_rng(4)
    good = rng.random(n) < 0.3 + 0.4 * (np.arange(n) // 3 % 2)
    outcomes = np.where(good, SUFFICIENT, "insufficient").astype(object)
    outcomes[list(not_inspected)] = NOT_INSPECTED
    return sample_of(
        outcomes.tolist(),
        ["A", "B", "C"] * 8,
        0.2,
        officer_id=np.repeat([f"o{k}" for k in range(8)], 3),
        block_pi=block_pi,
        block_cases=3,
        block_risk=0.5,
    )


def test_block_fpc_follows_the_officer_correlation() -> None:
    """With ρ̂ from the case-level residuals, c_k = 1 − π_k − ρ̂(Π_b − π_k) for cases of blocks
    with Σπ < 1, 1 − π_k in certainty blocks; without officer_id the case-level form."""
    n = 24
    officers = np.repeat([f"o{k}" for k in range(8)], 3)
    sample = block_sample(np.where(np.arange(n) < 21, 0.6, 1.0))
    design = prepare(sample)
    x = design_matrix(design.sample)
    z = linearised(design.sample, design.judgements, design.pi)
    plain = ResidualVariance(x, design.pi)
    rho = officer_correlation(plain.residuals(z), officers)
    assert 0 < rho < 1
    c = np.where(np.arange(n) < 21, 1 - 0.2 - rho * (0.6 - 0.2), 1 - 0.2)
    assert design.variance(z[:, 0]) == pytest.approx(ResidualVariance(x, design.pi, c)(z[:, 0]))
    assert design.variance(z[:, 0]) < plain(z[:, 0])
    without = prepare(sample.drop(columns="officer_id"))
    assert without.variance(z[:, 0]) == pytest.approx(plain(z[:, 0]))
    unknown = prepare(sample.assign(officer_id=[None] * n))  # blank officers pair with nobody
    assert unknown.variance(z[:, 0]) == pytest.approx(plain(z[:, 0]))


def test_officer_correlation_is_unbiased_with_few_pairs() -> None:
    """No true correlation, 120 cases in 4 strata, 10 officers with a case in two strata: over
    500 samples the mean ρ̂ is 0 within 3 Monte Carlo SE. Truncated at 0 it averaged ~0.12
    (the positive half of the noise), which the same check rejects."""
    rng = np.random.default_rng(11)
    officers = np.array([f"o{k // 2}" if k < 20 else f"alone{k}" for k in range(120)])
    strata = np.where(np.arange(120) < 20, np.arange(120) % 2, np.arange(120) % 4).astype(str)
    found = []
    for _ in range(500):
        outcomes = np.where(rng.random(120) < 0.6, SUFFICIENT, "insufficient")
        sample = sample_of(list(outcomes), list(strata), 0.1)
        pi = sample["inclusion_probability"].to_numpy(dtype=float)
        residuals = ResidualVariance(design_matrix(sample), pi).residuals(
            linearised(sample, [FIRST], pi)
        )
        found.append(officer_correlation(residuals, officers))
    found = np.array(found)
    se = found.std() / np.sqrt(len(found))
    print(f"mean ρ̂ {found.mean():.4f}, truncated {np.clip(found, 0, None).mean():.4f}, SE {se:.4f}")
    assert abs(found.mean()) <= 3 * se
    assert np.clip(found, 0, None).mean() > 3 * se


def test_block_fpc_follows_non_response() -> None:
    """Two of stratum A's 8 cases not inspected: f_A = 8/6, so A's π and its blocks' Σπ both
    become ×6/8 (0.2 → 0.15, Π_b 0.6 → 0.45) and c_k = 1 − π'_k − ρ̂(Π'_b − π'_k)."""
    sample = block_sample(0.6, not_inspected=(0, 3))  # stratum A
    design = prepare(sample)
    in_a = design.sample["stratum"].to_numpy() == "A"
    assert design.pi == pytest.approx(np.where(in_a, 0.15, 0.2))
    x = design_matrix(design.sample)
    z = linearised(design.sample, design.judgements, design.pi)
    rho = officer_correlation(
        ResidualVariance(x, design.pi).residuals(z), design.sample["officer_id"].to_numpy()
    )
    assert rho != 0
    c = 1 - design.pi - rho * (np.where(in_a, 0.45, 0.6) - design.pi)
    assert design.variance(z[:, 0]) == pytest.approx(ResidualVariance(x, design.pi, c)(z[:, 0]))


def test_judged_samples_section_of_the_report(two_inspections) -> None:
    """Tables 2 and 3 with intervals, the ratings chart and the flagged domains, escaped."""
    parts = two_inspections
    section = judged_section(parts, ["a<b>.csv", "b.csv"])
    assert section.title == "Judged samples" and section.anchor == "judged-samples"
    page = section.html
    assert "Table 2 layout" in page and "Table 3 layout" in page
    assert "a&lt;b&gt;.csv" in page and "a<b>.csv" not in page
    assert page.count("data:image/png;base64,") == 1
    table3 = national_tables(parts)["table 3"]
    wide = layout(table3)
    assert list(wide.index) == list(dict.fromkeys(table3["group"]))
    first = table3.iloc[0]
    expected = f"{first['estimate']:.1%} ({first['ci_low']:.1%}–{first['ci_high']:.1%})"
    assert wide.loc[first["group"], first["judgement"]].startswith(expected)
    few = table3[table3["too_few_to_publish"]]
    assert len(few) and all(wide.loc[r.group, r.judgement].endswith("†") for r in few.itertuples())
    assert "Too few to publish" in page and str(few.iloc[0]["group"]) in page
