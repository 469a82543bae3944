"""The retraining job end to end: promote, keep, reject, idempotence, crashes, lock, rollback.

One base champion is trained per module on the first 60% of a 5,000-case generator history (by
inspection date); the rest is the new batch. Each test works on its own copy of that workspace.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from casework import commands
from casework.cli import app
from features.contract import JUDGEMENTS
from features.settings import get_settings, workspace_environment
from features.synthetic.generator import generate
from training.lifecycle import retrain as retrain_job
from training.lifecycle.drift import drift_html
from training.lifecycle.promotion import exported_version
from training.lifecycle.registry import MODEL_NAME, connect
from training.lifecycle.retrain import RETRAIN_STEPS, retrain_lock
from training.lifecycle.store import TrainingStore

runner = CliRunner()


@pytest.fixture(scope="module")
def history(tmp_path_factory, workspace_at) -> Path:
    """A workspace whose champion (v1) was trained on the older part of a history."""
    root = tmp_path_factory.mktemp("history")
    cases = generate(5_000, 2_000, seed=11).inspected
    cut = cases["inspection_date"].quantile(0.6)
    cases[cases["inspection_date"] <= cut].to_parquet(root / "base.parquet")
    newer = cases[cases["inspection_date"] > cut]
    newer.to_parquet(root / "good.parquet")
    shuffled = newer.copy()
    rng = np.random.default_rng(0)
    for judgement in JUDGEMENTS:
        shuffled[judgement] = shuffled[judgement].to_numpy()[rng.permutation(len(newer))]
    shuffled.to_parquet(root / "shuffled.parquet")
    bad = newer.head(50).astype({"officer_caseload": object})
    bad.loc[bad.index[4], "officer_caseload"] = -3
    bad.to_csv(root / "malformed.csv", index=False)
    with workspace_at(root / "work"):
        result = runner.invoke(app, ["train", "--data", str(root / "base.parquet")])
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def work(history, tmp_path, workspace_at) -> Path:
    """A private copy of the history's workspace, selected through CASEWORK_* variables."""
    shutil.copytree(history / "work", tmp_path / "work", symlinks=True)
    with workspace_at(tmp_path / "work"):
        yield tmp_path / "work"


def _retrain(*args: str):
    return runner.invoke(app, ["retrain", *args])


def _aliases() -> dict[str, str]:
    client: MlflowClient = connect(get_settings())
    return {
        alias: str(client.get_model_version_by_alias(MODEL_NAME, alias).version)
        for alias in ("champion", "challenger")
    }


def _store_snapshot(work: Path) -> tuple[str, list[str]]:
    store = work / "data" / "store"
    files = sorted(str(p.relative_to(store)) for p in store.rglob("*.parquet"))
    return (store / "ledger.json").read_text(), files


@pytest.mark.slow
def test_a_better_batch_is_promoted_then_resending_it_changes_nothing(
    history, work, monkeypatch
) -> None:
    steps: list[str] = []
    monkeypatch.setattr(
        commands.retrain, "step_bar", lambda label, total: nullcontext(steps.append)
    )
    pages: list[str] = []

    def rendered(*args: object) -> str:
        pages.append(drift_html(*args))
        return pages[-1]

    monkeypatch.setattr(retrain_job, "drift_html", rendered)
    promoted = _retrain("--new", str(history / "good.parquet"))
    assert promoted.exit_code == 0, promoted.output
    trained = [f"training ({j} done)" for j in JUDGEMENTS]
    assert steps == ["checks", "drift", "training", *trained, "gates", "promotion"]
    assert len(steps) == RETRAIN_STEPS and len(pages) == 1  # the drift page rendered once
    sentence = promoted.output.index("promoted: no judgement worse beyond the margins")
    assert sentence < promoted.output.index("Promotion gates") < promoted.output.index("version 2")
    assert _aliases() == {"champion": "2", "challenger": "2"}
    assert exported_version(get_settings()) == "2"
    assert exported_version(get_settings(), "previous") == "1"
    ledger, files = _store_snapshot(work)
    assert {e["status"] for e in json.loads(ledger).values()} == {"active"}

    again = _retrain("--new", str(history / "good.parquet"))
    assert again.exit_code == 0 and "nothing appended" in again.output
    assert _store_snapshot(work)[1] == files
    assert _aliases()["champion"] == "2"

    rolled = runner.invoke(app, ["rollback"])
    assert rolled.exit_code == 0 and "version 1" in rolled.output
    assert _aliases()["champion"] == "1" and exported_version(get_settings()) == "1"
    client = connect(get_settings())
    runs = client.search_runs([client.get_experiment_by_name("casework").experiment_id])
    decisions = {r.data.tags.get("gate_decision") for r in runs}
    assert {"promoted", "already processed"} <= decisions
    (run,) = [r for r in runs if "gate_reason" in r.data.tags]
    assert run.data.tags["gate_reason"].startswith("promoted: no judgement worse")
    logged = client.download_artifacts(run.info.run_id, "drift_report.html", str(work))
    assert Path(logged).read_text(encoding="utf-8") == pages[0]


@pytest.mark.slow
def test_a_batch_of_shuffled_labels_keeps_the_champion_and_is_held_back(history, work) -> None:
    before = os.readlink(work / "models" / "champion")
    kept = _retrain("--new", str(history / "shuffled.parquet"))
    assert kept.exit_code == 3, kept.output
    assert "champion kept: the new cases' labels disagree with the champion" in kept.output
    assert os.readlink(work / "models" / "champion") == before
    assert _aliases() == {"champion": "1", "challenger": "2"}
    store = TrainingStore(work / "data" / "store")
    held = [b for b, e in store.ledger().items() if e["status"] == "held"]
    assert len(held) == 1 and "disagree" in store.ledger()[held[0]]["note"]
    assert not store.cases()["case_id"].isin(store.batch_cases(held[0])["case_id"]).any()
    status = _retrain("--status")
    assert status.exit_code == 0 and held[0] in status.output and "held" in status.output


