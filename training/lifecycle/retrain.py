"""The unattended retraining job: validate, append, check drift, train a challenger, gate, promote.

Exit codes (CONTRACT §4): 0 promoted (or nothing new to learn from), 3 champion kept (a gate
failed; the batch is held back), 2 bad input (the batch is quarantined), 1 internal error. One
retrain at a time (a file lock); every run is an MLflow run tagged with its decision
(``gate_decision``) and the sentence saying why (``gate_reason``). Failures are loud and
harmless: a bad batch appends nothing, a challenger that fails marks its batch ``failed`` in the
ledger (retried by resending or ``--accept``, removed by ``--drop``) and never touches the
champion, and a run killed at any step leaves the store and champion consistent for the next run.
"""

from __future__ import annotations

import fcntl
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import pandas as pd

from features.contract import JUDGEMENTS
from features.errors import InputError, InputErrors
from features.readers import write_text
from features.settings import Settings
from features.validation import load_table
from training.bundle import CaseworkModel
from training.lifecycle.drift import drift_html, drift_report
from training.lifecycle.gates import decide, gate_table, label_agreement
from training.lifecycle.job import load_model
from training.lifecycle.promotion import checkpoint, name_new_version, promote, reconcile
from training.lifecycle.registry import CHAMPION, connect
from training.lifecycle.store import (
    ACTIVE,
    BASE_BATCH,
    FAILED,
    HELD,
    PENDING,
    TrainingStore,
    batch_id,
)
from training.lifecycle.tracking import log_training
from training.reporting.model_card import model_card, render_model_card
from training.trainer import train

PROMOTED, KEPT, BAD_INPUT = 0, 3, 2
RETRAIN_STEPS = 5 + len(JUDGEMENTS)
"""How many times a whole retrain calls ``on_step``: checks, drift, training and each judgement
trained, gates, decision (a run that stops early calls it fewer times)."""
Step = Callable[[str], None]


class RetrainBusy(RuntimeError):
    """Another retrain holds the lock."""


@dataclass
class RetrainOutcome:
    """What a retrain decided, and the tables it decided on."""

    exit_code: int
    message: str
    batch: str | None = None
    drift: pd.DataFrame | None = None
    gates: pd.DataFrame | None = None


@contextmanager
def retrain_lock(settings: Settings) -> Iterator[None]:
    """Hold an exclusive lock for the run; the OS releases it if the process dies."""
    path = Path(settings.data_dir) / ".retrain.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RetrainBusy(f"another retrain is running (lock held on {path})") from None
        yield


def retrain(
    path: Path,
    settings: Settings,
    dry_run: bool = False,
    say: Callable[[str], None] = lambda _: None,
    on_step: Step = lambda _: None,
) -> RetrainOutcome:
    """Run the whole job for one new batch of inspected cases.

    Args:
        say: prints a line of news for the operator.
        on_step: called with the name of each of the ``RETRAIN_STEPS`` steps as it starts.
    """
    with retrain_lock(settings):
        on_step("checks")
        store = TrainingStore.for_settings(settings)
        if not store.exists():
            raise InputError("no training store yet: run `casework train --data FILE` first")
        if store.recover():
            say("removed files of an interrupted append")
        if reconcile(settings):
            say("re-exported the registry's champion after an interrupted promotion")
        try:
            batch = load_table(path, kind="inspected")
        except (InputError, InputErrors) as error:
            where = quarantine(path, error, settings)
            _decision_run(settings, str(path), "rejected", {"quarantine": str(where)})
            return RetrainOutcome(BAD_INPUT, f"{error}\nbatch quarantined in {where}")
        return _retrain_batch(batch, str(path), store, settings, dry_run, say, on_step)


