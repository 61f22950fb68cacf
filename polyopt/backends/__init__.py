"""Solver backends: each turns a :class:`~polyopt.conic.ConicProgram` into a solution."""

from __future__ import annotations

from ..conic import ConicProgram
from ..solvers.arrow import has_homes
from .arrow import ArrowBackend
from .base import Backend, BackendResult, SolverOptions, SolverUnavailable
from .clarabel_backend import ClarabelBackend
from .cvxpy_backend import CvxpyBackend, MosekBackend
from .highs_backend import HighsBackend
from .lowrank import LowRankBackend
from .reduced_form import fully_reducible
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
    "SDPA_MAX_MOMENTS",
]

SOLVERS = ("clarabel", "scs", "sdpa", "lowrank", "arrow", "highs", "mosek", "cvxpy:<NAME>")

#: Largest PSD block side for which the default is Clarabel (its KKT system holds a dense
#: (s(s+1)/2)^2 block per cone: a 66 x 66 moment matrix already takes 2-4 s, a 91 x 91 one
#: 12 s, where SDPA needs 1.1 s and 4.6 s). See docs/benchmarks.md.
CLARABEL_MAX_BLOCK = 40

#: Largest number of moments for which the default beyond Clarabel is SDPA (its Schur
#: complement is dense, one row per moment: 3,876 moments took 28 s, 10,626 over 15 min);
#: larger relaxations go to the block-arrow solver when every moment has a plain entry in
#: some block (sparse and nearly sparse relaxations: HR-2 of an (80, 80) network, 29,880
#: moments, in 4.5 s), else to SCS (first order; accuracy through the sound bound).
SDPA_MAX_MOMENTS = 4000


def default_solver(program: ConicProgram) -> str:
    """The default solver for ``program``, chosen by size from measurements.

    HiGHS for linear programs; MOSEK when licensed; otherwise Clarabel while every PSD
    block has side <= 40, SDPA while there are <= 4000 moments, beyond that the block-arrow
    interior point solver when it applies, else SCS.
    """
    if not program.block_sizes:
        return "highs"
    if MosekBackend().available():
        return "mosek"
    largest = max(program.block_sizes, default=0)
    if largest <= CLARABEL_MAX_BLOCK:
        return "clarabel"
    if program.n + 1 <= SDPA_MAX_MOMENTS or fully_reducible(program):
        return "sdpa"
    return "arrow" if has_homes(program) else "scs"


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
    if key == "highs":
        return HighsBackend()
    if key == "lowrank":
        return LowRankBackend()
    if key == "arrow":
        return ArrowBackend()
    if key.startswith("cvxpy:") and len(key) > 6:
        return CvxpyBackend(key[6:])
    raise ValueError(f"unknown solver {name!r}; choose one of {', '.join(SOLVERS)}")
