"""Exact Lipschitz constants (LipMIP) and their LP relaxation (LipLP).

* :mod:`lipschitz.exact.lipmip` -- :func:`exact`, :func:`liplp` and :class:`ExactValue`: the
  search and the proofs of its bracket;
* :mod:`lipschitz.exact.encoding` -- the LipMIP mixed-integer encoding of the gradient norm;
* :mod:`lipschitz.exact.milp` -- the sparse (mixed-integer) linear model, its solvers and the
  LP dual bounds that hold in exact arithmetic.

The attribute ``lipschitz.exact`` of the top-level package is the function :func:`exact`, not
this package: import from it (``from lipschitz.exact import ExactValue, exact, liplp``,
``from lipschitz.exact import lipmip``, ``from lipschitz.exact.milp import LinearModel``), as
``import lipschitz.exact.lipmip as m`` would look the name up on the function.
"""

from .lipmip import ExactValue, exact, liplp

__all__ = ["ExactValue", "exact", "liplp"]