def _retrain_batch(
    batch: pd.DataFrame,
    source: str,
    store: TrainingStore,
    settings: Settings,
    dry_run: bool,
    say: Callable[[str], None],
    on_step: Step,
) -> RetrainOutcome:
    bid = batch_id(batch)
    status = store.ledger().get(bid, {}).get("status")
    if status in (ACTIVE, HELD):
        _decision_run(settings, source, "already processed", {"batch": bid})
        return RetrainOutcome(
            PROMOTED, f"batch {bid} already processed ({status}); nothing appended", bid
        )
    champion = load_model(settings)
    on_step("drift")
    active = store.cases()
    drift = drift_report(active, batch, champion)
    report = Path(settings.reports_dir) / f"drift-{bid}.html"
    if dry_run:
        return RetrainOutcome(
            PROMOTED,
            f"dry run: batch {bid} is valid; nothing written (the drift report would go to "
            f"{report})",
            bid,
            drift,
        )
    page = drift_html(drift, source)
    write_text(page, report)
    say(f"drift report: {report}")
    if status is None:
        added = store.append(batch, bid, source)
        say(f"appended {added:,} new cases as batch {bid}")
        checkpoint(settings, "append")
        if added == 0:
            store.set_status(bid, ACTIVE)
            _decision_run(settings, source, "nothing new", {"batch": bid})
            return RetrainOutcome(
                PROMOTED, "every case was already stored; nothing to learn", bid, drift
            )
    else:
        say(f"retrying batch {bid} ({status})")
    return _challenge(
        bid, source, store, settings, champion, say, on_step, drift, page, active=active
    )


def _challenge(
    bid: str,
    source: str,
    store: TrainingStore,
    settings: Settings,
    champion: CaseworkModel,
    say: Callable[[str], None],
    on_step: Step,
    drift: pd.DataFrame | None = None,
    drift_page: str | None = None,
    admitted: bool = False,
    active: pd.DataFrame | None = None,
) -> RetrainOutcome:
    """Train a challenger on the training set plus batch ``bid``, gate it, promote or hold.

    ``active`` is the training set if the caller has already read it (the store is read once).
    Whatever goes wrong in here (too little data, a crash) marks the batch ``failed`` with the
    error in the ledger before the error goes on, so no batch is left pending.
    """
    try:
        reference = store.reference()
        new_cases = store.batch_cases(bid)
        active = store.cases((ACTIVE,)) if active is None else active
        data = pd.concat([active, new_cases, reference], ignore_index=True)
        data = data.drop_duplicates("case_id", ignore_index=True)
        say(f"training a challenger on {len(data) - len(reference):,} cases")
        on_step("training")
        result = train(
            data,
            seed=settings.seed,
            test_ids=reference["case_id"],
            on_judgement=lambda judgement: on_step(f"training ({judgement} done)"),
        )
        checkpoint(settings, "train")
        say(
            f"split: {result.split.mode} ({len(result.split.train):,} training cases, "
            f"{len(result.split.test):,} reference cases to test on)"
        )
        registered = name_new_version(
            settings,
            log_training(
                result,
                data,
                source,
                settings,
                {"seed": settings.seed, "batch": bid, "rows": len(data)},
                model_card(result),
            ),
        )
        on_step("gates")
        scored = {"reference": champion.predict(reference)}
        gates = gate_table(champion, result.model, {"reference": reference}, champion_scores=scored)
        if len(gates) and len(new_cases):
            agreement = label_agreement(
                champion, reference, new_cases, trusted_scores=scored["reference"]
            )
            gates = pd.concat([gates, pd.DataFrame([agreement])], ignore_index=True)
        promoted, reason = decide(gates)
        on_step("promotion" if promoted else "holding the champion")
        _record(
            registered.run_id, drift, drift_page, gates, "promoted" if promoted else "kept", reason
        )
        if promoted:
            promote(
                result.model,
                registered.version,
                settings,
                render_model_card(model_card(result, registered.version, (CHAMPION,))),
            )
    except BaseException as error:
        store.set_status(bid, FAILED, f"{type(error).__name__}: {error}")
        raise
    if promoted:
        store.set_status(bid, ACTIVE, reason)
        return RetrainOutcome(
            PROMOTED, f"{reason}\nversion {registered.version} is the champion", bid, drift, gates
        )
    if admitted:
        store.set_status(bid, ACTIVE, reason)
        return RetrainOutcome(
            KEPT, f"{reason}\nbatch {bid} admitted to the training set", bid, drift, gates
        )
    store.set_status(bid, HELD, reason)
    return RetrainOutcome(
        KEPT,
        f"{reason}\nbatch {bid} held back (admit it with `casework retrain --accept {bid}`)",
        bid,
        drift,
        gates,
    )


