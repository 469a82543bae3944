"""Gates and drift on batches drawn by casework's own risk-weighted sampler (issue: retraining).

The inspected cases carry inclusion probabilities, so gate metrics and drift distributions are
design-weighted: on a generator population they must agree with the whole population's figures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.contract import INCLUSION_PROBABILITY
from features.synthetic.generator import generate
from serving.sampling import SampleRequest, design_for
from serving.simulation import draw_many
from training.lifecycle.drift import drift_report
from training.lifecycle.gates import gate_table

pytestmark = pytest.mark.slow
DRAWS = 100


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    """20,000 generated cases with their realised judgements, as if all were inspected."""
    data = generate(2_000, 20_000, seed=5, with_truth=True)
    cases = pd.concat(
        [data.frame.reset_index(drop=True), data.frame_judgements.reset_index(drop=True)], axis=1
    )
    cases.insert(1, "inspection_id", "INS-1")
    cases.insert(2, "inspection_date", "2025-06-01")
    return cases


@pytest.fixture(scope="module")
def batches(population, trained_50k):
    """Risk-weighted samples of 600 (λ = 1) with their inclusion probabilities."""
    model = trained_50k[1].model
    scores = model.predict(population)
    design = design_for(population, scores, SampleRequest(size=600, risk_weight=1.0))
    chosen = draw_many(design, "systematic", DRAWS, seed=4)
    samples = []
    for draw in chosen:
        sample = population.loc[draw].copy()
        sample[INCLUSION_PROBABILITY] = design.pi[draw]
        samples.append(sample.reset_index(drop=True))
    return model, samples


def test_design_weighted_gate_metrics_agree_with_the_population(population, batches) -> None:
    model, samples = batches

    def figures(cases: pd.DataFrame) -> pd.Series:  # the champion's figures, no bootstrap
        return gate_table(model, model, {"h": cases}, rounds=0).set_index("check")["champion"]

    whole = figures(population)
    per_draw = pd.DataFrame([figures(s) for s in samples])
    unweighted = pd.DataFrame(
        [figures(s.drop(columns=INCLUSION_PROBABILITY)) for s in samples[:20]]
    )
    auc = [c for c in whole.index if c.startswith("AUC ")]
    mean, se = per_draw[auc].mean(), per_draw[auc].std(ddof=1) / np.sqrt(len(per_draw))
    gap = (mean - whole[auc]).abs()
    print(pd.DataFrame({"population": whole[auc], "weighted": mean, "gap/SE": gap / se}))
    assert (gap < 3 * se + 0.002).all(), gap[gap >= 3 * se + 0.002]
    # without the weights the risk-weighted batch misdescribes the caseload's disparity ratios
    disparity = [c for c in whole.index if c.startswith("disparity ")]
    weighted_error = (per_draw[disparity].mean() - whole[disparity]).abs().max()
    unweighted_error = (unweighted[disparity].mean() - whole[disparity]).abs().max()
    assert weighted_error < unweighted_error


def test_a_risk_weighted_batch_from_an_unchanged_population_raises_no_drift(
    population, batches
) -> None:
    model, samples = batches
    report = drift_report(population, samples[0], model)
    print(report.sort_values("psi_or_shift", ascending=False).head(5))
    assert not report["flag"].any(), report[report["flag"]]
    naive = drift_report(population, samples[0].drop(columns=INCLUSION_PROBABILITY), model)
    risk = lambda r: r.set_index("name").loc["risk_score", "psi_or_shift"]  # noqa: E731
    assert risk(report) < risk(naive)
