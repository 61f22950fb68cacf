"""What a backend receives and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..conic import ConicProgram

STATUSES = (
    "optimal",
    "inaccurate",
    "infeasible",
    "unbounded",
    "time_limit",
    "iteration_limit",
    "solver_error",
)


class SolverUnavailable(RuntimeError):
    """The requested solver is not installed or not licensed."""


@dataclass
class SolverOptions:
    """Options every backend understands (``None`` = the solver's default)."""

    tol: float | None = None
    max_iters: int | None = None
    time_limit: float | None = None
    verbose: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class BackendResult:
    """Primal moments, dual (Gram / SOS) blocks and the solver's verdict."""

    status: str
    y: np.ndarray | None = None
    mu: np.ndarray | None = None
    z: np.ndarray | None = None
    X: list[np.ndarray] | None = None
    primal_objective: float = float("nan")
    dual_objective: float = float("nan")
    iterations: int | None = None
    seconds: float = 0.0
    raw: dict[str, Any] = field(default_factory=dict)


class Backend:
    """A solver adapter. Subclasses implement :meth:`solve`."""

    name = "base"
    forms: tuple[str, ...] = ("moment", "gram")
    time_limit_support = "approximate"
    """``"holds"``: the backend stops within its time limit; ``"approximate"``: it checks the
    limit between steps that can take long; ``"none"``: it has no limit. Only ``"holds"``
    backends run in the caller's process under a time limit (see
    :mod:`polyopt.backends.deadline`)."""

    def available(self) -> bool:
        return True

    def choose_form(self, program: ConicProgram) -> str:
        """The cheaper standard form for this solver (see the backend's notes)."""
        return "moment"

    def solve(self, program: ConicProgram, form: str, options: SolverOptions) -> BackendResult:
        raise NotImplementedError
