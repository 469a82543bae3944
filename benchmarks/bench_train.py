"""`casework train` (12 judgements, grouped CV, calibration) at 50,000 and 250,000 cases.

Each size runs in a fresh interpreter so that its peak memory is its own. Baselines in the same
run: the logistic-regression baseline fitted for every judgement on the same rows, and a single
plain LightGBM fit per judgement with no CV and no calibration.
"""

from __future__ import annotations

from benchmarks.common import Row, in_fresh_process, report

SETUP = """
from features.synthetic.generator import generate
from features.contract import JUDGEMENTS, NOT_APPLICABLE, INSUFFICIENT
from features.pipeline import CaseFeatures
cases = generate({n}, 250_000, seed=1).inspected
"""
TRAIN = "from training.trainer import train\ntrain(cases, seed=0)"
BASELINES = """
from training.baselines import logistic_baseline
import lightgbm as lgb
features = CaseFeatures().fit(cases)
X = features.transform(cases)
nominal = features.nominal_features_
for j in JUDGEMENTS:
    values = cases[j].astype(str).to_numpy()
    keep = values != NOT_APPLICABLE
    y = (values[keep] == INSUFFICIENT).astype(int)
    logistic_baseline(nominal, [c for c in X if c not in nominal]).fit(X[keep], y)
    if {plain}:
        lgb.train(dict(objective="binary", verbose=-1, num_leaves=8, learning_rate=0.05,
                       num_threads=2), lgb.Dataset(X[keep], y, categorical_feature=nominal), 120)
"""


def run() -> list[Row]:
    """Rows: train time and peak memory at 50k and 250k beside the baselines."""
    rows = []
    for n, goal in ((50_000, "< 60 s"), (250_000, "peak < 4 GiB")):
        setup = SETUP.format(n=n)
        seconds, mib = in_fresh_process(setup, TRAIN)
        logistic, _ = in_fresh_process(setup, BASELINES.format(plain=False))
        plain, _ = in_fresh_process(setup, BASELINES.format(plain=True))
        rows.append(
            Row(
                f"train {n:,} cases (12 judgements, CV, calibration)",
                seconds,
                plain,
                "plain LightGBM + logistic, no CV",
                "s",
                goal if n == 50_000 else "",
            )
        )
        rows.append(Row(f"train {n:,} cases: logistic baselines only", logistic, None, "-", "s"))
        rows.append(
            Row(
                f"train {n:,} cases: peak memory",
                mib,
                None,
                "-",
                "MiB",
                goal if n == 250_000 else "",
            )
        )
    return rows


if __name__ == "__main__":
    report(run(), "train")
