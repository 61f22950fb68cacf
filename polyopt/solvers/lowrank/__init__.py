"""The low-rank augmented Lagrangian (Burer-Monteiro) solver (``solver="lowrank"``).

:mod:`~polyopt.solvers.lowrank.form` rewrites a moment relaxation over its block entries;
:mod:`~polyopt.solvers.lowrank.augmented_lagrangian` factors the blocks and minimizes the
augmented Lagrangian, and maps its multipliers back to a dual point of the program. The
adapter :class:`polyopt.backends.lowrank.LowRankBackend` connects them to ``polyopt.solve``.
"""

from .augmented_lagrangian import DEFAULTS, Run, augmented_lagrangian, recover
from .form import LowRankForm, build_lowrank_form, constraint_signature

__all__ = [
    "DEFAULTS",
    "Run",
    "augmented_lagrangian",
    "recover",
    "LowRankForm",
    "build_lowrank_form",
    "constraint_signature",
]
