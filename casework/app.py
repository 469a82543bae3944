"""The typer application and the mapping of failures to the contract's exit codes."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from features.errors import InputError, InputErrors

app = typer.Typer(
    name="casework",
    help="Risk-weighted, stratified inspection samples for probation case supervision.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
errors = Console(stderr=True)

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1

F = TypeVar("F", bound=Callable[..., object])


def command(name: str | None = None) -> Callable[[F], F]:
    """Register a CLI command whose user errors exit 2 with a message, internal ones exit 1."""

    def register(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: object, **kwargs: object) -> object:
            try:
                return func(*args, **kwargs)
            except (InputError, InputErrors) as exc:
                errors.print(Text("error: ", style="bold red") + Text(str(exc)))
                raise typer.Exit(EXIT_BAD_INPUT) from None
            except typer.Exit:
                raise
            except Exception as exc:  # an internal error: say so plainly, exit 1
                errors.print(
                    Text("internal error: ", style="bold red")
                    + Text(f"{type(exc).__name__}: {exc}")
                )
                raise typer.Exit(EXIT_INTERNAL) from None

        app.command(name)(wrapper)
        return func

    return register


def progress_bar(label: str) -> Progress:
    """A transient bar for a step-counted command (shown only on a terminal)."""
    return Progress(
        TextColumn(f"[bold]{label}[/] {{task.description}}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


@contextmanager
def step_bar(label: str, total: int) -> Iterator[Callable[[str], None]]:
    """A transient bar for a job that names its steps: call the yielded function as each starts."""
    progress = progress_bar(label)
    with progress:
        task = progress.add_task("starting", total=total)
        started = itertools.count()

        def step(name: str) -> None:
            progress.update(task, description=name, completed=min(next(started), total))

        yield step
