"""``verbose=`` for every long call: the library's log lines, shown on stderr while it runs.

Every module logs through :mod:`logging` (loggers ``"polyopt"`` and ``"lipschitz"``, silent by
default). A call with ``verbose=True`` shows their INFO lines on stderr for its duration;
applications that configure logging themselves see the same lines through their handlers.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _VerboseHandler(logging.StreamHandler):
    """The stderr handler of a verbose call (one per logger, however deep the calls nest)."""


@contextmanager
def verbose_logging(verbose: bool, *names: str) -> Iterator[None]:
    """While ``verbose``, the INFO lines of the loggers ``names`` go to stderr."""
    if not verbose:
        yield
        return
    added = []
    for name in names:
        logger = logging.getLogger(name)
        if any(isinstance(h, _VerboseHandler) for h in logger.handlers):
            continue  # an enclosing verbose call shows them already
        handler = _VerboseHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        added.append((logger, handler, logger.level))
        logger.addHandler(handler)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for logger, handler, level in added:
            logger.removeHandler(handler)
            logger.setLevel(level)


def logs_when_verbose(*names: str) -> Callable[[F], F]:
    """Decorator: the call shows the loggers ``names`` when given ``verbose=True``."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with verbose_logging(bool(kwargs.get("verbose", False)), *names):
                return fn(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap
