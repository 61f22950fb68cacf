"""The certified bound of a factor of the mixing method.

For any ``y``, ``S = Diag(y) - C`` and any feasible ``X`` (unit diagonal, PSD,
trace ``N = p + q``), ``<C, X> = sum(y) - <S, X> <= sum(y) - N lambda_min(S)``. The solver
takes ``y_i = (C V V^T)_ii`` at its current factor (so ``sum(y)`` is its objective) and proves
a lower bound on ``lambda_min(S)`` with Rump's floating-point Cholesky test
(:func:`polyopt.certificate.rump_shift`); ``2 S`` is formed without rounding, the sum is
correctly rounded (``math.fsum``) and every step is rounded up. The bound is therefore an upper
bound on the maximum of the program *for the given floats* ``G`` and ``h``, whatever the
solver's accuracy: accuracy only affects how tight it is.
"""

from __future__ import annotations

import math

import numpy as np

from ...certificate import ETA, U, gamma, round_up, rump_shift


def certify_factor(
    G: np.ndarray,
    h: np.ndarray | None,
    Vt: np.ndarray,
    Vr: np.ndarray,
    tries: int = 24,
    refine: int = 2,
    start: float | None = None,
    target: float | None = None,
) -> tuple[float, float, float]:
    """``(bound, lambda_lower, value)``: the certified bound of the dual point read off the
    factor ``(Vt, Vr)`` (see the module's docstring). With ``target`` only one shift is
    tried, the one that puts the bound just below ``target``; ``(inf, -inf, value)`` when it
    fails."""
    p, q = G.shape
    N = p + q
    P = G @ Vr
    Q = G.T @ Vt
    if h is not None:
        Q[0] += h @ Vr[1:]
        Q[1:] += np.outer(h, Vr[0])
    y2 = np.concatenate([np.einsum("ij,ij->i", Vt, P), np.einsum("ij,ij->i", Vr, Q)])  # 2 y
    S2 = np.zeros((N, N))
    S2[:p, p:] = -G
    S2[p:, :p] = -G.T
    if h is not None:
        S2[p, p + 1 :] = -h
        S2[p + 1 :, p] = -h
    di = np.arange(N)
    S2[di, di] = y2
    value = 0.5 * math.fsum(y2)
    scale = float(np.abs(S2).max(initial=0.0))
    stack = S2[None]

    def passes(lam: float) -> bool:
        c = float(rump_shift(stack, np.array([lam]))[0])
        M = S2.copy()
        M[di, di] -= lam + c
        try:
            np.linalg.cholesky(M)
        except np.linalg.LinAlgError:
            return False
        return True

    # <C, X> <= sum(y) - N lambda_min(S), lambda_min(S) = lambda_min(2 S) / 2
    total = math.fsum(y2) / 2.0  # the halving is exact; fsum rounds correctly
    total = round_up(total + abs(total) * 2 * U)

    def bound_of(lam: float) -> float:
        return float(round_up(total + round_up(-N * lam / 2.0) * (1 + 2 * U)))

    if target is not None:
        room = target - total
        if not room > 0:
            return math.inf, -math.inf, float(value)
        lam = -2.0 * room / N * 0.999
        if lam < 0 and bound_of(lam) < target and passes(lam):
            return bound_of(lam), float(lam), float(value)
        return math.inf, -math.inf, float(value)

    lam = -1e-12 * max(scale, 1e-300) if start is None else 0.125 * start
    lam_ok, lam_bad = -math.inf, 0.0
    for _ in range(tries):
        if passes(lam):
            lam_ok = lam
            break
        lam_bad, lam = lam, lam * 8.0
    if lam_ok > -math.inf and lam_bad < 0:
        for _ in range(refine):  # bisect (geometrically) between the last failure and success
            mid = -math.sqrt(lam_ok * lam_bad)
            if passes(mid):
                lam_ok = mid
            else:
                lam_bad = mid
    if lam_ok == -math.inf:
        # Gershgorin: lambda_min(2 S) >= min_i (s_ii - sum_{j != i} |s_ij|), rounded down
        absS = np.abs(S2)
        off = absS.sum(axis=1) - np.abs(y2)
        mag = absS.sum(axis=1) + np.abs(y2)
        lam_ok = float((y2 - off - gamma(N + 2) * mag).min() - ETA)
        lam_ok = float(np.nextafter(lam_ok, -np.inf))
    return bound_of(lam_ok), float(lam_ok), float(value)
