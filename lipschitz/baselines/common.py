"""Shared pieces of the baselines: argument checks, the resolved setup (norm, box, functional,
stable neurons) and the :class:`~lipschitz.result.LipschitzBound` they return."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..intervals import NeuronCounts, stability
from ..result import LipschitzBound
from ..spec import Box, resolve

EPS = float(np.finfo(float).eps)


def check_bool(value: Any, name: str) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")


def positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def l2_scale(norm: str, n: int) -> float:
    """Factor turning an l2 gradient bound into one on the dual norm of ``norm``."""
    return float(np.sqrt(n)) if norm == "inf" else 1.0


@dataclass
class Setup:
    """Resolved arguments shared by the three baselines."""

    norm: str
    box: Box
    c: np.ndarray
    w: np.ndarray  # W_out^T c
    active: list[np.ndarray]
    inactive: list[np.ndarray]
    neurons: dict[str, list[int]]


def setup(net: Any, norm: Any, domain: Any, output: Any) -> Setup:
    norm, box, c = resolve(net, norm, domain, output)
    _, active, inactive = stability(net, box)
    neurons = NeuronCounts.from_masks(active, inactive).as_dict()
    return Setup(norm, box, c, net.weights[-1].T @ c, active, inactive, neurons)


def make_bound(
    value: float,
    method: str,
    s: Setup,
    t0: float,
    info: dict[str, Any],
    kind: str,
    status: str = "optimal",
    sound: bool = True,
    sizes: dict[str, Any] | None = None,
) -> LipschitzBound:
    return LipschitzBound(
        float(value),
        kind,
        method,
        status=status,
        sound=sound,
        seconds=time.perf_counter() - t0,
        norm=s.norm,
        sizes=sizes or {},
        neurons=s.neurons,
        info=info,
    )
