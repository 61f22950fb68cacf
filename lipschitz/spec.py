"""What is bounded: the input domain (a box), the input norm, and the output functional."""

from __future__ import annotations

from typing import Any

import numpy as np

GLOBAL_RADIUS = 10.0
"""Radius of the box around 0 standing for the whole space ("global"), as in Chen et al."""

_NORMS = {
    "inf": "inf",
    "linf": "inf",
    "l_inf": "inf",
    "1": "1",
    "l1": "1",
    "2": "2",
    "l2": "2",
}


class Box:
    """The input domain ``{x : |x_i - center_i| <= radius_i}``.

    ``radius`` is a positive scalar or a vector of the same length as ``center``.
    """

    def __init__(self, center: Any, radius: Any) -> None:
        c = np.asarray(center, dtype=float).reshape(-1)
        if c.size == 0:
            raise ValueError("the box center is empty")
        r = np.asarray(radius, dtype=float)
        if r.ndim == 0:
            r = np.full(c.shape, float(r))
        r = r.reshape(-1)
        if r.shape != c.shape:
            raise ValueError(f"radius has {r.size} entries but the center has {c.size}")
        if not (np.all(np.isfinite(c)) and np.all(np.isfinite(r))):
            raise ValueError("box center and radius must be finite")
        if np.any(r <= 0):
            raise ValueError(f"box radius must be > 0, got min {r.min()}")
        self.center = c
        self.radius = r

    @classmethod
    def around(cls, dim: int, radius: float = GLOBAL_RADIUS) -> Box:
        """The box of the given radius around the origin (the "global" domain)."""
        return cls(np.zeros(int(dim)), radius)

    @property
    def dim(self) -> int:
        return self.center.size

    @property
    def lower(self) -> np.ndarray:
        return self.center - self.radius

    @property
    def upper(self) -> np.ndarray:
        return self.center + self.radius

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` points drawn uniformly in the box."""
        return self.center + self.radius * rng.uniform(-1.0, 1.0, size=(n, self.dim))

    def clip(self, X: np.ndarray) -> np.ndarray:
        """Project points onto the box."""
        return np.clip(X, self.lower, self.upper)

    def __repr__(self) -> str:
        r = self.radius
        rs = f"{r[0]:g}" if np.all(r == r[0]) else "vector"
        return f"Box(dim={self.dim}, radius={rs})"


def resolve_domain(domain: Any, dim: int) -> Box:
    """``"global"`` (the radius-10 box around 0), a :class:`Box`, or ``(center, radius)``."""
    if isinstance(domain, str):
        if domain != "global":
            raise ValueError(f"unknown domain {domain!r}: use 'global', a Box or (center, radius)")
        return Box.around(dim)
    if isinstance(domain, Box):
        box = domain
    elif isinstance(domain, tuple) and len(domain) == 2:
        box = Box(*domain)
    else:
        raise TypeError(f"domain must be 'global', a Box or (center, radius), got {domain!r}")
    if box.dim != dim:
        raise ValueError(f"domain has dimension {box.dim} but the network input has {dim}")
    return box


def resolve_norm(norm: Any) -> str:
    """Normalize the input norm to ``"inf"``, ``"1"`` or ``"2"``."""
    if isinstance(norm, (int, float)) and not isinstance(norm, bool):
        key = "inf" if norm == np.inf else str(int(norm)) if float(norm).is_integer() else None
    else:
        key = str(norm).lower() if isinstance(norm, str) else None
    if key not in _NORMS:
        raise ValueError(f"unknown norm {norm!r}: use 'inf', '1' or '2' (the input norm)")
    return _NORMS[key]


def dual_norm(g: np.ndarray, norm: str) -> np.ndarray:
    """Dual norm of the rows of ``g`` for the input norm ``norm``."""
    g = np.asarray(g, dtype=float)
    if norm == "inf":
        return np.abs(g).sum(axis=-1)
    if norm == "1":
        return np.abs(g).max(axis=-1)
    return np.sqrt((g * g).sum(axis=-1))


def dual_norm_name(norm: str) -> str:
    return {"inf": "1", "1": "inf", "2": "2"}[norm]


def resolve_output(output: Any, n_out: int) -> np.ndarray:
    """The output functional as a vector ``c`` applied to the logits.

    ``None`` (only for a scalar output), an int ``i`` (logit ``i``), a pair ``(i, r)``
    (``f_i - f_r``), or a vector of length ``n_out``.
    """
    if output is None:
        if n_out != 1:
            raise ValueError(
                f"the network has {n_out} outputs: choose output=i (one logit), (i, r) "
                "(f_i - f_r) or a vector c"
            )
        return np.ones(1)
    if isinstance(output, (int, np.integer)) and not isinstance(output, bool):
        i = int(output)
        if not -n_out <= i < n_out:
            raise ValueError(f"output index {i} out of range for {n_out} outputs")
        c = np.zeros(n_out)
        c[i] = 1.0
        return c
    if (
        isinstance(output, tuple)
        and len(output) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in output)
    ):
        i, r = (int(v) for v in output)
        for v in (i, r):
            if not -n_out <= v < n_out:
                raise ValueError(f"output index {v} out of range for {n_out} outputs")
        if i % n_out == r % n_out:
            raise ValueError(f"output pair ({i}, {r}) is f_i - f_i = 0: choose two classes")
        c = np.zeros(n_out)
        c[i] += 1.0
        c[r] -= 1.0
        return c
    c = np.asarray(output, dtype=float)
    if c.ndim != 1 or c.size != n_out:
        raise ValueError(
            f"output must be an int, a pair (i, r) or a vector of length {n_out}, got {output!r}"
        )
    if not np.all(np.isfinite(c)):
        raise ValueError("output vector contains NaN or infinite entries")
    return c
