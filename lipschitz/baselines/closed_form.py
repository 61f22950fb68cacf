"""Closed-form bounds: the product of layer norms (:func:`naive_bound`) and FastLip's interval
bounds on the generalized gradients (:func:`gradient_bounds`, :func:`fastlip_bound`), both
rounded so that they hold in exact arithmetic."""

from __future__ import annotations

import numpy as np

from ..intervals import stability
from ..network import ReLUNetwork, dot_error, gamma, round_up
from ..spec import Box, dual_norm_upper


def ldexp_up(x: float, exponent: int) -> float:
    """``x * 2**exponent`` rounded up (positive whenever ``x`` is, also below the smallest
    float).

    Raises
    ------
    ValueError
        When the result overflows float64.
    """
    y = float(np.ldexp(x, exponent))
    if x > 0:
        y = float(np.nextafter(y, np.inf))
    if not np.isfinite(y):
        raise ValueError("the LipSDP bound overflows float64: the network's weights are too large")
    return y


def naive_bound(net: ReLUNetwork, c: np.ndarray, norm: str) -> float:
    """The product of the hidden layers' operator norms for the input norm, times the dual
    norm of ``W_out^T c``, rounded up (a rigorous upper bound on the Lipschitz constant).

    ``W_out^T c`` gets its rounding error (relative to ``|W_out|^T |c|``, so cancellation in
    ``f_i - f_r`` is covered); the operator norms (sums of magnitudes, or the spectral norm
    bounded through a verified eigenvalue test) are inflated by their rounding errors; the
    product is formed in base-2 exponent and mantissa so that it neither underflows nor
    overflows before the final result, which is rounded up.
    """
    w, w_err = output_row(net, c)
    mant, expo = op_product(net, norm)
    head = dual_norm_upper(np.abs(w) + w_err, norm)
    m, ex = np.frexp(head)
    value = ldexp_up(float(round_up(m * mant * (1.0 + 4.0 * gamma(2)))), expo + int(ex))
    return value if head > 0 else 0.0


def output_row(net: ReLUNetwork, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``w = W_out^T c`` computed in floating point and a bound on its error."""
    net.check()
    n_out = net.weights[-1].shape[0]
    w = net.weights[-1].T @ c
    return w, dot_error(np.abs(net.weights[-1]).T @ np.abs(c), n_out)


def _spectral_norm_upper(V: np.ndarray) -> float:
    """``||V||_2`` bounded above in exact arithmetic: ``lambda_max`` of the computed Gram
    matrix from a shift that passes Rump's Cholesky test (:mod:`polyopt.certificate`), plus
    the Gram matrix's rounding error (its entrywise bound summed: above the spectral norm)."""
    from polyopt.certificate import psd_lower_bounds

    tall = V.shape[0] >= V.shape[1]
    G = V.T @ V if tall else V @ V.T
    absV = np.abs(V)
    mag = absV.T @ absV if tall else absV @ absV.T
    err = float(np.sum(dot_error(mag, max(V.shape))))
    lam = -float(psd_lower_bounds([-G])[0])
    val = float(np.sqrt(round_up(max(lam, 0.0) + err * (1 + gamma(G.size)))))
    return float(round_up(val * (1.0 + 4.0 * gamma(2))))


def op_product(net: ReLUNetwork, norm: str) -> tuple[float, int]:
    """An upper bound ``mant * 2**expo`` on the product of the hidden layers' operator norms
    for the input norm ``norm``."""
    mant, expo = 1.0, 0
    for W in net.weights[:-1]:
        e = int(np.frexp(np.abs(W).max())[1]) if np.any(W) else 0
        V = np.ldexp(W, -e)  # exact unless entries become subnormal (covered below)
        if norm == "inf":
            op = np.abs(V).sum(axis=1).max()
        elif norm == "1":
            op = np.abs(V).sum(axis=0).max()
        else:
            op = _spectral_norm_upper(V) if np.any(V) else 0.0
        op = op * (1.0 + 16.0 * gamma(sum(W.shape) + 8)) + W.size * 2.0**-1000
        m, ex = np.frexp(op * mant)
        mant, expo = float(round_up(m * (1.0 + 4.0 * gamma(2)))), expo + e + int(ex)
    return mant, expo


def gradient_bounds(net: ReLUNetwork, box: Box, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rigorous interval bounds on every generalized gradient of ``c . f`` over the box
    (FastLip's backward interval propagation, rounded outward)."""
    from ..network import affine_enclosure

    _, active, inactive = stability(net, box)
    w, w_err = output_row(net, c)
    lo, hi = np.nextafter(w - w_err, -np.inf), np.nextafter(w + w_err, np.inf)
    for k in range(net.depth - 1, -1, -1):
        unstable = ~(active[k] | inactive[k])
        lo = np.where(active[k], lo, np.where(unstable, np.minimum(lo, 0.0), 0.0))
        hi = np.where(active[k], hi, np.where(unstable, np.maximum(hi, 0.0), 0.0))
        W = net.weights[k]
        lo, hi = affine_enclosure(W.T, np.zeros(W.shape[1]), lo, hi)
    return lo, hi


def fastlip_bound(net: ReLUNetwork, box: Box, c: np.ndarray, norm: str) -> float:
    """FastLip: the dual norm of the largest-magnitude gradient in :func:`gradient_bounds`,
    rounded up."""
    lo, hi = gradient_bounds(net, box, c)
    return dual_norm_upper(np.maximum(np.abs(lo), np.abs(hi)), norm)
