"""Solvers written for polyopt, each in its own package (problem form, algorithm, certificate).

- :mod:`polyopt.solvers.arrow`: the block-arrow interior point method (``solver="arrow"``);
- :mod:`polyopt.solvers.lowrank`: the low-rank augmented Lagrangian (``solver="lowrank"``);
- :mod:`polyopt.solvers.grothendieck`: the mixing method for sign programs, with its certified
  bound (``polyopt.grothendieck_sdp``).

The first two solve conic programs through the adapters of :mod:`polyopt.backends`.
"""

from .arrow import NotArrow
from .grothendieck import GrothendieckResult, grothendieck_sdp

__all__ = ["NotArrow", "GrothendieckResult", "grothendieck_sdp"]
