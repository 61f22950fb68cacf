"""polyopt: polynomial optimization with moment-SOS (Lasserre) relaxations.

    import polyopt as po
    x = po.variables("x", 3)
    prob = po.Problem(minimize=x[0]**4 + x[1]**2 - x[0]*x[2],
                      constraints=[1 - (x**2).sum() >= 0])
    r = prob.solve(order=2)
    r.bound, r.status, r.minimizers()

For ``minimize`` problems ``Result.bound`` is a LOWER bound on the optimum; for ``maximize``
problems it is an UPPER bound.
"""

import logging

from .algebra import Polynomial, Variable, polysum, variables
from .backends import SolverUnavailable
from .conic import ConicProgram
from .export import to_cvxpy, write_sdpa
from .model import Constraint, Problem
from .parsing import from_sympy, parse_polynomial
from .result import Minimizers, Result
from .solve import relax, solve
from .solvers.arrow import NotArrow
from .solvers.grothendieck import GrothendieckResult, grothendieck_sdp
from .solvers.memory import SolverMemoryError

__version__ = "0.1.0"

logging.getLogger("polyopt").addHandler(logging.NullHandler())

__all__ = [
    "Polynomial",
    "Variable",
    "variables",
    "polysum",
    "Constraint",
    "Problem",
    "Result",
    "Minimizers",
    "ConicProgram",
    "SolverUnavailable",
    "NotArrow",
    "SolverMemoryError",
    "parse_polynomial",
    "from_sympy",
    "relax",
    "solve",
    "GrothendieckResult",
    "grothendieck_sdp",
    "write_sdpa",
    "to_cvxpy",
]
