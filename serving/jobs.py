"""Heavy service work in a child process with a deadline, so one request cannot freeze the rest.

Sampling, simulation and estimation are CPU-bound Python and numpy that hold the GIL for seconds
on a large request; run in the server process they would stall ``/predict`` and ``/readyz``.
Each job runs in its own process forked from a ``forkserver`` that has already imported these
modules, the sampling workflow among them (a fork costs milliseconds, not an import), and the
caller waits at most the deadline.
Past it the process is killed, so the work really stops, and ``JobTimeout`` is raised (the
service answers 503). Input errors raised by the job travel back and are raised in the caller.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import pandas as pd

from serving.estimation import estimate, rate
from serving.pooling import prepare
from serving.sampling import SampleRequest, draw_sample
from serving.workflow import Options, draw

CONTEXT = multiprocessing.get_context("forkserver")
CONTEXT.set_forkserver_preload([__name__])
SLOTS = threading.BoundedSemaphore(2)
"""Jobs running at once (the machine's cores); later ones wait, within their deadline."""


class JobTimeout(Exception):
    """A job ran past its deadline and was stopped (or never got a slot in time)."""


class JobFailed(Exception):
    """A job's process died without an answer (killed by the OS, out of memory)."""


def run_job(function: Callable[..., Any], *args: Any, deadline: float, spin: bool = False) -> Any:
    """``function(*args)`` in a child process; its result, or its exception raised here.

    ``spin`` is the test hook of ``Settings.slow_frame``: the child first busy-loops holding
    its GIL, as a runaway cube does, until the deadline kills it.
    """
    started = time.monotonic()
    if not SLOTS.acquire(timeout=deadline):
        raise JobTimeout(f"no worker became free within the {deadline:g} s deadline")
    try:
        receiver, sender = CONTEXT.Pipe(duplex=False)
        process = CONTEXT.Process(
            target=_child, args=(sender, function, args, spin), daemon=True, name="casework-job"
        )
        process.start()
        sender.close()
        try:
            if not receiver.poll(max(0.0, deadline - (time.monotonic() - started))):
                raise JobTimeout(f"the job ran past the {deadline:g} s deadline and was stopped")
            ok, value = receiver.recv()
        except EOFError:
            raise JobFailed(f"the job's process ended with code {process.exitcode}") from None
        finally:
            if process.is_alive():
                process.kill()
            process.join()
            receiver.close()
    finally:
        SLOTS.release()
    if ok:
        return value
    raise value


def compile_kernels() -> None:
    """A small balanced draw, so numba compiles the cube's kernels and caches them on disk
    (``cache=True``): later jobs load them instead of compiling within their deadline."""
    from features.synthetic.generator import generate
    from features.synthetic.truth import true_scores

    frame = generate(1, 1_000, seed=0, with_truth=True).frame
    request = SampleRequest(
        size=30, strata=["gender"], balance=["rosh_level"], minimums={}, method="balanced"
    )
    draw_sample(frame, true_scores(frame), request, seed=0)


def warm_up() -> None:
    """Start the forkserver (it imports pandas and the sampling code) and compile the cube before
    the first request needs them, which would otherwise spend seconds of its deadline."""
    try:
        run_job(compile_kernels, deadline=600)
    except Exception:  # the first real job will start the forkserver, or say why it cannot
        logging.getLogger("casework.jobs").exception("could not start the job forkserver")


def start_warm_up() -> threading.Event:
    """``warm_up`` in a thread of its own; the event is set once it is done (readiness)."""
    done = threading.Event()

    def run() -> None:
        warm_up()
        done.set()

    threading.Thread(target=run, daemon=True, name="job-warm-up").start()
    return done


def _child(sender: Connection, function: Callable[..., Any], args: tuple, spin: bool) -> None:
    """Run the job and send back (True, result) or (False, exception), at a lower CPU priority
    than the server, so /predict and /explain go first when jobs keep every core busy."""
    os.nice(10)
    while spin:
        sum(range(10_000))
    try:
        answer = (True, function(*args))
    except Exception as exc:  # sent to the caller, which raises it there
        answer = (False, exc)
    sender.send(answer)
    sender.close()


def estimates_and_ratings(
    judged: pd.DataFrame, by: str | None, ratings: bool
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The ``/estimate`` job: the estimates and, when asked for, the ratings."""
    design = prepare(judged, by)
    return estimate(design, by=by), rate(design, by=by) if ratings else None


def sample_answer(
    frame: pd.DataFrame,
    scores: pd.DataFrame,
    request: SampleRequest,
    seed: int | None,
    options: Options,
) -> dict[str, Any]:
    """The ``/sample`` job: the sampling workflow's draw, as the API answers it."""
    return draw(frame, scores, request, seed, options).answer()
