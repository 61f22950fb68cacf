"""The dense Lasserre (moment-SOS) relaxation of order d."""

from __future__ import annotations

import numpy as np

from ..model import Problem
from ..monomials import basis_codes
from .assemble import (
    EqualityFamily,
    LocalizingBlock,
    Relaxation,
    check_order,
    finish,
    scale_problem,
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
