"""The training store: every inspected case casework has accepted, as a Parquet dataset.

Layout under ``<data dir>/store``::

    cases/inspection_month=YYYY-MM/<batch>.parquet   one file per batch and month
    reference.parquet                               the fixed, trusted reference holdout
    ledger.json                                     each batch: rows, status, when

A batch is ``pending`` while its challenger is judged, then ``active`` (part of the training set)
or ``held`` (kept, flagged, out of training until ``casework retrain --accept``); ``failed`` when
its challenger could not be trained or gated (the error is in the ledger; resending the file or
``--accept`` retries it, ``--drop`` removes it). Files are written to a temp name and renamed;
the ledger is written last, so a batch whose process died before its ledger entry is an orphan
that ``TrainingStore.recover`` removes.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from features.readers import write_table
from features.settings import Settings

ACTIVE, PENDING, HELD, FAILED = "active", "pending", "held", "failed"
BASE_BATCH = "base"


def batch_id(cases: pd.DataFrame) -> str:
    """A content hash of a validated batch: the same cases give the same id."""
    ordered = cases.sort_values("case_id").reset_index(drop=True)
    digest = hashlib.sha256(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


class TrainingStore:
    """Append-only store of inspected cases with a batch ledger and a reference holdout."""

    def __init__(self, root: Path):
        self.root = Path(root)

    @classmethod
    def for_settings(cls, settings: Settings) -> TrainingStore:
        """The store under the configured data folder."""
        return cls(Path(settings.data_dir) / "store")

    @property
    def cases_dir(self) -> Path:
        return self.root / "cases"

    @property
    def reference_path(self) -> Path:
        return self.root / "reference.parquet"

    @property
    def ledger_path(self) -> Path:
        return self.root / "ledger.json"

    def exists(self) -> bool:
        """Whether the store has been seeded."""
        return self.ledger_path.exists()

    def ledger(self) -> dict[str, dict[str, object]]:
        """Batch id → {rows, status, source, when}."""
        if not self.exists():
            return {}
        return json.loads(self.ledger_path.read_text(encoding="utf-8"))

    def _write_ledger(self, ledger: dict[str, dict[str, object]]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".ledger-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(ledger, handle, indent=2)
        os.replace(tmp, self.ledger_path)

    def seed(self, cases: pd.DataFrame, reference: pd.DataFrame, source: str) -> None:
        """Start the store: ``cases`` as the base batch, ``reference`` set aside for good."""
        write_table(reference, self.reference_path)
        self._write_files(cases, BASE_BATCH)
        self._write_ledger({BASE_BATCH: _entry(len(cases), ACTIVE, source)})

    def append(self, cases: pd.DataFrame, batch: str, source: str) -> int:
        """Add the batch's cases not already stored, as ``pending``; return how many."""
        known = set(self.case_ids(include_held=True)) | set(self.reference()["case_id"])
        new = cases[~cases["case_id"].isin(known)]
        ledger = self.ledger()
        if len(new):
            self._write_files(new, batch)
        ledger[batch] = _entry(len(new), PENDING, source)
        self._write_ledger(ledger)
        return len(new)

    def set_status(self, batch: str, status: str, note: str = "") -> None:
        """Mark a batch active, held, pending or failed (``note``: why, shown by --status)."""
        ledger = self.ledger()
        if batch not in ledger:
            raise KeyError(batch)
        ledger[batch] = {**ledger[batch], "status": status, "note": note}
        self._write_ledger(ledger)

    def drop(self, batch: str) -> int:
        """Remove a batch (ledger entry first, then its files); return its stored rows."""
        ledger = self.ledger()
        entry = ledger.pop(batch)
        self._write_ledger(ledger)
        for path in self._files():
            if path.stem == batch:
                path.unlink()
        return int(entry["rows"])

    def recover(self) -> list[Path]:
        """Remove files of batches with no ledger entry (a process died while appending)."""
        known = set(self.ledger())
        orphans = [p for p in self._files() if p.stem not in known or p.name.startswith(".")]
        for path in orphans:
            path.unlink()
        return orphans

    def cases(
        self, statuses: tuple[str, ...] = (ACTIVE,), columns: list[str] | None = None
    ) -> pd.DataFrame:
        """Stored cases of batches with the given statuses (default: the training set)."""
        wanted = {b for b, e in self.ledger().items() if e["status"] in statuses}
        return _read([p for p in self._files() if p.stem in wanted], columns)

    def batch_cases(self, batch: str) -> pd.DataFrame:
        """The stored cases of one batch."""
        return _read([p for p in self._files() if p.stem == batch])

    def case_ids(self, include_held: bool = False) -> pd.Series:
        """Every stored case id (of active, pending and failed batches, held ones if asked)."""
        statuses = (ACTIVE, PENDING, FAILED) + ((HELD,) if include_held else ())
        stored = self.cases(statuses, columns=["case_id"])
        return stored["case_id"] if len(stored) else pd.Series(dtype=str)

    def reference(self) -> pd.DataFrame:
        """The fixed reference holdout (never trained on)."""
        if not self.reference_path.exists():
            return pd.DataFrame({"case_id": pd.Series(dtype=str)})
        return pd.read_parquet(self.reference_path)

    def _files(self) -> list[Path]:
        return list(self.cases_dir.glob("inspection_month=*/*.parquet"))

    def _write_files(self, cases: pd.DataFrame, batch: str) -> None:
        months = pd.to_datetime(cases["inspection_date"]).dt.strftime("%Y-%m")
        for month, rows in cases.groupby(months.to_numpy()):
            write_table(rows, self.cases_dir / f"inspection_month={month}" / f"{batch}.parquet")


def _read(files: list[Path], columns: list[str] | None = None) -> pd.DataFrame:
    """The files' rows in file order (only ``columns`` if given); empty without files."""
    if not files:
        return pd.DataFrame()
    return pd.concat(
        [pd.read_parquet(p, columns=columns) for p in sorted(files)], ignore_index=True
    )


def _entry(rows: int, status: str, source: str) -> dict[str, object]:
    return {
        "rows": rows,
        "status": status,
        "source": source,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
