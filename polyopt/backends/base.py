"""What a backend receives and returns."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..conic import ConicProgram
from ..solvers.memory import SolverMemoryError  # noqa: F401  (raised by solvers)

STATUSES = (
    "optimal",
    "inaccurate",
    "infeasible",
    "unbounded",
    "time_limit",
    "iteration_limit",
    "solver_error",
)
"""The statuses a backend returns, said of the moment relaxation (checked by
:meth:`Backend.solve`)."""


def status_map(**raw_statuses: tuple) -> dict:
    """A solver's own status codes mapped to :data:`STATUSES`, written by status:
    ``status_map(optimal=("Solved",), inaccurate=("AlmostSolved", ...), ...)``."""
    unknown = set(raw_statuses) - set(STATUSES)
    if unknown:
        raise ValueError(f"not polyopt statuses: {sorted(unknown)}; choose among {STATUSES}")
    return {raw: status for status, raws in raw_statuses.items() for raw in raws}


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

    def set_point(self, program: ConicProgram, y, mu, z, X) -> BackendResult:
        """Store a point of the relaxation, moments ``y`` and Gram side ``(mu, z, X)``, with
        its moment and SOS objectives on ``program``; returns the result."""
        self.y, self.mu, self.z, self.X = y, mu, z, X
        self.primal_objective = float(program.c @ y + program.c0)
        self.dual_objective = program.dual_objective(mu, z, X)
        return self


class Backend:
    """A solver adapter. Subclasses declare what they accept and implement :meth:`_solve`.

    :meth:`solve` checks the requested form against :attr:`forms` (``"auto"`` resolved by
    :meth:`choose_form`) and the returned status against :data:`STATUSES`. The registry
    (:mod:`polyopt.backends.registry`) lists the backends in order of preference.
    """

    name = "base"
    forms: tuple[str, ...] = ("moment", "gram")
    """The standard forms the backend accepts (see :mod:`polyopt.backends.standard_form`)."""
    cones: tuple[str, ...] = ("zero", "nonneg", "psd")
    """The cones it handles: equalities, inequalities, PSD blocks."""
    requires: str | None = None
    """The module it imports (an optional or separately installed package), if any."""
    factored_rows = False
    """Whether :meth:`_solve` takes the program's factored rows as they are; other backends
    get :meth:`~polyopt.conic.ConicProgram.expanded`."""
    time_limit_support = "approximate"
    """``"holds"``: the backend stops within its time limit; ``"approximate"``: it checks the
    limit between steps that can take long; ``"none"``: it has no limit. Only ``"holds"``
    backends run in the caller's process under a time limit (see
    :mod:`polyopt.backends.deadline`)."""

    def available(self) -> bool:
        """Whether the module it needs imports (licensed solvers check their license)."""
        if self.requires is None:
            return True
        try:
            importlib.import_module(self.requires)
        except ImportError:
            return False
        return True

    def accepts(self, program: ConicProgram) -> bool:
        """Whether the program's cones are among :attr:`cones`."""
        return "psd" in self.cones or not program.block_sizes

    def choose_form(self, program: ConicProgram) -> str:
        """The cheaper standard form for this solver (see the backend's notes)."""
        return "moment"

    def solve(self, program: ConicProgram, form: str, options: SolverOptions) -> BackendResult:
        """Solve ``program`` in ``form`` (one of :attr:`forms`, or ``"auto"``)."""
        if program.factored is not None and not self.factored_rows:
            program = program.expanded()
        if form == "auto":
            form = self.choose_form(program)
        if form not in self.forms:
            raise ValueError(self._form_error(form))
        res = self._solve(program, form, options)
        if res.status not in STATUSES:
            raise RuntimeError(f"{self.name} returned status {res.status!r}, not one of {STATUSES}")
        return res

    def _form_error(self, form: str) -> str:
        if len(self.forms) == 1:
            only = self.forms[0]
            return f"the {self.name} solver works on the {only} form only (form={only!r})"
        names = [repr(f) for f in self.forms]
        return f"unknown form {form!r}: use {', '.join(names[:-1])} or {names[-1]}"

    def _solve(self, program: ConicProgram, form: str, options: SolverOptions) -> BackendResult:
        raise NotImplementedError
