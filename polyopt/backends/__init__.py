"""Solver backends: each turns a :class:`~polyopt.conic.ConicProgram` into a solution.

- :mod:`~polyopt.backends.registry`: every solver, in order of preference, with what it
  accepts and needs; :func:`get_backend` builds one by name;
- :mod:`~polyopt.backends.policy`: which solver to use (:func:`choose_solvers`,
  :func:`default_solver`) and the measured size limits behind the choice;
- :mod:`~polyopt.backends.base`: what a backend receives and returns;
- the adapters (``clarabel_backend``, ``scs_backend``, ``sdpa_backend``, ``highs_backend``,
  ``cvxpy_backend``, and ``arrow`` / ``lowrank`` for polyopt's own solvers in
  :mod:`polyopt.solvers`);
- the form converters: :mod:`~polyopt.backends.standard_form` (``A x + s = b``, scaled
  triangles), :mod:`~polyopt.backends.psd_operator` (full vectorized PSD blocks),
  :mod:`~polyopt.backends.reduced_form` (the Gram form without the moment matrix);
- :mod:`~polyopt.backends.deadline`: time limits for solvers that cannot stop in time.
"""

from __future__ import annotations

from ..solvers.arrow import NotArrow
from .arrow import ArrowBackend
from .base import STATUSES, Backend, BackendResult, SolverOptions, SolverUnavailable
from .clarabel_backend import ClarabelBackend
from .cvxpy_backend import CvxpyBackend, MosekBackend
from .highs_backend import HighsBackend
from .lowrank import LowRankBackend
from .policy import (
    CLARABEL_MAX_BLOCK,
    SDPA_MAX_MOMENTS,
    SolverHints,
    choose_solvers,
    default_solver,
    fallback_worth_trying,
)
from .registry import REGISTRY, SOLVERS, SolverEntry, get_backend, solver_entry
from .scs_backend import SCSBackend
from .sdpa_backend import SDPABackend

__all__ = [
    "Backend",
    "BackendResult",
    "SolverOptions",
    "STATUSES",
    "SolverUnavailable",
    "NotArrow",
    "get_backend",
    "solver_entry",
    "SolverEntry",
    "REGISTRY",
    "SOLVERS",
    "SolverHints",
    "choose_solvers",
    "fallback_worth_trying",
    "default_solver",
    "CLARABEL_MAX_BLOCK",
    "SDPA_MAX_MOMENTS",
    "ArrowBackend",
    "ClarabelBackend",
    "CvxpyBackend",
    "HighsBackend",
    "LowRankBackend",
    "MosekBackend",
    "SCSBackend",
    "SDPABackend",
]
