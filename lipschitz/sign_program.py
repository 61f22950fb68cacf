"""The gradient of a one-hidden-layer network over a box of perturbations, as a sign program.

For ``f(x) = W_2 relu(W_1 x + b_1) + b_2``, an output functional ``c`` and a box ``D`` of
perturbations ``delta``, the largest change of ``c . f`` along the Clarke gradients of the
domain is

    max  delta . W_1^T diag(u) W_2^T c   over delta in D, u in [0, 1]^H,

with ``u`` fixed to 1 (0) on the neurons the domain's interval bounds prove active
(inactive). The objective is bilinear, so the maximum sits at vertices: ``delta = m + rho t``
(``m`` the box's center, ``rho`` its half-widths, ``t`` in ``{-1, 1}^n``) and ``u = (1 + s) /
2`` with ``s`` in ``{-1, 1}`` on the unstable neurons. That is the sign program

    max  t^T G r + r_0 (h . r_{1:}) + constant,     r = (r_0, s),

solved by :func:`polyopt.grothendieck_sdp` (Shor's relaxation). With ``D`` the
unit cube it is the LCEP of the L-inf Lipschitz constant with the input ``x`` and the
constraints that link it to ``u`` left out (a relaxation of the LCEP, so still an upper bound;
at order 1 those constraints change nothing measurable on SDP-NN, whose Shor value on the
global box equals this one to 6 digits). With ``D`` an input's ball shifted by the input, it
bounds ``f_i(x) - f_i(x0)`` over the ball: the local certificates of
:mod:`lipschitz.certify`.

Rounding. ``G``, ``h`` and the constant are computed in floating point; ``error`` bounds the
difference, at every sign vector, between the float program and the exact one (the gradient
coefficients' error of :func:`lipschitz.lcep.gradient_error`, weighted by ``|m| + rho``, plus
the roundings of the products by ``rho`` and of the sums with ``m``), so ``bound + constant +
error``, rounded up, holds in exact arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .intervals import NeuronCounts, stability
from .lcep import gradient_error
from .network import ETA, ReLUNetwork, dot_error, gamma, round_up
from .spec import Box

U = 2.0**-53


@dataclass
class SignProgram:
    """``max t^T G r + r_0 (h . r_{1:}) + constant`` (within ``error`` of the exact program).

    ``G`` has one row per perturbed input (rows with ``rho = 0`` are dropped) and one column
    for ``r_0`` then one per unstable neuron; ``h`` is None when ``m = 0``."""

    G: np.ndarray
    h: np.ndarray | None
    constant: float
    error: float
    counts: NeuronCounts

    @property
    def shape(self) -> tuple[int, int]:
        return self.G.shape


def applicable(net: ReLUNetwork) -> bool:
    """Sign programs cover networks with exactly one hidden layer."""
    return net.depth == 1


def gradient_coefficients(
    net: ReLUNetwork, box: Box, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray, NeuronCounts]:
    """``K`` ``(n, 1 + q)``: the gradient of ``c . f`` is ``K (1, s)`` for the patterns
    ``u = (1 + s) / 2`` of the ``q`` neurons unstable on ``box`` (column 0: the active
    neurons and half of the unstable ones); and the per-input bound on the error of the
    computed ``K`` at any ``s`` in ``[-1, 1]^q``."""
    if not applicable(net):
        raise ValueError(
            f"sign programs need a network with one hidden layer, this one has {net.depth}"
        )
    _, active, inactive = stability(net, box)
    (W1, W2) = net.weights
    unstable = ~(active[0] | inactive[0])
    g_out = W2.T @ c
    q = int(unstable.sum())
    V = np.zeros((W1.shape[0], 1 + q))
    V[active[0], 0] = g_out[active[0]]
    V[unstable, 0] = 0.5 * g_out[unstable]
    V[np.flatnonzero(unstable), 1 + np.arange(q)] = 0.5 * g_out[unstable]
    K = W1.T @ V
    err = gradient_error(net, c, inactive, columns=1 + q, vmax=1.0)
    return K, err, NeuronCounts.from_masks(active, inactive)


def gradient_program(
    net: ReLUNetwork,
    box: Box,
    c: np.ndarray,
    delta_lo: np.ndarray | None = None,
    delta_hi: np.ndarray | None = None,
) -> SignProgram:
    """The sign program of ``max delta . grad(c . f)`` over ``delta`` in
    ``[delta_lo, delta_hi]`` (default the unit cube: the L-inf Lipschitz constant) and the
    activation patterns of ``box``."""
    K, err, counts = gradient_coefficients(net, box, np.asarray(c, dtype=float))
    n = K.shape[0]
    if delta_lo is None and delta_hi is None:
        error = float(round_up(np.sum(err) * (1 + gamma(n + 2)) + n * ETA))
        return SignProgram(K, None, 0.0, error, counts)
    lo = np.asarray(delta_lo, dtype=float).reshape(-1)
    hi = np.asarray(delta_hi, dtype=float).reshape(-1)
    if lo.shape != (n,) or hi.shape != (n,) or np.any(~(lo <= hi)):
        raise ValueError("delta_lo and delta_hi must be ordered vectors of the input width")
    # an enclosing box m +- rho: rho rounded up covers both endpoints
    m = 0.5 * lo + 0.5 * hi
    rho = np.maximum(round_up(hi - m), round_up(m - lo))
    rho = np.where(lo == hi, np.where(m == lo, 0.0, rho), rho)
    rows = rho > 0
    G = rho[rows, None] * K[rows]
    absK = np.abs(K)
    hm = m @ K  # h and the constant: sums over the inputs
    mag = np.abs(m) @ absK
    # error terms: K's own error weighted by |delta| <= |m| + rho; the products rho K; the sums
    e1 = float(np.sum((np.abs(m) + rho) * err))
    e2 = float(np.sum(np.abs(G))) * 2 * U + G.size * ETA
    e3 = float(np.sum(dot_error(mag, n)))
    total = (e1 + e2 + e3) * (1 + gamma(G.size + n + 4)) + 4 * ETA
    h = hm[1:] if K.shape[1] > 1 and np.any(m) else None
    return SignProgram(G, h, float(hm[0]), float(round_up(total)), counts)
