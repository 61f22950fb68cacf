"""Batched, outward-rounded interval arithmetic for certification: logits at many inputs, and
FastLip bounds of ``f_i - f_r`` on each input's own ball.

Every number returned holds in exact arithmetic for the network's floats read as reals: the
enclosures are the midpoint-radius products of :func:`lipschitz.network.affine_enclosure`,
applied to a batch of boxes at once.
"""

from __future__ import annotations

import numpy as np

from ..network import ETA, ReLUNetwork, affine_enclosure, gamma, round_down, round_up


def ball_boxes(
    X: np.ndarray, eps: float, valid_range: tuple[np.ndarray, np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray]:
    """``[lo, hi]`` per input containing its L-inf ball of radius ``eps`` (so every ball of
    the input norms), intersected with ``valid_range``; rounded outward."""
    lo = round_down(X - eps)
    hi = round_up(X + eps)
    if valid_range is not None:
        lo = np.maximum(lo, valid_range[0])
        hi = np.minimum(hi, valid_range[1])
    return lo, hi


def logit_enclosure(net: ReLUNetwork, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds ``(n, m)`` of the logits at the inputs ``X`` (exact
    arithmetic)."""
    lo = hi = np.asarray(X, dtype=float)
    for k, (W, b) in enumerate(zip(net.weights, net.biases)):
        lo, hi = affine_enclosure(W, b, lo, hi)
        if k < net.depth:
            lo, hi = np.maximum(lo, 0.0), np.maximum(hi, 0.0)
    return lo, hi


def dual_norm_upper_rows(G_lo: np.ndarray, G_hi: np.ndarray, norm: str) -> np.ndarray:
    """Per row: an upper bound of the dual norm of every vector in the row's interval."""
    a = np.maximum(np.abs(G_lo), np.abs(G_hi))
    n = a.shape[1]
    if norm == "1":
        return a.max(axis=1)
    if norm == "inf":
        s = a.sum(axis=1)
    else:
        s = np.sqrt(np.sum(a * a, axis=1))
    return round_up(s * (1 + 2 * gamma(n + 4)) + (n + 4) * ETA)


def local_bounds(
    net: ReLUNetwork, lo: np.ndarray, hi: np.ndarray, functionals: list[np.ndarray], norm: str
) -> np.ndarray:
    """FastLip upper bounds ``(n, len(functionals))`` of the Lipschitz constants of
    ``c . f`` for each output functional ``c`` on each box ``[lo[k], hi[k]]``.

    Pre-activation intervals per box decide which neurons are stable there; the backward
    interval propagation of the gradient then runs for all boxes at once."""
    masks_on, masks_off = [], []
    a_lo, a_hi = lo, hi
    for W, b in zip(net.weights[:-1], net.biases[:-1]):
        zl, zu = affine_enclosure(W, b, a_lo, a_hi)
        masks_on.append(zl > 0)
        masks_off.append(zu < 0)
        a_lo, a_hi = np.maximum(zl, 0.0), np.maximum(zu, 0.0)
    W_out = net.weights[-1]
    out = np.empty((lo.shape[0], len(functionals)))
    for col, c in enumerate(functionals):
        c = np.asarray(c, dtype=float)
        g_lo, g_hi = affine_enclosure(W_out.T, np.zeros(W_out.shape[1]), c, c)
        g_lo = np.broadcast_to(g_lo, (lo.shape[0], g_lo.size))
        g_hi = np.broadcast_to(g_hi, (lo.shape[0], g_hi.size))
        for k in range(net.depth - 1, -1, -1):
            on, off = masks_on[k], masks_off[k]
            g_lo = np.where(on, g_lo, np.where(off, 0.0, np.minimum(g_lo, 0.0)))
            g_hi = np.where(on, g_hi, np.where(off, 0.0, np.maximum(g_hi, 0.0)))
            W = net.weights[k]
            g_lo, g_hi = affine_enclosure(W.T, np.zeros(W.shape[1]), g_lo, g_hi)
        out[:, col] = dual_norm_upper_rows(g_lo, g_hi, norm)
    return out


def pair_functional(m: int, i: int, r: int) -> np.ndarray:
    """The output functional of ``f_i - f_r``."""
    c = np.zeros(m)
    c[i], c[r] = 1.0, -1.0
    return c