@pytest.mark.slow
def test_a_failed_challenger_is_marked_failed_then_accept_retries_and_drop_removes(
    history, work, monkeypatch
) -> None:
    before = _store_snapshot(work)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("training.lifecycle.retrain.train", broken)
    crashed = _retrain("--new", str(history / "good.parquet"))
    assert crashed.exit_code == 1 and "disk full" in crashed.output
    store = TrainingStore(work / "data" / "store")
    (batch,) = [b for b in store.ledger() if b != "base"]
    assert store.ledger()[batch]["status"] == "failed"  # never left pending
    assert store.ledger()[batch]["note"] == "RuntimeError: disk full"
    assert batch in _retrain("--status").output
    assert _retrain("--accept", batch).exit_code == 1  # still broken: failed again
    assert store.ledger()[batch]["status"] == "failed"

    monkeypatch.undo()
    retried = _retrain("--accept", batch)  # retrain with the batch, gate, promote
    assert retried.exit_code == 0, retried.output
    assert "promoted:" in retried.output and store.ledger()[batch]["status"] == "active"
    assert _aliases()["champion"] == "2"
    dropped = _retrain("--drop", batch)
    assert dropped.exit_code == 0 and "champion is unchanged" in dropped.output
    assert _store_snapshot(work)[1] == before[1]
    assert _aliases()["champion"] == "2"
    assert _retrain("--drop", "base").exit_code == 2
    assert _retrain("--accept", "nosuchbatch").exit_code == 2


@pytest.mark.slow
def test_a_judged_sample_with_inclusion_probabilities_joins_a_store_without_them(
    history, work
) -> None:
    # Past inspections were equal-chance (no π); the first risk-weighted sample carries π.
    # The old job crashed here: "Input sample_weight contains NaN", exit 1, batch pending.
    batch = pd.read_parquet(history / "good.parquet")
    rng = np.random.default_rng(3)
    batch["inclusion_probability"] = rng.uniform(0.05, 1.0, len(batch))
    batch["stratum"] = "all"  # a design column of the judged file, kept and ignored
    path = work.parent / "weighted.parquet"
    batch.to_parquet(path)
    mixed = _retrain("--new", str(path))
    assert mixed.exit_code in (0, 3), mixed.output
    store = TrainingStore(work / "data" / "store")
    assert {e["status"] for e in store.ledger().values()} <= {"active", "held"}
    stored = store.cases(("active", "held"))
    assert len(stored) + len(store.reference()) == len(
        pd.read_parquet(history / "base.parquet")
    ) + len(batch)
    assert stored["inclusion_probability"].isna().sum() == len(stored) - len(batch)


def test_a_malformed_batch_is_quarantined_and_appends_nothing(history, work) -> None:
    before = _store_snapshot(work)
    champion = os.readlink(work / "models" / "champion")
    rejected = _retrain("--new", str(history / "malformed.csv"))
    assert rejected.exit_code == 2
    assert "officer_caseload" in rejected.output and "line 6" in rejected.output
    assert _store_snapshot(work) == before
    (folder,) = (work / "data" / "quarantine").iterdir()
    assert (folder / "malformed.csv").exists()
    assert "officer_caseload" in (folder / "error.txt").read_text()
    assert os.readlink(work / "models" / "champion") == champion
    assert _aliases()["champion"] == "1"


def test_a_dry_run_writes_nothing_and_says_where_the_report_would_go(history, work) -> None:
    before = _store_snapshot(work)
    dry = _retrain("--new", str(history / "good.parquet"), "--dry-run")
    assert dry.exit_code == 0, dry.output
    said = " ".join(dry.output.split())
    assert "nothing written" in said and "report would go to" in said
    assert _store_snapshot(work) == before
    assert not list((work / "reports").glob("drift-*.html"))


def test_a_second_retrain_waits_for_none_and_says_why(history, work) -> None:
    with retrain_lock(get_settings()):
        busy = _retrain("--new", str(history / "good.parquet"))
    assert busy.exit_code == 1
    assert "another retrain is running" in busy.output


@pytest.mark.slow
def test_killed_at_each_step_the_store_and_champion_stay_consistent(history, work) -> None:
    env = {**os.environ, **workspace_environment(work)}
    command = [sys.executable, "-m", "casework", "retrain", "--new", str(history / "good.parquet")]
    for step in ("append", "export"):
        died = subprocess.run(
            command, env={**env, "CASEWORK_FAULT_POINT": step}, capture_output=True, text=True
        )
        assert died.returncode == -9, (step, died.stderr[-2000:])
        # Whatever was on disk is whole: a loadable champion and a readable ledger.
        assert (work / "models" / "champion" / "model.joblib").exists()
        json.loads((work / "data" / "store" / "ledger.json").read_text())
        get_settings.cache_clear()
        assert _aliases()["champion"] == "1"
    finished = subprocess.run(command, env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    get_settings.cache_clear()
    assert _aliases()["champion"] == exported_version(get_settings()) != "1"
    store = TrainingStore(work / "data" / "store")
    assert {e["status"] for e in store.ledger().values()} == {"active"}
    stored = store.cases()
    assert stored["case_id"].is_unique
    assert len(stored) == len(pd.read_parquet(history / "base.parquet")) - len(
        store.reference()
    ) + len(pd.read_parquet(history / "good.parquet"))
