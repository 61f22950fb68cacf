"""The dense Lasserre (moment-SOS) relaxation of order d."""

from __future__ import annotations

import numpy as np

from ..model import Problem
from ..monomials import basis_codes
from .assemble import (
    EqualityFamily,
    LocalizingBlock,
    Relaxation,
    ScaledProblem,
    assemble,
    moment_bounds,
    scale_problem,
    square_rules,
)


def minimal_order(problem: Problem) -> int:
    """Smallest valid order: ``max(ceil(deg f / 2), ceil(deg g_i / 2), ceil(deg h_j / 2), 1)``."""
    degs = [problem.objective.degree] + [c.poly.degree for c in problem.constraints]
    return max(1, max((d + 1) // 2 for d in degs))


def check_order(problem: Problem, order: int | None) -> int:
    """Validate ``order`` (default: :func:`minimal_order`)."""
    low = minimal_order(problem)
    if order is None:
        return low
    if not isinstance(order, int | np.integer) or isinstance(order, bool):
        raise TypeError(f"order must be an integer, got {order!r}")
    if order < low:
        raise ValueError(
            f"order {order} is too small for this problem: the smallest valid order is {low} "
            "(2*order must reach the degree of the objective and of every constraint)"
        )
    return int(order)


def finish(
    sc: ScaledProblem,
    order: int,
    kind: str,
    sense: str,
    blocks: list[LocalizingBlock],
    scalar_ineqs=None,
    equalities=None,
    info: dict | None = None,
    reduce_squares: bool = False,
) -> Relaxation:
    """Assemble blocks into a :class:`Relaxation` carrying the scaling of ``sc``.

    ``reduce_squares`` rewrites the moments modulo the problem's equalities ``v^2 = b v + c``
    (binary and +-1 variables; see :func:`~polyopt.relaxations.assemble.assemble`)."""
    squares = square_rules(sc.equalities) if reduce_squares else None
    program, moments = assemble(
        sc.nvars, sc.width, sc.objective, sc.constant, blocks, scalar_ineqs, equalities, squares
    )
    return Relaxation(
        program=program,
        moments=moments,
        variables=sc.variables,
        order=order,
        kind=kind,
        var_scale=sc.var_scale,
        obj_scale=sc.obj_scale,
        sense=sense,
        moment_bounds=moment_bounds(moments, sc.bounded),
        info=info or {},
    )


def dense(problem: Problem, order: int | None = None, scale: bool = True) -> Relaxation:
    """Build the order-``d`` dense moment relaxation of ``problem``.

    Moment matrix ``M_d(y)``, localizing matrices ``M_{d - ceil(deg g / 2)}(g y)`` for the
    inequalities, ``L_y(h * m) = 0`` for every monomial ``m`` of degree ``<= 2d - deg h`` for the
    equalities, and ``y_0 = 1``. Variables are scaled by the bounds the constraints imply and
    every polynomial is normalized by its largest coefficient (undone in the result).
    """
    d = check_order(problem, order)
    sc = scale_problem(problem, 2 * d, scale)
    n = sc.nvars
    everyone = np.arange(n)
    blocks = [LocalizingBlock("moment matrix", basis_codes(everyone, d, 2 * d, n))]
    for k, g in enumerate(sc.inequalities):
        dg = d - (g.degree + 1) // 2
        blocks.append(LocalizingBlock(f"localizing g{k}", basis_codes(everyone, dg, 2 * d, n), g))
    eqs = [
        EqualityFamily(f"equality h{k}", basis_codes(everyone, 2 * d - h.degree, 2 * d, n), h)
        for k, h in enumerate(sc.equalities)
    ]
    return finish(sc, d, "dense", problem.sense, blocks, equalities=eqs)
