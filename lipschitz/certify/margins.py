"""Per-input lower bounds on logit margins over input boxes: IBP, Fast-Lin / LP-greedy, CROWN.

Every bound here is a value of one Lagrangian dual, evaluated in exact arithmetic. For a
network ``z_k = W_k a_{k-1} + b_k`` (``a_0 = x``), ``a_k = relu(z_k)``, output ``y = W_out
a_K + b_out``, pre-activation bounds ``l_k <= z_k <= u_k`` valid on the input box, and any
multipliers ``nu_k`` of the links ``W_k a_{k-1} + b_k - z_k = 0``,

    C . y = C . b_out + sum_k nu_k . b_k + sum_{k, j} (g_kj a_kj - nu_kj z_kj) + w . x,
    g_K = W_out^T C,   g_{k-1} = W_k^T nu_k,   w = W_1^T nu_1 = g_0,

holds at every point of the network. Each ``(z_kj, a_kj)`` lies in the convex hull of the
ReLU's graph over ``[l, u]`` (the triangle with vertices ``(l, 0), (0, 0), (u, u)`` for an
unstable neuron, a segment for a stable one) and ``x`` in its box, so the minimum of each
term over its hull's vertices bounds ``C . y`` from below: the bound of the LP relaxation
over the triangles (Salman et al. 2019, the "optimal layer-wise convex relaxation") for these
multipliers, and the LP's optimum for the best ones. The methods differ only in the
multipliers: IBP takes ``nu = 0`` (with interval pre-activation bounds), Fast-Lin / LP-greedy
``nu = s g`` with the slope ``s = u / (u - l)`` of the upper line on unstable neurons
(Wong and Kolter 2018; Weng et al. 2018), CROWN the same with the adaptive lower slope
(0 or 1) where ``g >= 0`` (Zhang et al. 2018).

Soundness. The multipliers are whatever floats the backward pass computed; what the identity
needs exactly is ``g``, so ``g`` is enclosed in an interval (the float product widened by its
rounding error bound, :func:`lipschitz.network.dot_error`) and each vertex value takes the
interval's worst end (the vertices have ``a >= 0``). Products and sums are rounded down, so
the returned bound holds in exact arithmetic for the network's floats.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..network import ETA, ReLUNetwork, affine_enclosure, dot_error, gamma, round_down

METHODS = ("ibp", "fastlin", "crown")
"""Closed-form margin bounds: interval propagation, Fast-Lin / LP-greedy, CROWN."""


def _sum_down(T: np.ndarray, axis: int = -1) -> np.ndarray:
    """A lower bound of the exact sum of the float terms ``T`` along ``axis``."""
    n = T.shape[axis]
    s = np.sum(T, axis=axis)
    err = gamma(n + 2) * np.sum(np.abs(T), axis=axis) * (1 + 4 * 2.0**-53) + (n + 2) * ETA
    return round_down(s - err)


def _mul_down(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A lower bound of the exact products ``a b`` (elementwise)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return round_down(round_down(a * b) - ETA)


def _product_interval(V: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the exact ``V @ W`` (``V`` (..., p), ``W`` (p, q)) around the float product."""
    P = V @ W
    err = dot_error(np.abs(V) @ np.abs(W), W.shape[0])
    return round_down(P - err), P + err


