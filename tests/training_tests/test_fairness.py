"""Fairness audit: every figure against a direct pandas computation, the gates' ratios, the CIs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.contract import INSUFFICIENT, JUDGEMENTS, NOT_APPLICABLE, RISK_SCORE, score_column
from features.contract import truth_column as true_p
from training.lifecycle.gates import gate_table
from training.reporting.fairness import METRICS, audit_fairness
from training.trainer import design_weights


def _true_scores(cases: pd.DataFrame) -> pd.DataFrame:
    """CONTRACT §3 scores from the generator's true probabilities: a stand-in model."""
    scores = pd.DataFrame({score_column(j): cases[true_p(j)].to_numpy() for j in JUDGEMENTS})
    scores[RISK_SCORE] = scores.mean(axis=1)
    return scores


@pytest.fixture(scope="module", params=["unweighted", "design-weighted"])
def audited(request, small_data):
    cases = small_data.inspected.copy()
    if request.param == "design-weighted":
        rng = np.random.default_rng(5)
        cases["inclusion_probability"] = rng.uniform(0.05, 1.0, len(cases))
    scores = _true_scores(cases)
    return cases, scores, audit_fairness(cases, scores, n_boot=100, seed=3)


class _Scored:
    """A stand-in model whose ``predict`` returns fixed scores, for the gates."""

    def __init__(self, scores: pd.DataFrame) -> None:
        self.scores = scores

    def predict(self, cases: pd.DataFrame) -> pd.DataFrame:
        return self.scores


def _gate_disparities(cases: pd.DataFrame, scores: pd.DataFrame) -> dict[str, float]:
    """The promotion gates' disparity ratio per characteristic for these scores."""
    model = _Scored(scores.reset_index(drop=True))
    table = gate_table(model, model, {"holdout": cases}, rounds=0)
    rows = table[table["check"].str.startswith("disparity ")]
    return dict(zip(rows["check"].str.removeprefix("disparity "), rows["champion"], strict=True))


def _direct(cases: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """The audit's per-case quantities, computed from scratch with pandas."""
    weight = design_weights(cases)  # the weighting rule is training's (1/π, per inspection)
    w = 1.0 if weight is None else weight
    frame = pd.DataFrame({"risk": scores[RISK_SCORE], "w": np.ones(len(cases)) * w})
    ranked = frame.sort_values("risk", ascending=False, kind="stable")
    before = ranked["w"].cumsum() - ranked["w"]
    frame["selected"] = (before < 0.2 * frame["w"].sum()).reindex(frame.index)
    values = cases[list(JUDGEMENTS)].astype(str)
    judged = values != NOT_APPLICABLE
    found = (values == INSUFFICIENT).sum(axis=1)
    frame["poor"] = found >= judged.sum(axis=1) / 2
    frame["found"] = found
    p = scores[[score_column(j) for j in JUDGEMENTS]].set_axis(list(JUDGEMENTS), axis=1)
    frame["expected"] = p.where(judged, 0.0).sum(axis=1)
    frame["gender"] = cases["gender"].astype(str)
    frame["ethnicity"] = cases["ethnicity"].astype(str)
    frame["age band"] = pd.cut(
        cases["age"], [18, 25, 35, 50, 101], right=False, labels=["18-24", "25-34", "35-49", "50+"]
    ).astype(str)
    return frame


def _group_figures(rows: pd.DataFrame) -> dict[str, float]:
    w, s, y = rows["w"], rows["selected"], rows["poor"]
    return {
        "n": len(rows),
        "selection_rate": w[s].sum() / w.sum(),
        "fpr": w[s & ~y].sum() / w[~y].sum(),
        "fnr": w[~s & y].sum() / w[y].sum(),
        "precision": w[s & y].sum() / w[s].sum(),
        "calibration": (w * rows["found"]).sum() / (w * rows["expected"]).sum(),
    }


def test_group_figures_match_a_direct_pandas_computation(audited) -> None:
    cases, scores, audit = audited
    direct = _direct(cases, scores)
    assert direct["selected"].sum() == pytest.approx(0.2 * len(cases), abs=len(cases) * 0.05)
    got = audit.groups.set_index(["characteristic", "group"])
    direct["gender × ethnicity"] = direct["gender"] + " × " + direct["ethnicity"]
    assert (
        got.loc["gender × ethnicity", "small"] == (got.loc["gender × ethnicity", "n"] < 50)
    ).all()
    assert got.loc["gender × ethnicity", "small"].any()  # intersections make small groups
    for characteristic in ("gender", "ethnicity", "age band", "gender × ethnicity"):
        expected = direct.groupby(characteristic).apply(_group_figures).apply(pd.Series)
        assert sorted(got.loc[characteristic].index) == sorted(expected.index)
        for group, row in expected.iterrows():
            for metric in ("n", *METRICS):
                assert got.loc[(characteristic, group), metric] == pytest.approx(
                    row[metric], nan_ok=True
                ), (
                    characteristic,
                    group,
                    metric,
                )


def test_disparity_ratios_are_lowest_over_highest_among_large_groups(audited) -> None:
    cases, scores, audit = audited
    groups = audit.groups
    for row in audit.disparities.itertuples():
        large = groups[(groups["characteristic"] == row.characteristic) & (groups["n"] >= 50)]
        values = large.set_index("group")[row.metric]
        assert row.ratio == pytest.approx(values.min() / values.max())
        assert (row.lowest, row.highest) == (values.idxmin(), values.idxmax())
        assert row.flagged == (row.ratio < 0.8)
        assert row.ratio_low <= row.ratio <= row.ratio_high
    gates = _gate_disparities(cases, scores)
    selection = audit.disparities[
        (audit.disparities["metric"] == "selection_rate")
        & (audit.disparities["characteristic"] != "gender × ethnicity")
    ]
    assert selection.set_index("characteristic")["ratio"].to_dict() == pytest.approx(gates)


def test_intervals_bracket_the_estimates_and_narrow_with_group_size(audited) -> None:
    _, _, audit = audited
    groups = audit.groups[audit.groups["n"] >= 50]
    for metric in METRICS:
        assert (groups[f"{metric}_low"] <= groups[metric]).all(), metric
        assert (groups[metric] <= groups[f"{metric}_high"]).all(), metric
    width = groups["selection_rate_high"] - groups["selection_rate_low"]
    assert np.corrcoef(np.log(groups["n"]), np.log(width))[0, 1] < -0.8


def test_the_audit_is_reproducible_and_its_seed_matters(small_data) -> None:
    cases = small_data.inspected
    scores = _true_scores(cases)
    first = audit_fairness(cases, scores, n_boot=50, seed=1)
    again = audit_fairness(cases, scores, n_boot=50, seed=1)
    other = audit_fairness(cases, scores, n_boot=50, seed=2)
    pd.testing.assert_frame_equal(first.groups, again.groups)
    assert not first.groups["fpr_low"].equals(other.groups["fpr_low"])
    pd.testing.assert_series_equal(first.groups["fpr"], other.groups["fpr"])
