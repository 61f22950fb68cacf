"""Local certificates by Shor's relaxation on each input's own ball (one-hidden-layer nets).

For an input ``x0`` of class ``r``, its ball's box ``[lo, hi]`` and a runner-up ``i``,

    f_i(x) - f_r(x) <= (f_i - f_r)(x0) + max { delta . grad(f_i - f_r) }

over ``delta`` in ``[lo - x0, hi - x0]`` and the Clarke gradients of the box (the mean value
theorem for the piecewise linear ``f_i - f_r``; neurons stable on the box keep their slope).
The maximum is a sign program (:mod:`lipschitz.sign_program`): neurons stable on the small box
drop out, the clipping to the valid range makes the box one-sided (a pixel at 0 only moves
up), and its Shor bound comes from :func:`polyopt.grothendieck_sdp` in decision
mode (it stops as soon as the sign of the margin is known). Every number is rounded outward:
the value at ``x0`` is an enclosure, the program carries its rounding error, the bound is
certified.
"""

from __future__ import annotations

import numpy as np

from polyopt import grothendieck_sdp

from ..network import ReLUNetwork, round_down, round_up
from ..sign_program import gradient_program
from ..spec import Box
from .local import pair_functional

TOL = 1e-4
"""Relative accuracy of each Shor solve (the decision usually stops it earlier)."""


def box_of(lo: np.ndarray, hi: np.ndarray) -> Box:
    """A :class:`Box` containing ``[lo, hi]`` (outward rounded; degenerate sides widened to
    the smallest positive radius)."""
    center = lo / 2 + hi / 2
    radius = round_up(np.maximum(hi - center, center - lo))
    return Box(center, np.maximum(radius, np.finfo(float).tiny))


def margin_bound(
    net: ReLUNetwork,
    box: Box,
    delta_lo: np.ndarray,
    delta_hi: np.ndarray,
    c: np.ndarray,
    value_hi: float,
    tol: float = TOL,
) -> tuple[float, str]:
    """An upper bound on ``max c . f`` over ``x0 + [delta_lo, delta_hi]`` (inside ``box``),
    given ``value_hi >= c . f(x0)``; and the solver's status."""
    diff_hi = value_hi
    prog = gradient_program(net, box, c, delta_lo, delta_hi)
    fixed = float(round_up(round_up(diff_hi + prog.constant) + prog.error))
    if prog.G.shape[1] == 1 and prog.h is None:  # constant gradient: max is sum |G|
        s = float(np.sum(np.abs(prog.G[:, 0])))
        return float(round_up(fixed + s * (1 + 2 * prog.G.shape[0] * 2.0**-53))), "optimal"
    res = grothendieck_sdp(prog.G, prog.h, tol=tol, threshold=-fixed)
    return float(round_up(fixed + res.bound)), res.status


def certify_inputs(
    net: ReLUNetwork,
    X: np.ndarray,
    labels: np.ndarray,
    f_lo: np.ndarray,
    f_hi: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    order: np.ndarray | None = None,
    tol: float = TOL,
) -> np.ndarray:
    """Which inputs the local Shor bounds certify (bool per row of ``X``).

    ``[lo, hi]`` are the balls' boxes and ``f_lo, f_hi`` enclosures of the logits at ``X``.
    ``order`` (optional, ``(n, m)``): a cheap upper bound per runner-up; the runner-ups are
    tried hardest first and those already below 0 are skipped. A scalar network's class 1
    needs ``f > 0`` on the ball (``-f < 0``), its class 0 ``f < 0``."""
    n, m = f_lo.shape
    ok = np.zeros(n, dtype=bool)
    for k in range(n):
        r = int(labels[k])
        x0 = X[k]
        box = box_of(lo[k], hi[k])
        d_lo = round_down(lo[k] - x0)
        d_hi = round_up(hi[k] - x0)
        if m == 1:
            c = np.array([-1.0 if r == 1 else 1.0])
            value_hi = float(-f_lo[k, 0] if r == 1 else f_hi[k, 0])
            ok[k] = margin_bound(net, box, d_lo, d_hi, c, value_hi, tol)[0] < 0
            continue
        diffs = round_up(f_hi[k] - f_lo[k, r])
        key = diffs if order is None else order[k]
        runners = [i for i in np.argsort(-key) if i != r and (order is None or key[i] >= 0)]
        good = True
        for i in runners:
            c = pair_functional(m, int(i), r)
            bound, _ = margin_bound(net, box, d_lo, d_hi, c, float(diffs[i]), tol)
            if not bound < 0:
                good = False
                break
        ok[k] = good
    return ok
