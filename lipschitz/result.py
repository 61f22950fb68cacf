"""Result objects of the Lipschitz bounds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class LipschitzBound:
    """An upper or lower bound on a Lipschitz constant.

    Attributes
    ----------
    value
        The bound (``nan`` when the method failed: see ``status``).
    kind
        ``"upper"``, ``"lower"``, ``"exact"`` or ``"estimate"`` (a statistical estimate such as
        CLEVER, or a heuristic: neither bound).
    method
        ``"hr-2"``, ``"hr-1"``, ``"shor"``, ``"naive"``, ``"fastlip"``, ``"sampling"``, ...
    status
        ``"optimal"`` or the solver's status (``"inaccurate"``, ``"time_limit"``, ...).
    sound
        For upper bounds: True when ``value`` is valid in exact arithmetic (an SDP bound from
        the certified dual value, or a closed-form bound). False when it is only valid to the
        solver's tolerance.
    seconds
        Wall-clock time of the whole call (building and solving).
    norm
        The input norm (``"inf"``, ``"1"``, ``"2"``); the bound is on the dual norm of the
        gradient.
    sizes
        Problem sizes (variables, constraints, moments, largest block...).
    neurons
        Stable-active, stable-inactive and unstable neurons per hidden layer on the domain.
    info
        Everything else: solver name, solve time, argmax point for lower bounds...
    """

    value: float
    kind: str
    method: str
    status: str = "optimal"
    sound: bool = True
    seconds: float = 0.0
    norm: str = "inf"
    sizes: dict[str, Any] = field(default_factory=dict)
    neurons: dict[str, list[int]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.value)) and self.status in ("optimal", "inaccurate")

    @property
    def unstable(self) -> int:
        """Number of unstable neurons left in the problem."""
        return int(sum(self.neurons.get("unstable", [])))

    def __float__(self) -> float:
        return float(self.value)

    def __repr__(self) -> str:
        extra = "" if self.sound or self.kind != "upper" else ", not certified"
        return (
            f"LipschitzBound({self.kind} {self.value:.6g}, method={self.method!r}, "
            f"status={self.status!r}, {self.seconds:.3g} s{extra})"
        )
