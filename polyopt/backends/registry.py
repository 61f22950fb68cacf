"""The solver registry: every solver polyopt knows, in order of preference.

As in cvxpy's solver interfaces, each entry declares what the solver needs and accepts: its
name, the problem forms it takes, the cones it handles, the module it imports, how it holds a
time limit, and the size limits of the solver policy that decide when it is chosen (names of
constants of :mod:`polyopt.backends.policy`, where their measurements are documented). The
conic adapters (:class:`~polyopt.backends.base.Backend` subclasses) are the source of their
own entries; ``"mixing"`` (:func:`polyopt.grothendieck_sdp`) solves sign programs, not conic
programs, and has no adapter.

The order is that of the default for a conic program (see
:func:`~polyopt.backends.policy.choose_solvers`): HiGHS for linear programs, MOSEK when
licensed, Clarabel, SDPA, the block-arrow solver, SCS; the low-rank and mixing solvers are
chosen on a caller's hints only, cvxpy's solvers only by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from .arrow import ArrowBackend
from .base import Backend
from .clarabel_backend import ClarabelBackend
from .cvxpy_backend import CvxpyBackend, MosekBackend
from .highs_backend import HighsBackend
from .lowrank import LowRankBackend
from .scs_backend import SCSBackend
from .sdpa_backend import SDPABackend

CVXPY_PREFIX = "cvxpy:"
"""``"cvxpy:NAME"`` is the cvxpy solver ``NAME`` (:class:`CvxpyBackend`)."""


@dataclass(frozen=True)
class SolverEntry:
    """One solver of the registry."""

    name: str
    backend: type[Backend] | None
    """The adapter that solves a :class:`~polyopt.conic.ConicProgram` (None: none)."""
    forms: tuple[str, ...]
    """The forms it takes: ``"moment"``, ``"gram"``, ``"reduced"`` (conic programs) or
    ``"sign"`` (sign programs ``max t^T G r``)."""
    cones: tuple[str, ...]
    """``"zero"``, ``"nonneg"``, ``"psd"``."""
    requires: str | None
    """The module it imports, if it is an optional or separately installed package."""
    time_limit_support: str
    """``"holds"``, ``"approximate"`` or ``"none"`` (see :attr:`Backend.time_limit_support`)."""
    limits: tuple[str, ...] = ()
    """The size limits of :mod:`polyopt.backends.policy` that decide when it is chosen."""

    @classmethod
    def of(cls, backend: type[Backend], limits: tuple[str, ...] = ()) -> SolverEntry:
        """The entry of an adapter, from what the adapter declares."""
        return cls(
            backend.name,
            backend,
            backend.forms,
            backend.cones,
            backend.requires,
            backend.time_limit_support,
            limits,
        )


REGISTRY: tuple[SolverEntry, ...] = (
    SolverEntry.of(HighsBackend),
    SolverEntry.of(MosekBackend),
    SolverEntry.of(ClarabelBackend, ("CLARABEL_MAX_BLOCK", "CLARABEL_FALLBACK_SIDE")),
    SolverEntry.of(SDPABackend, ("SDPA_MAX_MOMENTS",)),
    SolverEntry.of(ArrowBackend, ("ARROW_MIN_SIDE",)),
    SolverEntry.of(SCSBackend),
    SolverEntry.of(LowRankBackend, ("LOWRANK_MIN_SIDE",)),
    SolverEntry("mixing", None, ("sign",), ("psd",), None, "holds", ("LOWRANK_MIN_SIDE",)),
    SolverEntry(
        CVXPY_PREFIX + "<NAME>",
        None,
        CvxpyBackend.forms,
        CvxpyBackend.cones,
        CvxpyBackend.requires,
        CvxpyBackend.time_limit_support,
    ),
)

_BY_NAME = {entry.name: entry for entry in REGISTRY}

SOLVERS = ("clarabel", "scs", "sdpa", "lowrank", "arrow", "highs", "mosek", "cvxpy:<NAME>")
"""The names :func:`get_backend` takes (``solver=`` of :func:`polyopt.solve`)."""


def solver_entry(name: str) -> SolverEntry:
    """The registry entry called ``name`` (``"cvxpy:NAME"``: the cvxpy entry)."""
    key = name.strip().lower()
    if key.startswith(CVXPY_PREFIX):
        key = CVXPY_PREFIX + "<NAME>"
    if key not in _BY_NAME:
        raise ValueError(f"unknown solver {name!r}; choose one of {', '.join(_BY_NAME)}")
    return _BY_NAME[key]


def get_backend(name: str) -> Backend:
    """The backend called ``name`` (case-insensitive); ``cvxpy:NAME`` for any cvxpy solver."""
    if not isinstance(name, str):
        raise TypeError(f"solver must be a string, got {name!r}")
    key = name.strip().lower()
    if key.startswith(CVXPY_PREFIX) and len(key) > len(CVXPY_PREFIX):
        return CvxpyBackend(key[len(CVXPY_PREFIX) :])
    entry = _BY_NAME.get(key)
    if entry is None or entry.backend is None:
        raise ValueError(f"unknown solver {name!r}; choose one of {', '.join(SOLVERS)}")
    return entry.backend()
