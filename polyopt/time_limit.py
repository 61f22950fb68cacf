"""The wall-clock deadline of the running call, checked by long loops (relaxation builders).

:func:`polyopt.solve` sets it from ``time_limit`` with :func:`deadline_at`; builders call
:func:`check_time` between steps and stop with :class:`TimeLimitReached`, which the caller
turns into a result with status ``"time_limit"``. Without a deadline the checks are free.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

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
