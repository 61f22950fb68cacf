"""Solver backends: each turns a :class:`~polyopt.conic.ConicProgram` into a solution."""

from __future__ import annotations

from ..conic import ConicProgram
from .base import Backend, BackendResult, SolverOptions, SolverUnavailable
from .clarabel_backend import ClarabelBackend
from .cvxpy_backend import CvxpyBackend, MosekBackend
from .scs_backend import SCSBackend
from .sdpa_backend import SDPABackend

__all__ = [
    "Backend",
    "BackendResult",
    "SolverOptions",
    "SolverUnavailable",
    "get_backend",
    "default_solver",
    "SOLVERS",
    "CLARABEL_MAX_BLOCK",
]

SOLVERS = ("clarabel", "scs", "sdpa", "mosek", "cvxpy:<NAME>")

#: Largest PSD block side for which the default is Clarabel (its KKT system holds a dense
#: (s(s+1)/2)^2 block per cone); larger relaxations go to SDPA. See docs/benchmarks.md.
CLARABEL_MAX_BLOCK = 40


def get_backend(name: str) -> Backend:
    """The backend called ``name`` (case-insensitive); ``cvxpy:NAME`` for any cvxpy solver."""
    if not isinstance(name, str):
        raise TypeError(f"solver must be a string, got {name!r}")
    key = name.strip().lower()
    if key == "clarabel":
        return ClarabelBackend()
    if key == "scs":
        return SCSBackend()
    if key == "sdpa":
        return SDPABackend()
    if key == "mosek":
        return MosekBackend()
    if key.startswith("cvxpy:") and len(key) > 6:
        return CvxpyBackend(key[6:])
    raise ValueError(f"unknown solver {name!r}; choose one of {', '.join(SOLVERS)}")


def default_solver(program: ConicProgram) -> str:
    """Clarabel for small PSD blocks, SDPA otherwise (MOSEK when licensed)."""
    largest = max(program.block_sizes, default=0)
    if largest <= CLARABEL_MAX_BLOCK:
        return "clarabel"
    if MosekBackend().available():
        return "mosek"
    return "sdpa"
