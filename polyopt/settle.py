"""Dense relaxations settled by the correlative one and a feasible point.

For a minimization, the correlative relaxation of order ``d`` is weaker than the dense one,
and the dense one is weaker than the problem: ``rho_cs <= rho_dense <= f* <= f(x)`` for every
feasible ``x``. When a feasible point attains the correlative bound (``f(x) - rho_cs`` within
the tolerance), the dense value is pinned to that interval, the problem is solved globally
and ``x`` is a global minimizer; solving the dense relaxation would only confirm it. The
point comes from the correlative relaxation's first-order moments, polished by a local
descent (:mod:`polyopt.local_search`).

This is tried first for dense requests whose correlative cliques are clearly smaller
(largest correlative block at most :data:`polyopt.relaxations.auto.GAIN` times the dense
one, dense side above :data:`polyopt.relaxations.auto.SMALL_DENSE`). It costs one sparse
solve when it fails, and the dense relaxation is then solved as asked. The reported bound is
the correlative one (valid, and certified when the variables are bounded); ``raw["settled"]``
says what was skipped and why.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from .local_search import local_minimum
from .model import Problem
from .relaxations.auto import GAIN, dense_and_correlative_sides
from .result import Result

log = logging.getLogger("polyopt")

SETTLE_TOL = 1e-6
"""Largest gap ``f(x) - bound`` (relative to ``max(1, |f(x)|)``) that settles the dense
relaxation, at the default tolerance."""
RETRY_FACTOR = 100.0
RETRY_TOL = 1e-12
"""A gap at most ``RETRY_FACTOR`` times too large is retried with the solver at ``RETRY_TOL``
(solver accuracy, not the relaxation, is then the likely cause)."""


def correlative_is_smaller(problem: Problem, order: int | None) -> bool:
    """Whether the correlative relaxation's largest block is clearly below the dense one."""
    dense, correlative = dense_and_correlative_sides(problem, order)
    return correlative is not None and correlative <= GAIN * dense


def settle_tolerance(tol: float | None) -> float:
    """The gap that settles: :data:`SETTLE_TOL`, or ten times a caller's ``tol``."""
    return SETTLE_TOL if tol is None else min(SETTLE_TOL, 10.0 * tol)


def settle_dense(
    problem: Problem, order: int | None, solve_options: dict[str, Any]
) -> Result | None:
    """The correlative result when a feasible point attains its bound, else None.

    ``solve_options`` are the caller's :func:`polyopt.solve` options (solver, tolerances, time
    limit, ...), used for the correlative solve as they are. When the gap is only a little
    too large (at most :data:`RETRY_FACTOR` times the tolerance) and the caller left ``tol``
    to the solver, the correlative relaxation is solved once more at ``tol``
    :data:`RETRY_TOL`, within what is left of the time limit.
    """
    t0 = time.perf_counter()
    tolerance = settle_tolerance(solve_options.get("tol"))
    attempt = _attempt(problem, order, solve_options, tolerance)
    if isinstance(attempt, float) and solve_options.get("tol") is None:
        limit = solve_options.get("time_limit")
        left = None if limit is None else limit - (time.perf_counter() - t0)
        if attempt <= RETRY_FACTOR and (left is None or left > 0):
            log.info("correlative relaxation first: solving it again at tol %g", RETRY_TOL)
            retry = solve_options | {"tol": RETRY_TOL, "time_limit": left}
            attempt = _attempt(problem, order, retry, tolerance)
    if not isinstance(attempt, tuple):
        return None
    res, point, gap = attempt
    res.raw["settled"] = {
        "requested": "dense",
        "point": [float(v) for v in point.x],
        "value": float(point.value),
        "gap": float(gap),
        "local_search": point.method,
        "seconds": time.perf_counter() - t0,
    }
    log.info(
        "the correlative bound %.10g is attained at a feasible point (value %.10g, gap %.2g): "
        "the dense relaxation lies between them and is not solved",
        res.bound,
        point.value,
        gap,
    )
    return res


def _attempt(problem: Problem, order: int | None, options: dict[str, Any], tolerance: float):
    """One correlative solve and local search: ``(result, point, gap)`` when they settle the
    dense relaxation; the gap in units of the allowed one when only the gap is too large;
    None otherwise."""
    from .solve import solve

    res = solve(problem, order, sparsity="correlative", **options)
    if res.status != "optimal" or not np.isfinite(res.bound):
        log.info("correlative relaxation first: status %s, solving the dense one", res.status)
        return None
    start = res.minimizers()
    if not start:
        log.info("correlative relaxation first: %s; solving the dense one", start.reason)
        return None
    point = local_minimum(problem, start[0])
    if not point.feasible:
        log.info("correlative relaxation first: no feasible point found")
        return None
    sign = 1.0 if problem.sense == "min" else -1.0
    gap = sign * (point.value - res.bound)
    allowed = tolerance * max(1.0, abs(point.value))
    if abs(gap) > allowed:
        log.info("correlative relaxation first: gap %.3g", gap)
        return abs(gap) / allowed
    return res, point, gap
