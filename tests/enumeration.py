"""Exact Lipschitz constants of tiny ReLU networks by enumerating activation regions.

Independent of lipschitz's bound code: only ``net.weights`` and ``net.biases`` are read.

For an activation pattern ``sigma`` of all hidden neurons, the pre-activation ``z_kj`` is an
affine function ``a_kj . x + b_kj`` of the input once the patterns of the layers before ``k``
are fixed. The pattern's region ``{x in box : sigma_kj z_kj(x) >= 0 for all k, j}`` (with
``sigma = +1`` active, ``-1`` inactive) is full-dimensional exactly when the LP

    max s   s.t.  sigma_kj (a_kj . x + b_kj) >= s ||a_kj||_2,   lo + s <= x <= hi - s

has an optimum ``s > 0`` (``s`` is the radius of the largest Euclidean ball inside the region);
a margin ``s <= 1e-9`` is treated as empty. On a full-dimensional region ``c . f`` is affine with
gradient ``W_1^T D_1 ... W_L^T D_L W_out^T c``; ``c . f`` is piecewise affine and continuous, so
its Lipschitz constant on the (convex) box for the input norm ``p`` is the largest dual norm of
these gradients (``p = inf`` -> l1, ``p = 1`` -> linf, ``p = 2`` -> l2).

Patterns are enumerated neuron by neuron (depth first, 2^N leaves at most); a prefix whose region
is already empty is pruned, which leaves the result unchanged since every extension of it is
empty too. A neuron whose pre-activation is constant on the current region (``a_kj = 0``, e.g.
when every neuron feeding it is inactive) is not a boundary: its state is fixed by the sign of
``b_kj`` and it adds no constraint (with ``b_kj = 0`` either state gives the same gradient,
since its row of the Jacobian is zero).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linprog

MARGIN = 1e-9
"""A region is full-dimensional when its max margin ``s`` exceeds this."""

ZERO_ROW = 1e-14
"""An affine row with a smaller Euclidean norm (relative to the layer's scale) is constant."""

MAX_NEURONS = 12


def _norm_key(norm: Any) -> str:
    if isinstance(norm, str):
        key = norm.lower().replace("l_", "").replace("l", "")
    elif norm == np.inf:
        key = "inf"
    else:
        key = str(int(norm))
    if key not in ("inf", "1", "2"):
        raise ValueError(f"unknown norm {norm!r}")
    return key


def dual(g: np.ndarray, norm: Any) -> float:
    """Dual norm of ``g`` for the input norm ``norm``."""
    key = _norm_key(norm)
    g = np.asarray(g, dtype=float)
    if key == "inf":
        return float(np.abs(g).sum())
    if key == "1":
        return float(np.abs(g).max())
    return float(np.sqrt(g @ g))


class _Enumerator:
    def __init__(self, weights, biases, lo, hi, c):
        self.W = [np.asarray(W, float) for W in weights]
        self.b = [np.asarray(b, float) for b in biases]
        self.lo, self.hi = lo, hi
        self.n = lo.size
        self.c = c
        self.gradients: list[np.ndarray] = []
        self.points: list[np.ndarray] = []
        self.lps = 0

    def margin(self, rows: list[np.ndarray], offs: list[float]) -> tuple[float, np.ndarray]:
        """Max ``s`` with ``rows[i] . x + offs[i] >= s ||rows[i]||`` and ``x`` in the box
        shrunk by ``s``, and the maximizing ``x`` (the centre of the largest ball)."""
        self.lps += 1
        n = self.n
        # variables (x, s); minimize -s subject to A_ub (x, s) <= b_ub
        A = [np.concatenate([-a, [np.linalg.norm(a)]]) for a in rows]
        rhs = list(offs)
        eye = np.eye(n)
        for i in range(n):
            A.append(np.concatenate([-eye[i], [1.0]]))  # x_i - s >= lo_i
            rhs.append(-self.lo[i])
            A.append(np.concatenate([eye[i], [1.0]]))  # x_i + s <= hi_i
            rhs.append(self.hi[i])
        cost = np.zeros(n + 1)
        cost[-1] = -1.0
        for method in ("highs", "highs-ds", "highs-ipm"):  # HiGHS's "Not Set" on odd scales
            res = linprog(
                cost,
                A_ub=np.array(A),
                b_ub=np.array(rhs),
                bounds=[(None, None)] * (n + 1),
                method=method,
            )
            if res.status == 0:
                break
        if res.status != 0:
            raise RuntimeError(f"region LP failed: {res.message}")
        return float(-res.fun), res.x[:n]

    def run(self) -> None:
        n = self.n
        # the first hidden layer's input is x itself: a_0 = I x + 0
        self._layer(0, np.eye(n), np.zeros(n), [], [], [], (self.lo + self.hi) / 2)

    def _layer(self, k, A_prev, c_prev, rows, offs, masks, point) -> None:
        """Enumerate the patterns of hidden layer ``k``; ``a_{k-1} = A_prev x + c_prev`` on the
        current region, ``point`` an interior point of it."""
        if k == len(self.W) - 1:
            g = self.W[-1].T @ self.c
            for j in range(k - 1, -1, -1):
                g = self.W[j].T @ (masks[j] * g)
            self.gradients.append(g)
            self.points.append(point)
            return
        Z = self.W[k] @ A_prev  # z_k = Z x + z0 on the region
        z0 = self.W[k] @ c_prev + self.b[k]
        scale = 1.0 + np.abs(self.W[k]).max() * max(1.0, np.abs(A_prev).max())
        state = (k, Z, z0, scale, masks)
        self._neuron(state, 0, np.zeros(Z.shape[0]), rows, offs, point)

    def _neuron(self, state, j, mask, rows, offs, point) -> None:
        k, Z, z0, scale, masks = state
        if j == Z.shape[0]:
            self._layer(
                k + 1, mask[:, None] * Z, mask * z0, rows, offs, masks + [mask.copy()], point
            )
            return
        a, o = Z[j], float(z0[j])
        if np.linalg.norm(a) <= ZERO_ROW * scale:  # constant pre-activation on this region
            mask[j] = 1.0 if o > 0 else 0.0
            self._neuron(state, j + 1, mask, rows, offs, point)
            return
        for on in (1.0, 0.0):
            sign = 1.0 if on else -1.0
            new_rows, new_offs = rows + [sign * a], offs + [sign * o]
            s, x = self.margin(new_rows, new_offs)
            if s > MARGIN:
                mask[j] = on
                self._neuron(state, j + 1, mask, new_rows, new_offs, x)
        mask[j] = 0.0


def regions(net, center: Any, radius: Any, c: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(gradients, points)``: the gradient of ``c . net`` on every full-dimensional
    activation region of the box and a point inside each region (the centre of its largest
    ball), both of shape ``(regions, input_dim)``."""
    weights, biases = net.weights, net.biases
    hidden = sum(W.shape[0] for W in weights[:-1])
    if hidden > MAX_NEURONS:
        raise ValueError(f"{hidden} hidden neurons: exact enumeration handles <= {MAX_NEURONS}")
    n = weights[0].shape[1]
    center = np.broadcast_to(np.asarray(center, float).reshape(-1), (n,)).astype(float)
    radius = np.broadcast_to(np.asarray(radius, float).reshape(-1), (n,)).astype(float)
    if np.any(radius <= 0):
        raise ValueError("radius must be > 0")
    c = np.asarray(c, dtype=float).reshape(-1)
    if c.size != weights[-1].shape[0]:
        raise ValueError(f"c has {c.size} entries, the network {weights[-1].shape[0]} outputs")
    e = _Enumerator(weights, biases, center - radius, center + radius, c)
    e.run()
    if not e.gradients:
        raise RuntimeError("no full-dimensional region found (the box must have one)")
    return np.array(e.gradients), np.array(e.points)


def exact_lipschitz(net, center: Any, radius: Any, c: Any, norm: Any) -> float:
    """The exact Lipschitz constant of ``x -> c . net(x)`` on the box ``|x - center| <= radius``
    for the input norm ``norm`` (``"inf"``, ``"1"``, ``"2"``; the gradient's dual norm)."""
    grads, _ = regions(net, center, radius, c)
    return max(dual(g, norm) for g in grads)


def forward(net, X: np.ndarray) -> np.ndarray:
    """The network's logits at a batch of inputs (plain numpy, for brute-force checks)."""
    a = np.asarray(X, dtype=float)
    for W, b in zip(net.weights[:-1], net.biases[:-1]):
        a = np.maximum(a @ W.T + b, 0.0)
    return a @ net.weights[-1].T + net.biases[-1]


def functional(output, n_out: int) -> np.ndarray:
    """An output spec (None, int ``i``, pair ``(i, r)`` or vector) as the vector ``c``,
    independently of lipschitz.spec."""
    if output is None:
        return np.ones(1)
    if isinstance(output, int):
        return np.eye(n_out)[output]
    if isinstance(output, tuple):
        i, r = output
        return np.eye(n_out)[i] - np.eye(n_out)[r]
    return np.asarray(output, dtype=float)


def box_of(domain, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(center, radius)`` of a domain spec (``"global"`` is the radius-10 box; a Box has
    ``center`` and ``radius``)."""
    if isinstance(domain, str):
        return np.zeros(n), np.full(n, 10.0)
    if hasattr(domain, "center"):
        return domain.center, domain.radius
    center, radius = domain
    return np.asarray(center, float), np.broadcast_to(np.asarray(radius, float), (n,))
