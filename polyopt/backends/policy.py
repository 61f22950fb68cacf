"""Which solver to use: the one solver policy of polyopt (and of ``lipschitz.upper_bound``).

:func:`choose_solvers` gives the first choice for a relaxation, then the fallbacks to try
when that one returns no bound solved to tolerance; :func:`fallback_worth_trying` says
whether a fallback is still worth its time once a certified bound is in hand. The solvers
are those of :mod:`polyopt.backends.registry`; the size limits below are the policy, each
with the measurements behind it (see docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..conic import EXPAND_MAX_TERMS, ConicProgram
from ..solvers.arrow import dense_rows_estimate, has_homes
from .cvxpy_backend import MosekBackend
from .reduced_form import fully_reducible

CLARABEL_MAX_BLOCK = 40
"""Largest PSD block side for which the default is Clarabel (its KKT system holds a dense
(s(s+1)/2)^2 block per cone: a 66 x 66 moment matrix already takes 2-4 s, a 91 x 91 one
12 s, where SDPA needs 1.1 s and 4.6 s). See docs/benchmarks.md."""

CLARABEL_UNBOUNDED_MAX_BLOCK = 70
"""Largest PSD block side for which Clarabel is the default when the moments are unbounded
(no certificate: the bound is as accurate as the solver). At tol 1e-10, in both forms, it
reaches 1e-8 on the standard chained problems where SDPA stops at 1e-5 or stalls (chained
singular n = 8, dense: SDPA -0.23 "inaccurate", Clarabel -1.9e-8); a 66 x 66 moment matrix
takes Clarabel about 8 s against SDPA's 1 s."""

CLARABEL_RECOVERY_SIDE = 100
"""Largest PSD block side for which an ``inaccurate`` default solve of a relaxation with
unbounded moments is repeated with Clarabel (:func:`polyopt.solve.solve`): a 91 x 91 moment
matrix takes it about 65 s in both forms (chained singular, 12 variables: -7.7e-6 where SDPA
stalls at -1.15), a 120 x 120 one 3 minutes."""

SDPA_MAX_MOMENTS = 4000
"""Largest number of moments for which the default beyond Clarabel is SDPA (its Schur
complement is dense, one row per moment: 3,876 moments took 28 s, 10,626 over 15 min);
larger relaxations go to the block-arrow solver when every moment has a plain entry in
some block (sparse and nearly sparse relaxations: HR-2 of an (80, 80) network, 29,880
moments, in 4.5 s), else to SCS (first order; accuracy through the sound bound). A fallback
is not tried beyond it once a certified bound is in hand (:func:`fallback_worth_trying`)."""

SDPA_LARGE_MOMENTS = 8000
"""Beyond :data:`SDPA_MAX_MOMENTS`, SDPA is still the default up to this many moments where
the block-arrow form would be worse (high-order moment matrices of side > 24, whose repeated
moments couple more entry rows than there are moments: the correlative order-3 relaxation of
Broyden banded in 10 variables, 4,091 moments, SDPA 34 s, arrow over 10 minutes)."""

LOWRANK_MIN_SIDE = 401
"""Shor / HR-1 of a one-hidden-layer network whose moment matrix has a side above 400 is solved
by the low-rank solver by default (SDP-NN 784-500-10: 135 s; SDPA in the reduced form did not
finish in 70 minutes), or by the mixing method when the caller can pose it as a sign program
(``lipschitz``: the L-inf norm; SDP-NN in 1 to 2 s). Below, the block-arrow interior point
solver (``"arrow"``, see :data:`ARROW_MIN_SIDE`): (80, 80) global, s = 80, Shor 2.7 s against
SDPA's 10.9 s, HR-2 4.5 s; on the local box (radius 0.1), where the low-rank solver converges
slowly, Shor 3.3 s against 12.8 s."""

ARROW_MIN_SIDE = 40
"""The block-arrow solver is the default above this moment-matrix side for first-order
relaxations and those of one-hidden-layer networks (below, the default, Clarabel, is as
fast), but not for HR-2 of deep networks: their lifted ``y = u z`` leaves the order-2 blocks
no interior point, where it stalls (a (3, 4, 4) network: 23 s and a looser bound, against
Clarabel's 1 s); the default by size takes those (SDPA up to 4,000 moments, then the arrow
solver all the same, with the first-order bound as a safeguard)."""

CLARABEL_FALLBACK_SIDE = 200
"""Clarabel is a fallback only while the moment matrix side is at most this (its KKT system
holds a dense block of side s(s+1)/2 per PSD cone)."""

FALLBACK_SOLVERS = ("clarabel", "sdpa")
"""Tried in turn, after the first choice, when it returns no bound solved to tolerance."""


@dataclass(frozen=True)
class SolverHints:
    """What a caller knows of a relaxation beyond its conic program.

    Attributes
    ----------
    moment_side
        Side of the moment matrix ``M_1`` (1 + the variables), for a choice made before the
        program is built; default: the largest PSD block of the program.
    first_order
        The relaxation is of order 1 (Shor's, HR-1).
    depth
        Hidden layers of the ReLU network whose Lipschitz problem (LCEP) it relaxes.
    sign_program
        The caller can solve it as a sign program ``max t^T G r`` by the mixing method
        (:func:`polyopt.grothendieck_sdp`).
    bounded_moments
        Every moment is bounded on the feasible set, so the bound is certified whatever the
        solver's accuracy; False (unconstrained problems) prefers Clarabel, the most accurate
        open solver here, up to ``CLARABEL_UNBOUNDED_MAX_BLOCK``.
    """

    moment_side: int | None = None
    first_order: bool = False
    depth: int | None = None
    sign_program: bool = False
    bounded_moments: bool = True


