"""``casework serve``: run the BentoML service (CONTRACT.md §6) on this machine."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from casework.app import command, console
from features.errors import InputError
from features.settings import get_settings

SERVICE = "serving.service:Casework"


@command("serve")
def serve_command(
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 3000,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    insecure_dev: Annotated[
        bool,
        typer.Option("--insecure-dev", help="Serve without a token (local development only)."),
    ] = False,
) -> None:
    """Serve predict, explain, sample, estimate and the planner page (at /ui)."""
    settings = get_settings()
    if settings.api_token is None and not insecure_dev:
        raise InputError(
            "set CASEWORK_API_TOKEN (the bearer token clients must send), "
            "or pass --insecure-dev for a local trial",
            source="serve",
        )
    env = dict(os.environ)
    if insecure_dev:
        env["CASEWORK_INSECURE_DEV"] = "1"
        console.print("[bold yellow]serving WITHOUT authentication (--insecure-dev)[/]")
    console.print(f"planner page: http://{host}:{port}/ui   API docs: http://{host}:{port}/")
    sys.stdout.flush()
    command_line = [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", host]
    os.execve(sys.executable, [*command_line, "--port", str(port)], env)
