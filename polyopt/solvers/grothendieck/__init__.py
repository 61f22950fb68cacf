"""Shor's relaxation of sign programs ``max t^T G r`` (the Grothendieck SDP), with a bound
that holds in exact arithmetic (``polyopt.grothendieck_sdp``).

The program is

    max  t^T G r + r_0 (h . r_{1:})    over  t in {-1, 1}^p,  r in {-1, 1}^q

(``h`` optional). Flipping every sign leaves the objective unchanged, so the maximum is also
the maximum with ``r_0 = 1``: ``r_0`` is the homogenizing variable of an objective that is
affine in the other ``r`` (``G[:, 0]`` and ``h`` its linear terms).

:mod:`~polyopt.solvers.grothendieck.form` checks the program's data,
:mod:`~polyopt.solvers.grothendieck.mixing` solves the relaxation by the mixing method and
:mod:`~polyopt.solvers.grothendieck.certificate` proves the bound of a factor.
"""

from .certificate import certify_factor
from .form import check_sign_program
from .mixing import DEFAULT_RANK, STATUSES, GrothendieckResult, grothendieck_sdp

__all__ = [
    "certify_factor",
    "check_sign_program",
    "DEFAULT_RANK",
    "STATUSES",
    "GrothendieckResult",
    "grothendieck_sdp",
]