def accept(
    batch: str,
    settings: Settings,
    say: Callable[[str], None] = lambda _: None,
    on_step: Step = lambda _: None,
) -> RetrainOutcome:
    """Admit a held-back, pending or failed batch: retrain with it, gate, promote if it passes.

    The batch joins the training set whatever the gates say (an operator vouched for it).
    """
    with retrain_lock(settings):
        on_step("checks")
        store = TrainingStore.for_settings(settings)
        status = store.ledger().get(batch, {}).get("status")
        if status is None:
            raise InputError(f"no batch {batch} in the store (see `casework retrain --status`)")
        if status not in (HELD, PENDING, FAILED):
            raise InputError(f"batch {batch} is {status}, not held back, pending or failed")
        if reconcile(settings):
            say("re-exported the registry's champion after an interrupted promotion")
        source = str(store.ledger()[batch].get("source", batch))
        champion = load_model(settings)
        return _challenge(batch, source, store, settings, champion, say, on_step, admitted=True)


def drop(batch: str, settings: Settings) -> str:
    """Remove a batch from the store (never the base batch); the champion is not touched."""
    with retrain_lock(settings):
        store = TrainingStore.for_settings(settings)
        status = store.ledger().get(batch, {}).get("status")
        if status is None:
            raise InputError(f"no batch {batch} in the store (see `casework retrain --status`)")
        if batch == BASE_BATCH:
            raise InputError("the base batch is the first training's data and cannot be dropped")
        rows = store.drop(batch)
        return f"dropped batch {batch} ({status}, {rows:,} cases); the champion is unchanged"


def ledger_table(settings: Settings) -> pd.DataFrame:
    """The ledger as a table: batch, status, rows, source, when, note."""
    ledger = TrainingStore.for_settings(settings).ledger()
    columns = ["batch", "status", "rows", "source", "when", "note"]
    return pd.DataFrame([{"batch": b, **e} for b, e in ledger.items()], columns=columns).fillna("")


def quarantine(path: Path, error: Exception, settings: Settings) -> Path:
    """Copy a rejected batch beside an error report into ``<data>/quarantine``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    folder = Path(settings.data_dir) / "quarantine" / f"{stamp}-{Path(path).name}"
    staging = Path(tempfile.mkdtemp(prefix=".quarantine-", dir=folder.parent.parent))
    if Path(path).is_file():
        shutil.copy2(path, staging / Path(path).name)
    (staging / "error.txt").write_text(f"{path}\n{error}\n", encoding="utf-8")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(folder)
    return folder


def _decision_run(settings: Settings, source: str, decision: str, tags: dict) -> None:
    connect(settings)
    with mlflow.start_run(run_name=f"retrain {Path(source).name}"):
        mlflow.set_tags({"gate_decision": decision, "source": source, **tags})


def _record(
    run_id: str,
    drift: pd.DataFrame | None,
    drift_page: str | None,
    gates: pd.DataFrame,
    decision: str,
    reason: str,
) -> None:
    client = mlflow.MlflowClient()
    client.set_tag(run_id, "gate_decision", decision)
    client.set_tag(run_id, "gate_reason", reason[:5000])
    client.log_table(run_id, gates, "gate_table.json")
    if drift is not None:
        client.log_table(run_id, drift, "drift_report.json")
    if drift_page is not None:
        client.log_text(run_id, drift_page, "drift_report.html")
