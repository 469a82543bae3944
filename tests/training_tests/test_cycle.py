"""The inspection cycle closed on its own output: plan → draw → inspect → estimate → retrain.

Three simulated years of one population whose officers stay (turnover 0.15 a year). Year 0:
equal-chance inspections (no inclusion probabilities) train the first champion. Years 1 and 2:
an inspection draws a risk-weighted sample with `casework sample`, the generator's truth stands
in for the inspectors (`casework generate-judgements`, a few cases not inspected), `casework
estimate` and `casework retrain --new` read the judged file unchanged. The store then mixes both
designs. Only the CLI is used, as a planner and an operator would.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from casework.cli import app
from features.contract import INSUFFICIENT, JUDGEMENTS, SUFFICIENT, score_column
from features.settings import get_settings
from features.synthetic.generator import population
from training.lifecycle.gates import gate_table
from training.lifecycle.job import load_model
from training.lifecycle.store import TrainingStore

pytestmark = pytest.mark.slow
runner = CliRunner()
FRAME, YEAR0, SAMPLE = 4_000, 2_000, 200


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code != 1, result.output  # never an internal error
    return result


def _target(frame: pd.DataFrame, world) -> pd.Series:
    """Each judgement's expected share sufficient among the frame's applicable cases."""
    p_true = world.truth.p_true(frame)
    applies = world.truth.p_applies(frame)
    share = ((1 - p_true) * applies).sum(axis=0) / applies.sum(axis=0)
    return pd.Series(share, index=list(JUDGEMENTS))


def _pooled_log_loss(model, cases: pd.DataFrame, found: pd.DataFrame) -> pd.DataFrame:
    """Per case: officer, summed log loss and count over its judged judgements."""
    scores = model.predict(cases)
    loss, count = np.zeros(len(cases)), np.zeros(len(cases))
    for judgement in JUDGEMENTS:
        values = found[judgement].astype(str).to_numpy()
        judged = np.isin(values, (SUFFICIENT, INSUFFICIENT))
        y = values == INSUFFICIENT
        p = np.clip(scores[score_column(judgement)].to_numpy(), 1e-6, 1 - 1e-6)
        loss += np.where(judged, -np.log(np.where(y, p, 1 - p)), 0.0)
        count += judged
    return pd.DataFrame({"officer": cases["officer_id"].to_numpy(), "loss": loss, "n": count})


def test_three_years_of_the_cycle_close_on_their_own_output(workspace: Path) -> None:
    world = population(FRAME, seed=5, years=3, turnover=0.15)
    year0 = world.inspected(YEAR0, start=0.0, end=1.0)
    year0.to_parquet(workspace / "year0.parquet")
    trained = _run("train", "--data", str(workspace / "year0.parquet"))
    assert trained.exit_code == 0, trained.output
    first = load_model(get_settings())

    sent, decisions = YEAR0, []
    for year in (1, 2):
        frame, _ = world.frame(FRAME, at=float(year), prefix=f"F{year}-")
        paths = {n: workspace / f"{n}{year}.csv" for n in ("frame", "sample", "judged")}
        frame.to_csv(paths["frame"], index=False)
        drawn = _run(
            "sample", "--frame", str(paths["frame"]), "--size", str(SAMPLE),
            "--seed", str(year), "--inspection-id", f"YEAR{year}",
            "--inspection-date", f"{2016 + year}-02-01", "--out", str(paths["sample"]),
        )  # fmt: skip
        assert drawn.exit_code == 0, drawn.output
        judged = _run(
            "generate-judgements", "--sample", str(paths["sample"]), "--out",
            str(paths["judged"]), "--seed", str(year), "--not-inspected", "0.03",
        )  # fmt: skip
        assert judged.exit_code == 0, judged.output
        estimates_path = workspace / f"estimates{year}.csv"
        estimated = _run("estimate", "--sample", str(paths["judged"]), "--out", str(estimates_path))
        assert estimated.exit_code == 0, estimated.output
        estimates = pd.read_csv(estimates_path).set_index("judgement")
        gap = (estimates["estimate"] - _target(frame, world)).abs() / estimates["se"]
        assert (gap < 4).all(), gap  # |z| < 4 for all 12: a 1-in-1,300 miss per judgement
        retrained = _run("retrain", "--new", str(paths["judged"]))
        assert retrained.exit_code in (0, 3), retrained.output
        sentence = next(
            line
            for line in retrained.output.splitlines()
            if line.startswith(("promoted:", "champion kept:"))
        )
        decisions.append((retrained.exit_code, sentence))
        sent += SAMPLE

    store = TrainingStore.for_settings(get_settings())
    ledger = json.loads(store.ledger_path.read_text())
    assert sum(e["rows"] for e in ledger.values()) + len(store.reference()) == sent
    assert {e["status"] for e in ledger.values()} <= {"active", "held"}

    # On fresh cases of year 2.5, judged as inspectors would find them, the final champion is
    # at least as good as the first (paired, officer-clustered standard error).
    fresh, found = world.frame(3_000, at=2.5, prefix="H")
    found = pd.DataFrame(found)
    final = load_model(get_settings())
    old = _pooled_log_loss(first, fresh, found)
    new = _pooled_log_loss(final, fresh, found)
    by_officer = (
        pd.DataFrame({"diff": new["loss"] - old["loss"], "n": old["n"], "officer": old["officer"]})
        .groupby("officer")[["diff", "n"]]
        .sum()
    )
    delta = by_officer["diff"].sum() / by_officer["n"].sum()
    residual = by_officer["diff"] - delta * by_officer["n"]
    se = np.sqrt((residual**2).sum()) / by_officer["n"].sum()
    print(f"decisions {decisions}; pooled log loss new - old {delta:+.4f} (SE {se:.4f})")
    assert delta < 3 * se + 1e-12
    # AUC, paired by officer bootstrap: no judgement worse beyond the gates' margin on evidence
    paired = gate_table(first, final, {"fresh": pd.concat([fresh, found], axis=1)})
    auc = paired[paired["check"].str.startswith("AUC")]
    print(auc[["check", "delta", "low", "high"]].round(4).to_string())
    assert len(auc) == len(JUDGEMENTS) and not auc["blocks"].any()
