"""The wall-clock deadline of the running call, checked by long loops (relaxation builders).

:func:`polyopt.solve` builds the relaxation with :func:`run_before`: builders call
:func:`check_time` between steps and stop with :class:`TimeLimitReached`, which the caller
turns into a result with status ``"time_limit"``. Without a deadline the checks are free.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

_DEADLINE: ContextVar[float | None] = ContextVar("polyopt_deadline", default=None)


class TimeLimitReached(Exception):
    """The call's time limit ran out before the step that raised it."""


@contextmanager
def deadline_at(deadline: float | None) -> Iterator[None]:
    """Run the block under ``deadline`` (a ``time.perf_counter`` time; None: no deadline).
    An enclosing earlier deadline stays in force."""
    outer = _DEADLINE.get()
    if deadline is None or (outer is not None and outer <= deadline):
        yield
        return
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check_time() -> None:
    """Raise :class:`TimeLimitReached` when the current deadline has passed."""
    deadline = _DEADLINE.get()
    if deadline is not None and time.perf_counter() > deadline:
        raise TimeLimitReached("the time limit ran out")


def run_before(fn: Callable[[], T], deadline: float) -> T:
    """``fn()`` under ``deadline``, returning by the deadline whatever ``fn`` is doing.

    ``fn`` runs in a worker thread with the deadline set; the caller waits until it ends or
    the deadline passes, then raises :class:`TimeLimitReached`. A step that cannot be
    interrupted (one large numpy operation) keeps the thread running until its next
    :func:`check_time`, which stops it; its work is discarded.
    """
    context = contextvars.copy_context()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            with deadline_at(deadline):
                outcome["value"] = fn()
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc

    worker = threading.Thread(
        target=context.run, args=(target,), name="polyopt-deadline", daemon=True
    )
    worker.start()
    worker.join(max(deadline - time.perf_counter(), 0.0))
    if worker.is_alive():
        raise TimeLimitReached("the time limit ran out")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