def _dot_down(V: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A lower bound of the exact ``V @ b`` (``V`` (..., p), ``b`` (p,))."""
    return round_down(V @ b - dot_error(np.abs(V) @ np.abs(b), b.size))


def dual_bound(
    weights: list[np.ndarray],
    biases: list[np.ndarray],
    lo: np.ndarray,
    hi: np.ndarray,
    bounds: list[tuple[np.ndarray, np.ndarray]],
    C: np.ndarray,
    nus: list[np.ndarray],
) -> np.ndarray:
    """Certified lower bounds ``(n, c)`` of ``C . y`` over each box ``[lo, hi]`` (rows).

    ``weights, biases``: the hidden layers then the output layer; ``bounds``: ``(l_k, u_k)``
    ``(n, H_k)`` valid on the boxes; ``C``: ``(n, c, m)`` functionals of the output;
    ``nus``: ``(n, c, H_k)`` multipliers per hidden layer (any floats)."""
    K = len(weights) - 1
    W_out, b_out = weights[-1], biases[-1]
    total = _dot_down(C, b_out)  # C . b_out
    g_lo, _ = _product_interval(C, W_out)  # g_K, (n, c, H_K)
    for k in range(K - 1, -1, -1):
        nu = nus[k]
        l, u = bounds[k]
        l, u = l[:, None, :], u[:, None, :]
        d = round_down(g_lo - nu)  # lower bound of g - nu
        t_l = _mul_down(-nu, l)  # vertex (l, 0) of the triangle, end l of a stable segment
        t_u_inactive = _mul_down(-nu, u)
        active = l >= 0
        inactive = u <= 0
        t_active = np.minimum(_mul_down(d, l), _mul_down(d, u))
        t_inactive = np.minimum(t_l, t_u_inactive)
        t_unstable = np.minimum(np.minimum(t_l, 0.0), _mul_down(d, u))
        terms = np.where(active, t_active, np.where(inactive, t_inactive, t_unstable))
        total = round_down(total + _sum_down(terms))
        total = round_down(total + _dot_down(nu, biases[k]))  # + nu . b_k
        g_lo, g_hi = _product_interval(nu, weights[k])  # g_{k-1}
        if k == 0:
            x_lo, x_hi = lo[:, None, :], hi[:, None, :]
            corners = np.minimum(
                np.minimum(_mul_down(g_lo, x_lo), _mul_down(g_lo, x_hi)),
                np.minimum(_mul_down(g_hi, x_lo), _mul_down(g_hi, x_hi)),
            )
            total = round_down(total + _sum_down(corners))
    if K == 0:  # no hidden layer: y = W_out x + b_out
        g_lo, g_hi = _product_interval(C, W_out)
        x_lo, x_hi = lo[:, None, :], hi[:, None, :]
        corners = np.minimum(
            np.minimum(_mul_down(g_lo, x_lo), _mul_down(g_lo, x_hi)),
            np.minimum(_mul_down(g_hi, x_lo), _mul_down(g_hi, x_hi)),
        )
        total = round_down(total + _sum_down(corners))
    return np.where(np.isnan(total), -np.inf, total)


def greedy_multipliers(
    weights: list[np.ndarray],
    bounds: list[tuple[np.ndarray, np.ndarray]],
    C: np.ndarray,
    method: str,
) -> list[np.ndarray]:
    """The backward pass of Fast-Lin (``"fastlin"``), CROWN (``"crown"``) or IBP (``"ibp"``:
    zeros): multipliers ``(n, c, H_k)`` per hidden layer."""
    K = len(weights) - 1
    if method == "ibp":
        return [np.zeros((C.shape[0], C.shape[1], W.shape[0])) for W in weights[:-1]]
    nus: list[np.ndarray] = [np.empty(0)] * K
    g = C @ weights[-1]
    for k in range(K - 1, -1, -1):
        l, u = bounds[k]
        l, u = l[:, None, :], u[:, None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where((l < 0) & (u > 0), u / (u - l), 0.0)
        if method == "crown":
            alpha = (u >= -l).astype(float)
        else:
            alpha = s
        slope = np.where(l >= 0, 1.0, np.where(u <= 0, 0.0, np.where(g >= 0, alpha, s)))
        nu = slope * g
        nus[k] = nu
        g = nu @ weights[k]
    return nus


def layer_bounds(
    net: ReLUNetwork, lo: np.ndarray, hi: np.ndarray, method: str = "ibp"
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pre-activation bounds ``(l_k, u_k)`` ``(n, H_k)`` of every hidden layer on each box:
    interval propagation, tightened for ``"fastlin"`` / ``"crown"`` by the dual bound of the
    truncated network (both are valid, so their intersection is)."""
    Ws, bs = list(net.weights), list(net.biases)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    a_lo, a_hi = lo, hi
    for k in range(net.depth):
        zl, zu = affine_enclosure(Ws[k], bs[k], a_lo, a_hi)
        if k > 0 and method != "ibp":
            H = Ws[k].shape[0]
            I = np.eye(H)
            C = np.broadcast_to(np.concatenate([I, -I])[None], (lo.shape[0], 2 * H, H))
            sub_w, sub_b = Ws[: k + 1], bs[: k + 1]
            nus = greedy_multipliers(sub_w, out, C, method)
            both = dual_bound(sub_w, sub_b, lo, hi, out, C, nus)
            zl = np.maximum(zl, both[:, :H])
            zu = np.minimum(zu, -both[:, H:])
        out.append((zl, zu))
        a_lo, a_hi = np.maximum(zl, 0.0), np.maximum(zu, 0.0)
    return out


def margin_functionals(labels: np.ndarray, m: int) -> np.ndarray:
    """``(n, m, m)``: row ``i`` of input ``k`` is ``e_r - e_i`` (``r`` its label; the row
    ``i = r`` is zero)."""
    n = labels.size
    C = np.zeros((n, m, m))
    C[np.arange(n), :, labels] = 1.0
    C[:, np.arange(m), np.arange(m)] -= 1.0
    return C


def margin_lower_bounds(
    net: ReLUNetwork,
    lo: np.ndarray,
    hi: np.ndarray,
    labels: np.ndarray,
    method: str = "crown",
    chunk: int | None = None,
) -> np.ndarray:
    """Certified lower bounds ``(n, m)`` of ``min f_r - f_i`` over each box ``[lo_k, hi_k]``
    (``r = labels[k]``; ``+inf`` at ``i = r``). A scalar network (``m = 1``) gets one column:
    a lower bound of ``f`` for label 1, of ``-f`` for label 0 (the margin of its side)."""
    if method not in METHODS:
        raise ValueError(f"unknown margin method {method!r}; choose one of {METHODS}")
    lo = np.atleast_2d(np.asarray(lo, dtype=float))
    hi = np.atleast_2d(np.asarray(hi, dtype=float))
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    n, m = lo.shape[0], net.output_dim
    if hi.shape != lo.shape or lo.shape[1] != net.input_dim or labels.size != n:
        raise ValueError("lo, hi must be (n, input_dim) and labels (n,)")
    if np.any(~(lo <= hi)):
        raise ValueError("every box needs lo <= hi (and no NaN)")
    if chunk is None:
        width = max(net.hidden_sizes + (net.input_dim,))
        chunk = max(1, int(4e7 // max(1, m * m * width)))
    out = np.empty((n, m))
    for s in range(0, n, chunk):
        sl = slice(s, min(s + chunk, n))
        out[sl] = _chunk(net, lo[sl], hi[sl], labels[sl], method)
    return out


def _chunk(net: ReLUNetwork, lo, hi, labels, method) -> np.ndarray:
    m = net.output_dim
    bounds = layer_bounds(net, lo, hi, method)
    if m == 1:
        sign = np.where(labels == 1, 1.0, -1.0)
        C = sign[:, None, None] * np.ones((1, 1, 1))
    else:
        C = margin_functionals(labels, m)
    nus = greedy_multipliers(list(net.weights), bounds, C, method)
    lb = dual_bound(list(net.weights), list(net.biases), lo, hi, bounds, C, nus)
    if m > 1:
        lb[np.arange(lo.shape[0]), labels] = np.inf
    return lb


def certified_by_margins(lb: np.ndarray) -> np.ndarray:
    """Per input: every margin's lower bound is positive."""
    return np.all(lb > 0, axis=1)


def check_method(method: Any) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown margin method {method!r}; choose one of {METHODS}")
    return str(method)
