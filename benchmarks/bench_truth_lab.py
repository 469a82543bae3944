"""Truth-lab study: do the true top-3 driver effects fall inside the recovered effects' intervals?

For generated data (``--cases``, ``--seed``; the tests use seed 1) trains the champion, runs the
truth lab on its temporal test cases and prints the pairs (judgement × true top-3 driver) whose
true effect is inside its interval, the judgements with all three inside (the issue-21
criterion: at least 11 of 12), the mean and largest |recovered - true| and the mean half-width;
plus train and truth-lab time and the held-out log loss / AUC. JSON to ``--out``.

    python -m benchmarks.bench_truth_lab --cases 50000 --seed 5
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.metrics import log_loss

from features.synthetic.generator import generate
from training.reporting.explain import explain_matrix
from training.reporting.truth_lab import TOP_DRIVERS, TruthLab, truth_lab
from training.trainer import train

SAVE = Path(os.environ["TRUTH_LAB_SAVE"]) if "TRUTH_LAB_SAVE" in os.environ else None
"""Folder to keep each run's held-out cases and model in (for further study), if set."""


def figures(lab: TruthLab) -> dict[str, float]:
    """Coverage of the true top-3 effects by ``low``/``high``, with error and width."""
    top = lab.drivers[lab.drivers["true_rank"] <= TOP_DRIVERS]
    inside = top["true"].between(top["low"], top["high"])
    return {
        "pairs_inside": int(inside.sum()),
        "pairs": len(top),
        "judgements_all_inside": int(lab.recovered().sum()),
        "mean_abs_error": float((top["recovered"] - top["true"]).abs().mean()),
        "mean_error": float((top["recovered"] - top["true"]).mean()),
        "max_abs_error": float((top["recovered"] - top["true"]).abs().max()),
        "mean_half_width": float(((top["high"] - top["low"]) / 2).mean()),
    }


def run(data: pd.DataFrame, cases: int, seed: int) -> dict[str, object]:
    """One training and truth lab on generated ``data``, with its figures."""
    start = time.perf_counter()
    result = train(data, seed=0)
    seconds = time.perf_counter() - start
    held_out = data.iloc[result.split.test].reset_index(drop=True)
    if SAVE:
        joblib.dump((held_out, result.model), SAVE / f"{cases}_{seed}.joblib")
    X = result.model.matrix(held_out)
    shap = explain_matrix(result.model, X)
    start = time.perf_counter()
    lab = truth_lab(
        held_out, result.model.predict(held_out), shap, list(X.columns), model=result.model
    )
    lab_seconds = time.perf_counter() - start
    metrics = result.metrics[
        (result.metrics["model"] == "lightgbm") & (result.metrics["weighting"] == "unweighted")
    ]
    losses = [
        log_loss(rows["y"], rows["p"], labels=[0, 1])
        for _, rows in result.test_predictions.groupby("judgement")
    ]
    rounds = {j: int(m.n_rounds_) for j, m in result.model.models.items()}
    out = {
        "cases": cases,
        "seed": seed,
        "train_seconds": seconds,
        "lab_seconds": lab_seconds,
        "log_loss": float(np.mean(losses)),
        "brier": float(metrics["brier"].mean()),
        "auc": float(metrics["auc"].mean()),
        "rounds": rounds,
        "figures": figures(lab),
    }
    top = lab.drivers[lab.drivers["true_rank"] <= 3]
    print(top.drop(columns="contrast").round(2).to_string())
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    data = generate(args.cases, 5 * args.cases, seed=args.seed, with_truth=True).inspected
    result = run(data, args.cases, args.seed)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
