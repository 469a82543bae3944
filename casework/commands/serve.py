"""``casework serve``: run the BentoML service (CONTRACT.md §6) on this machine."""

from __future__ import annotations

import os
import socket
import sys
from typing import Annotated

import typer

from casework.app import command, console
from features.errors import InputError
from features.settings import get_settings
from serving.guard import token_problem

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
    if not insecure_dev and (refusal := token_problem(settings)) is not None:
        raise InputError(refusal, source="serve")
    _check_port(host, port)
    env = dict(os.environ)
    if insecure_dev:
        env["CASEWORK_INSECURE_DEV"] = "1"
        console.print("[bold yellow]serving WITHOUT authentication (--insecure-dev)[/]")
    console.print(f"planner page: http://{host}:{port}/ui   API docs: http://{host}:{port}/")
    sys.stdout.flush()
    command_line = [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", host]
    os.execve(sys.executable, [*command_line, "--port", str(port)], env)


def _check_port(host: str, port: int) -> None:
    """Refuse, in one line, a port another program holds (instead of the server's traceback)."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise InputError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
            "is another server running there? choose another --port",
            source="serve",
        ) from None
