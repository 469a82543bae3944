"""Sealed samples on the command line and in the store, and the CLI's client mistakes (exit 2)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
from typer.testing import CliRunner

from casework.cli import app
from features.errors import InputError
from features.readers import read_table, write_table
from features.settings import Settings, get_settings
from serving.commitment import SealedStore, commit, new_salt, verify
from serving.guard import TokenGuard, required_token
from training.lifecycle.retrain import retrain_lock

runner = CliRunner()


def said(result) -> str:
    """The command's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def test_commitments_of_the_first_form_still_verify() -> None:
    cases = [{"case_id": "Ä1", "stratum": "Zürich", "inclusion_probability": 2.5e-5}]
    salt = new_salt()
    old, new = commit(cases, salt, form=1), commit(cases, salt)
    assert old != new and verify(cases, salt, old) and verify(cases, salt, new)
    assert not verify([{**cases[0], "inclusion_probability": 2.6e-5}], salt, old)


def test_the_store_keeps_the_newest_within_the_age_limit(tmp_path) -> None:
    store = SealedStore(tmp_path / "sealed", keep=2, days=1)
    digests = [f"{i:064x}" for i in range(4)]
    for digest in digests[:3]:
        store.seal({"commitment": digest, "salt": "s", "seed": 1, "design": {}, "cases": []})
        time.sleep(0.01)
    assert [entry.commitment for entry in store.entries()] == digests[1:3]
    two_days = time.time() - 2 * 86_400
    os.utime(store.directory / f"{digests[1]}.json", (two_days, two_days))
    store.seal({"commitment": digests[3], "salt": "s", "seed": 1, "design": {}, "cases": []})
    assert [entry.commitment for entry in store.entries()] == digests[2:]
    assert store.purge(everything=True) == 2 and store.entries() == []


def guarded_status(token: str | None, authorization: bytes) -> int:
    """The status TokenGuard answers a POST with this Authorization header."""
    answered: list[int] = []

    async def inner(scope, receive, send) -> None:
        answered.append(200)

    async def receive() -> dict:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            answered.append(message["status"])

    scope = {"type": "http", "path": "/model", "headers": [(b"authorization", authorization)]}
    guard = TokenGuard(inner, token=token, max_bytes=1_000)
    # a thread of its own: a session's browser (Playwright's sync API) may hold this thread's loop
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, guard(scope, receive, send)).result()
    return answered[0]


@pytest.mark.parametrize("authorization", [b"", b"Bearer ", b"Bearer", b"bearer  "])
def test_an_empty_token_is_a_token_nobody_has(authorization) -> None:
    assert guarded_status("", authorization) == 401
    assert guarded_status(None, authorization) == 200  # None: --insecure-dev, no token at all


def test_only_insecure_dev_serves_without_a_token() -> None:
    assert required_token(Settings(api_token="")) == ""
    assert required_token(Settings(api_token=None)) == ""
    assert required_token(Settings(api_token="", insecure_dev=True)) is None


@pytest.mark.parametrize("token", ["", "short-token"])
def test_serve_refuses_an_empty_or_short_token(workspace, monkeypatch, token) -> None:
    monkeypatch.setenv("CASEWORK_API_TOKEN", token)
    get_settings.cache_clear()
    result = runner.invoke(app, ["serve", "--port", "1"])
    assert result.exit_code == 2
    assert "CASEWORK_API_TOKEN is shorter than 16 characters" in said(result)


def test_serve_on_a_taken_port_is_one_clear_line(workspace, monkeypatch) -> None:
    monkeypatch.setenv("CASEWORK_API_TOKEN", "a-token-long-enough-for-serve")
    get_settings.cache_clear()
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", "--port", str(port)])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in said(result)
    assert "Traceback" not in result.output and len(result.output.splitlines()) <= 4


def test_writing_under_a_file_is_an_input_error(tmp_path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    with pytest.raises(InputError, match="cannot write"):
        write_table(pd.DataFrame({"a": [1]}), blocker / "out.csv")
    result = runner.invoke(
        app, ["generate", "--cases", "10", "--frame-cases", "10", "--out", str(blocker)]
    )
    assert result.exit_code == 2 and "--out must be a folder" in said(result)


def test_score_with_an_unknown_model_version_is_exit_2(workspace, small_data, monkeypatch) -> None:
    monkeypatch.setenv("CASEWORK_MLFLOW_URI", (workspace / "mlruns").as_uri())  # no migrations
    get_settings.cache_clear()
    frame = workspace / "frame.parquet"
    write_table(small_data.frame.head(20), frame)
    out = workspace / "scores.csv"
    result = runner.invoke(app, ["score", "--data", str(frame), "--out", str(out), "--model", "99"])
    assert result.exit_code == 2, result.output
    assert "'99'" in said(result) and not out.exists()


def test_rollback_waits_for_no_retrain(workspace) -> None:
    with retrain_lock(get_settings()):
        result = runner.invoke(app, ["rollback"])
    assert result.exit_code == 1 and "another retrain is running" in said(result)


@pytest.fixture
def scored_frame(workspace, small_data, small_model):
    """The small frame and its champion scores as files (no model needed by the CLI)."""
    frame, scores = workspace / "frame.parquet", workspace / "scores.parquet"
    write_table(small_data.frame, frame)
    write_table(small_model.predict(small_data.frame), scores)
    return frame, scores


def test_the_cli_seals_releases_and_verifies(workspace, scored_frame) -> None:
    frame, scores = scored_frame
    draw = ["sample", "--frame", str(frame), "--scores", str(scores), "--size", "120", "--sealed"]
    chosen = runner.invoke(app, [*draw, "--seed", "5"])
    assert chosen.exit_code == 2 and "--seed" in chosen.output
    sealed = runner.invoke(app, [*draw, "--out", str(workspace / "commitment.json")])
    assert sealed.exit_code == 0, sealed.output
    answer = json.loads((workspace / "commitment.json").read_text())
    commitment = answer["commitment"]
    assert set(answer) == {"commitment", "design"} and "seed" not in answer["design"]
    assert commitment[:20] in runner.invoke(app, ["sealed", "list"]).output

    out = workspace / "released.csv"
    released = runner.invoke(app, ["release", commitment, "--out", str(out)])
    assert released.exit_code == 0, released.output
    salt = released.output.split("salt ")[1].split()[0]
    check = ["verify", "--sample", str(out), "--commitment", commitment, "--salt", salt]
    assert runner.invoke(app, check).exit_code == 0
    table = read_table(out)
    assert len(table) == 120
    write_table(table.iloc[1:], workspace / "short.csv")
    tampered = runner.invoke(app, [*check[:2], str(workspace / "short.csv"), *check[3:]])
    assert tampered.exit_code == 3 and "NOT match" in tampered.output
    assert runner.invoke(app, ["release", "0" * 64, "--out", str(out)]).exit_code == 2
    assert "removed 1" in said(runner.invoke(app, ["sealed", "purge", "--all"]))
