"""The dense Lasserre (moment-SOS) relaxation of order d."""

from __future__ import annotations

from ..model import Problem
from ..monomials import monomial_basis
from .assemble import (
    EqualityFamily,
    LocalizingBlock,
    Relaxation,
    assemble,
    moment_bounds,
    scale_problem,
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
    if not isinstance(order, int) or isinstance(order, bool):
        raise TypeError(f"order must be an integer, got {order!r}")
    if order < low:
        raise ValueError(
            f"order {order} is too small for this problem: the smallest valid order is {low} "
            "(2*order must reach the degree of the objective and of every constraint)"
        )
    return order


def dense(problem: Problem, order: int | None = None, scale: bool = True) -> Relaxation:
    """Build the order-``d`` dense moment relaxation of ``problem``.

    Moment matrix ``M_d(y)``, localizing matrices ``M_{d - ceil(deg g / 2)}(g y)`` for the
    inequalities, ``L_y(h * m) = 0`` for every monomial ``m`` of degree ``<= 2d - deg h`` for the
    equalities, and ``y_0 = 1``. Variables are scaled by the bounds the constraints imply and
    every polynomial is normalized by its largest coefficient (undone in the result).
    """
    d = check_order(problem, order)
    sc = scale_problem(problem, scale)
    n = len(sc.variables)
    blocks = [LocalizingBlock("moment matrix", monomial_basis(n, d))]
    for k, g in enumerate(sc.inequalities):
        dg = d - (g.degree + 1) // 2
        blocks.append(LocalizingBlock(f"localizing g{k}", monomial_basis(n, dg), g))
    eqs = [
        EqualityFamily(f"equality h{k}", monomial_basis(n, 2 * d - h.degree), h)
        for k, h in enumerate(sc.equalities)
    ]
    program, moments = assemble(n, sc.objective, sc.constant, blocks, equalities=eqs)
    return Relaxation(
        program=program,
        moments=moments,
        variables=sc.variables,
        order=d,
        kind="dense",
        var_scale=sc.var_scale,
        obj_scale=sc.obj_scale,
        sense=problem.sense,
        moment_bounds=moment_bounds(moments, sc.bounded),
    )
