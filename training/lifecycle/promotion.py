"""Moving the champion: name a new version, publish a bundle, promote, roll back, repair.

The only module that changes registry aliases. Bundles live in ``models/versions/v<N>/``;
``models/champion`` and ``models/previous`` are symbolic links to them, swapped with an atomic
rename, so a reader (the service) always finds a whole bundle, old or new. The registry alias
``champion`` must name the same version as the link; a process killed between the two is
repaired by ``reconcile`` on the next run.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import replace
from pathlib import Path

from features.settings import Settings
from training.bundle import METADATA_FILE, CaseworkModel
from training.lifecycle.registry import (
    CHALLENGER,
    CHAMPION,
    MODEL_NAME,
    PREVIOUS,
    RegisteredRun,
    alias_version,
    connect,
    load_registered,
)


def name_new_version(settings: Settings, registered: RegisteredRun) -> RegisteredRun:
    """Alias a newly registered version ``challenger``, and ``champion`` when there is none yet."""
    client = connect(settings)
    client.set_registered_model_alias(MODEL_NAME, CHALLENGER, registered.version)
    aliases = [CHALLENGER]
    if alias_version(client, CHAMPION) is None:
        client.set_registered_model_alias(MODEL_NAME, CHAMPION, registered.version)
        aliases.append(CHAMPION)
    return replace(registered, aliases=tuple(aliases))


def checkpoint(settings: Settings, step: str) -> None:
    """Test hook: die here, as a killed process would, when ``CASEWORK_FAULT_POINT`` is ``step``."""
    if settings.fault_point == step:
        os.kill(os.getpid(), signal.SIGKILL)


def link(settings: Settings, name: str = CHAMPION) -> Path:
    """Path of the ``champion`` (or ``previous``) link under the models folder."""
    return Path(settings.models_dir) / name


def exported_version(settings: Settings, name: str = CHAMPION) -> str | None:
    """The registry version of an exported bundle, from its metadata."""
    path = link(settings, name) / METADATA_FILE
    if not path.exists():
        return None
    return str(json.loads(path.read_text(encoding="utf-8")).get("version"))


def publish(
    bundle: CaseworkModel, version: str, settings: Settings, extras: dict[str, str] | None = None
) -> Path:
    """Write the bundle to ``models/versions/v<version>`` and point ``champion`` at it.

    The bundle the link pointed at before becomes ``previous`` (for rollback).
    """
    bundle.metadata.update(version=version, aliases=[CHAMPION])
    target = bundle.save(Path(settings.models_dir) / "versions" / f"v{version}", extras)
    current = link(settings)
    if current.exists() and current.resolve() != target.resolve():
        _point(link(settings, PREVIOUS), current.resolve())
    checkpoint(settings, "export")
    _point(current, target)
    return current


def promote(
    bundle: CaseworkModel, version: str, settings: Settings, extras: dict[str, str]
) -> None:
    """Make ``bundle`` (registry ``version``) the champion, on disk then in the registry."""
    client = connect(settings)
    old = alias_version(client, CHAMPION)
    publish(bundle, version, settings, extras)
    client.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
    if old is not None:
        client.set_registered_model_alias(MODEL_NAME, PREVIOUS, old)


def rollback(settings: Settings) -> str:
    """Point ``champion`` back at the previous bundle (and the aliases); return its version."""
    previous, current = link(settings, PREVIOUS), link(settings)
    back, now = exported_version(settings, PREVIOUS), exported_version(settings)
    if back is None:
        raise FileNotFoundError(previous)
    before, after = current.resolve(), previous.resolve()
    _point(current, after)
    _point(previous, before)
    client = connect(settings)
    client.set_registered_model_alias(MODEL_NAME, CHAMPION, back)
    if now is not None:
        client.set_registered_model_alias(MODEL_NAME, PREVIOUS, now)
    return back


def reconcile(settings: Settings) -> bool:
    """Re-export the registry's champion if the exported bundle names another version."""
    registered = alias_version(connect(settings), CHAMPION)
    if registered is None or exported_version(settings) == registered:
        return False
    publish(load_registered(settings, registered), registered, settings)
    return True


def _point(name: Path, target: Path) -> None:
    """Make ``name`` a symlink to ``target`` with one atomic rename."""
    name.parent.mkdir(parents=True, exist_ok=True)
    temporary = name.with_name(f".{name.name}.link")
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    temporary.symlink_to(os.path.relpath(target, name.parent), target_is_directory=True)
    os.replace(temporary, name)
