"""The block-arrow interior point solver (``solver="arrow"``).

:mod:`~polyopt.solvers.arrow.form` rewrites a moment relaxation over its block entries (the
block-arrow standard form, and the way back to the program); :mod:`~polyopt.solvers.arrow.ipm`
runs the HKM predictor-corrector method on that form with the arrow-shaped Schur complement.
The adapter :class:`polyopt.backends.arrow.ArrowBackend` connects them to ``polyopt.solve``.
"""

from .form import (
    ArrowForm,
    BlockMaps,
    NotArrow,
    build_arrow_form,
    dense_rows_estimate,
    has_homes,
    recover,
)
from .ipm import DEFAULTS, interior_point

__all__ = [
    "ArrowForm",
    "BlockMaps",
    "NotArrow",
    "build_arrow_form",
    "dense_rows_estimate",
    "has_homes",
    "recover",
    "DEFAULTS",
    "interior_point",
]