def choose_solvers(
    program: ConicProgram | None = None, *, hints: SolverHints | None = None
) -> list[str | None]:
    """The solvers for ``program``: the first choice, then the fallbacks in order.

    Without a ``program`` (a choice made before the relaxation is built) ``hints.moment_side``
    is needed, and the first choice is ``None`` where it depends on the built program: pass
    ``solver=None`` to :func:`polyopt.solve`, which asks again with the program.

    The first choice: the low-rank solver when the program's factored rows would expand
    past :data:`polyopt.conic.EXPAND_MAX_TERMS` terms (HR-2 of a wide network; with the
    hints alone, one-hidden-layer HR-2 with ``moment_side >= LOWRANK_MIN_SIDE`` is left to the
    built program: ``None``); HiGHS for linear programs; MOSEK when licensed; on the hints,
    the mixing method (sign programs) or the low-rank solver for first-order relaxations of
    one-hidden-layer networks with ``moment_side >= LOWRANK_MIN_SIDE``, the block-arrow solver
    for first-order relaxations or one-hidden-layer networks with ``moment_side >
    ARROW_MIN_SIDE``; otherwise by size: Clarabel while every PSD block has side <=
    ``CLARABEL_MAX_BLOCK``, SDPA while there are <= ``SDPA_MAX_MOMENTS`` moments (or the
    reduced form applies), beyond that the block-arrow solver when every moment has a plain
    entry in some block and its dense part is smaller than the moments
    (:func:`polyopt.solvers.arrow.dense_rows_estimate`; else SDPA up to
    ``SDPA_LARGE_MOMENTS`` moments), else SCS. The fallbacks (not for linear programs and
    sign programs): ``FALLBACK_SOLVERS`` but the first choice, Clarabel only while ``moment_side <=
    CLARABEL_FALLBACK_SIDE``.
    """
    h = hints or SolverHints()
    if program is None and h.moment_side is None:
        raise ValueError("choose_solvers needs the program or hints.moment_side")
    if program is not None and not program.block_sizes:
        return ["highs"]
    side = h.moment_side if h.moment_side is not None else max(program.block_sizes)
    first = _first_choice(program, h, side)
    if first == "mixing":
        return [first]
    fallbacks = [
        name
        for name in FALLBACK_SOLVERS
        if name != first and not (name == "clarabel" and side > CLARABEL_FALLBACK_SIDE)
    ]
    return [first, *fallbacks]


def _first_choice(program: ConicProgram | None, h: SolverHints, side: int) -> str | None:
    factored = getattr(program, "factored", None)
    if factored is not None and factored.expanded_terms() > EXPAND_MAX_TERMS:
        return "lowrank"  # the one solver that takes factored rows as they are
    if MosekBackend().available():
        return "mosek"
    if h.first_order and h.depth == 1 and side >= LOWRANK_MIN_SIDE:
        return "mixing" if h.sign_program else "lowrank"
    if program is None and h.depth == 1 and not h.first_order and side >= LOWRANK_MIN_SIDE:
        return None  # HR-2 of a wide network: its factored rows decide (see above)
    if side > ARROW_MIN_SIDE and (h.first_order or h.depth == 1):
        return "arrow"
    if program is None:
        return None
    big = max(program.block_sizes)
    if big <= CLARABEL_MAX_BLOCK or (not h.bounded_moments and big <= CLARABEL_UNBOUNDED_MAX_BLOCK):
        return "clarabel"
    if program.n + 1 <= SDPA_MAX_MOMENTS or fully_reducible(program):
        return "sdpa"
    if not has_homes(program):
        return "scs"
    if dense_rows_estimate(program) > program.n:
        # the arrow form's dense Schur block would be larger than SDPA's (one row per moment)
        return "sdpa" if program.n + 1 <= SDPA_LARGE_MOMENTS else "scs"
    return "arrow"


def fallback_worth_trying(moments: int, *, certified: bool) -> bool:
    """Whether a fallback solve of a relaxation with ``moments`` moments is worth its time:
    always without a ``certified`` bound in hand; with one, only up to
    ``SDPA_MAX_MOMENTS`` moments (beyond, the interior point fallbacks take too long)."""
    return not certified or moments <= SDPA_MAX_MOMENTS


def default_solver(program: ConicProgram, bounded_moments: bool = True) -> str:
    """The default solver for ``program`` (the first of :func:`choose_solvers`), chosen by size
    from measurements.

    HiGHS for linear programs; MOSEK when licensed; otherwise Clarabel while every PSD
    block has side <= 40 (70 when the moments are unbounded), SDPA while there are <= 4000
    moments, beyond that the block-arrow interior point solver when it applies, else SCS.
    """
    return choose_solvers(program, hints=SolverHints(bounded_moments=bounded_moments))[0]
