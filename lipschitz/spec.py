"""What is bounded: the input domain (a box), the input norm, and the output functional."""

from __future__ import annotations

from typing import Any, NamedTuple

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
        with np.errstate(over="ignore"):
            if not (np.all(np.isfinite(c - r)) and np.all(np.isfinite(c + r))):
                raise ValueError(
                    "box bounds center +- radius overflow float64: the domain is too large"
                )
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
        """``center - radius``, rounded down when it is not exact (so the box is contained
        in ``[lower, upper]``)."""
        return directed_sum(self.center, -self.radius, -np.inf)

    @property
    def upper(self) -> np.ndarray:
        """``center + radius``, rounded up when it is not exact."""
        return directed_sum(self.center, self.radius, np.inf)

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


def directed_sum(a: np.ndarray, b: np.ndarray, direction: float) -> np.ndarray:
    """``a + b`` rounded toward ``direction`` (the exact error of the rounded sum by Knuth's
    TwoSum decides whether the rounding went the wrong way)."""
    s = a + b
    bb = s - a
    err = (a - (s - bb)) + (b - bb)
    wrong = err < 0 if direction > 0 else err > 0
    return np.where(wrong, np.nextafter(s, direction), s)


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
    """Dual norm of the rows of ``g`` for the input norm ``norm``.

    The l2 norm is computed on rows scaled by a power of two near their largest entry, so that
    squares of tiny (or huge) entries do not underflow to 0 (or overflow).
    """
    g = np.asarray(g, dtype=float)
    if norm == "inf":
        return np.abs(g).sum(axis=-1)
    if norm == "1":
        return np.abs(g).max(axis=-1) if g.shape[-1] else np.zeros(g.shape[:-1])
    if g.shape[-1] == 0:
        return np.zeros(g.shape[:-1])
    m = np.abs(g).max(axis=-1, keepdims=True)
    ok = (m > 0) & np.isfinite(m)
    scale = np.where(ok, 2.0 ** np.floor(np.log2(np.where(ok, m, 1.0))), 1.0)
    h = g / scale
    return np.sqrt((h * h).sum(axis=-1)) * scale[..., 0]


def dual_norm_upper(g: Any, norm: str) -> float:
    """A rigorous upper bound on the dual norm of the vector ``g`` (its entries taken as exact).

    The computed norm is inflated by the rounding error of its sum (relative to the sum of
    magnitudes) and rounded up, so the bound is positive whenever ``g`` has a nonzero entry
    (also when the exact value is below the smallest float).

    Raises
    ------
    ValueError
        When the norm overflows float64.
    """
    from .network import ETA, gamma

    g = np.abs(np.asarray(g, dtype=float)).reshape(-1)
    if g.size == 0 or not np.any(g):
        return 0.0
    with np.errstate(over="ignore"):
        v = float(dual_norm(g, norm))
        v = v * (1.0 + 4.0 * gamma(g.size + 4)) + (g.size + 4) * ETA
    v = float(np.nextafter(v, np.inf))
    if not np.isfinite(v):
        raise ValueError(f"the bound overflows float64 (gradient entries up to {g.max():.3g})")
    return v


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


class Spec(NamedTuple):
    """The resolved arguments of a bound (what :func:`resolve` returns; unpacks as
    ``norm, box, c``)."""

    norm: str
    """The input norm: ``"inf"``, ``"1"`` or ``"2"``."""
    box: Box
    """The input domain."""
    c: np.ndarray
    """The output functional, a vector of length ``net.output_dim`` applied to the logits."""


def resolve(net: Any, norm: Any, domain: Any, output: Any) -> Spec:
    """Check that ``net`` is a :class:`~lipschitz.network.ReLUNetwork` and resolve the input
    norm (:func:`resolve_norm`), the domain (:func:`resolve_domain`) and the output functional
    (:func:`resolve_output`), in that order.

    Raises
    ------
    TypeError
        When ``net`` is not a ``ReLUNetwork``, or from :func:`resolve_domain`.
    ValueError
        From :func:`resolve_norm`, :func:`resolve_domain` or :func:`resolve_output`.
    """
    from .network import ReLUNetwork

    if not isinstance(net, ReLUNetwork):
        raise TypeError(f"net must be a ReLUNetwork, got {type(net).__name__}")
    net.check()  # finite, real, consistent parameters (the lists may be reassigned)
    norm = resolve_norm(norm)
    box = resolve_domain(domain, net.input_dim)
    c = resolve_output(output, net.output_dim)
    return Spec(norm, box, c)
