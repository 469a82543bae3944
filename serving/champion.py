"""The champion the service answers with: loaded once, swapped whole when a new one is promoted."""

from __future__ import annotations

import gc
import logging
import threading
from pathlib import Path

import bentoml

from serving.io import ModelInfo
from training.bundle import MODEL_FILE, CaseworkModel
from training.lifecycle.registry import MODEL_NAME

logger = logging.getLogger("casework.service")
NO_CHAMPION = "no champion model: run casework train"


class Champion:
    """The served bundle and the link it came from; swapped whole, never mutated, so a request
    in flight keeps the bundle it started with."""

    def __init__(self, path: Path):
        self.path = path
        self.target: Path | None = None
        self.model: CaseworkModel | None = None
        self.lock = threading.Lock()
        # with the long-lived heap frozen (``refresh``), the young generation may grow to a
        # request's worth of objects: /predict with 1,000 cases went from p50 115, p99 326 ms to
        # p50 100, p99 140 ms (full collections walking the whole heap had hit ~3% of calls)
        gc.set_threshold(50_000, 20, 20)

    def refresh(self) -> bool:
        """Load the bundle the link points at if it changed; True when a new one was loaded."""
        with self.lock:
            if not (self.path / MODEL_FILE).exists():
                return False
            target = self.path.resolve()
            if target == self.target and self.model is not None:
                return False
            model = CaseworkModel.load(target)
            self.model, self.target = model, target
            # the long-lived heap (libraries, this bundle) leaves the collector's view; it is
            # thawed first so that cycles of the bundle just replaced can still be collected
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            logger.info("serving model version %s", model.metadata.get("version"))
            return True

    def watch(self, seconds: float) -> threading.Event:
        """Reload the bundle every ``seconds`` (none when 0) in a thread; set the event to stop.

        A bundle that fails to load (half promoted, broken) is logged and the old one served.
        """
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(seconds):
                try:
                    self.refresh()
                except Exception:  # a half-promoted or broken bundle: keep serving the old one
                    logger.exception("could not load the new champion; still serving the old one")

        if seconds > 0:
            threading.Thread(target=loop, daemon=True, name="champion-watch").start()
        return stop

    def current(self) -> CaseworkModel:
        """The served bundle.

        Raises:
            bentoml.exceptions.ServiceUnavailable: No champion is loaded (503).
        """
        model = self.model
        if model is None:
            raise bentoml.exceptions.ServiceUnavailable(NO_CHAMPION)
        return model

    def version(self) -> str | None:
        """The served bundle's registry version, as text."""
        return _version(self.current().metadata)

    def info(self) -> ModelInfo:
        """Version, alias, training data and headline metrics of the served bundle."""
        meta = self.current().metadata
        aliases = meta.get("aliases") or []
        return ModelInfo(
            name=MODEL_NAME,
            version=_version(meta),
            alias=aliases[0] if aliases else None,
            trained_on=dict(meta.get("trained_on") or {}),
            metrics=dict(meta.get("metrics") or {}),
        )


def _version(meta: dict[str, object]) -> str | None:
    version = meta.get("version")
    return None if version is None else str(version)
