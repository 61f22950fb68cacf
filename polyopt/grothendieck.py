"""Shor's relaxation of sign programs ``max t^T G r`` (the Grothendieck SDP), with a bound
that holds in exact arithmetic.

The program is

    max  t^T G r + r_0 (h . r_{1:})    over  t in {-1, 1}^p,  r in {-1, 1}^q

(``h`` optional). Flipping every sign leaves the objective unchanged, so the maximum is also
the maximum with ``r_0 = 1``: ``r_0`` is the homogenizing variable of an objective that is
affine in the other ``r`` (``G[:, 0]`` and ``h`` its linear terms). Its Shor relaxation
replaces the signs by unit vectors, ``max <C, V V^T>`` over ``V`` with unit rows, which the
*mixing method* solves by block coordinate ascent (Wang, Chang and Kolter 2017; Burer and
Monteiro 2003): with the other rows fixed, the objective is linear in each row and the rows of
``t`` (and of ``r_{1:}``) do not interact, so each block update ``v_i <- g_i / ||g_i||``
(``g_i`` the row's gradient) is exact and cheap: two products with ``G`` per sweep, no
eigendecomposition.

Certificate. For any ``y``, ``S = Diag(y) - C`` and any feasible ``X`` (unit diagonal, PSD,
trace ``N = p + q``), ``<C, X> = sum(y) - <S, X> <= sum(y) - N lambda_min(S)``. The solver
takes ``y_i = (C V V^T)_ii`` at its current factor (so ``sum(y)`` is its objective) and proves
a lower bound on ``lambda_min(S)`` with Rump's floating-point Cholesky test
(:func:`polyopt.certificate._rump_shift`); ``2 S`` is formed without rounding, the sum is
correctly rounded (``math.fsum``) and every step is rounded up. The bound is therefore an upper
bound on the maximum of the program *for the given floats* ``G`` and ``h``, whatever the
solver's accuracy: accuracy only affects how tight it is.

Decision mode. With ``threshold=T`` the solve stops as soon as the certified bound is below
``T`` (status ``"below"``; each check is then a single Cholesky factorization, at the shift
that would bring the bound below ``T``) or the relaxation's value at the factor exceeds ``T``
(``"above"``: no certificate of this relaxation can go below ``T``; no bound is computed and
``bound`` is ``inf``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .certificate import ETA, U, _rump_shift, gamma, round_up

STATUSES = ("optimal", "below", "above", "stalled", "iteration_limit", "time_limit")
"""``optimal``: certified bound within ``tol`` of the value; ``below`` / ``above``: decided
against ``threshold``; ``stalled``: the ascent stopped improving with the bound further than
``tol`` (a spurious local optimum of a too small rank); the limits: stopped early. The bound
is certified whatever the status."""
STALL_CHECKS = 5
"""Consecutive certificates that do not lower the bound before ``"stalled"``."""
DEFAULT_RANK = 16
"""Initial columns of the factor (SDP-NN's pairs: rank 16 solves in about 1 s what rank 52
solves in 1.5 s; rank 8 stalls)."""
MOVE_RATIO = 5.0
"""Certificates start once the factor's RMS row change per sweep is below this times
``tol``."""


@dataclass
class GrothendieckResult:
    """The outcome of :func:`grothendieck_sdp`.

    Attributes
    ----------
    bound
        An upper bound on ``max t^T G r + r_0 h . r_{1:}`` over signs, proved in exact
        arithmetic for the given floats (``inf`` if no certificate was found).
    value
        The relaxation's objective at the solver's factor: a lower bound on the relaxation's
        optimum (not on the sign program's).
    status
        One of :data:`STATUSES`.
    iterations, seconds
        Block-ascent sweeps and wall time.
    rank
        Columns of the factor.
    lambda_lower
        The proved lower bound on ``lambda_min(2 S)`` of the last certificate.
    state
        ``{"Vr": factor rows of r, "shape": (p, q)}``: pass it as ``warm_start`` to a solve of
        a program with the same ``q`` (e.g. another output of the same network).
    """

    bound: float
    value: float
    status: str
    iterations: int
    seconds: float
    rank: int
    lambda_lower: float
    state: dict[str, Any] = field(repr=False, default_factory=dict)


def _normalize_rows(A: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Rows of ``A`` scaled to unit norm; a zero row keeps the previous unit row."""
    norms = np.linalg.norm(A, axis=1)
    zero = norms == 0.0
    out = A / np.where(zero, 1.0, norms)[:, None]
    if np.any(zero):
        out[zero] = previous[zero]
    return out


def _widen(V: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``V`` with ``k`` columns: new columns small and random, rows renormalized."""
    extra = 1e-3 * rng.standard_normal((V.shape[0], k - V.shape[1]))
    W = np.hstack([V, extra])
    return W / np.linalg.norm(W, axis=1, keepdims=True)


def _check_inputs(G: Any, h: Any) -> tuple[np.ndarray, np.ndarray | None]:
    G = np.asarray(G, dtype=float)
    if G.ndim != 2 or G.shape[1] < 1:
        raise ValueError(f"G must be a (p, q) matrix with q >= 1, got shape {G.shape}")
    if not np.all(np.isfinite(G)):
        raise ValueError("G has non-finite entries")
    if h is not None:
        h = np.asarray(h, dtype=float).reshape(-1)
        if h.size != G.shape[1] - 1:
            raise ValueError(f"h must have q - 1 = {G.shape[1] - 1} entries, got {h.size}")
        if not np.all(np.isfinite(h)):
            raise ValueError("h has non-finite entries")
        if not np.any(h):
            h = None
    return G, h


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
        c = float(_rump_shift(stack, np.array([lam]))[0])
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


def grothendieck_sdp(
    G: Any,
    h: Any = None,
    *,
    rank: int | None = None,
    tol: float = 1e-5,
    max_iter: int = 20000,
    time_limit: float | None = None,
    threshold: float | None = None,
    check_every: int = 25,
    warm_start: Any = None,
    seed: int = 0,
) -> GrothendieckResult:
    """Shor's bound on ``max t^T G r + r_0 h . r_{1:}`` over sign vectors, certified.

    Parameters
    ----------
    G
        ``(p, q)`` float matrix (``q >= 1``; column 0 pairs with the homogenizing ``r_0``).
    h
        Optional ``q - 1`` couplings of ``r_0`` with ``r_{1:}`` (the linear terms in ``r``).
    rank
        Initial columns of the factor (default :data:`DEFAULT_RANK`). When the ascent stalls
        away from its certificate the factor gets more columns, up to
        ``ceil(sqrt(2 (p + q))) + 1``, where the factorized problem has no spurious local
        optima generically (Boumal, Voroninski and Bandeira 2016).
    tol
        Stop when the certified bound is within ``tol * max(1, |bound|)`` of the value.
    max_iter, time_limit
        Limits on the sweeps and the seconds.
    threshold
        Decision mode: stop once the bound is below it or the value above it.
    check_every
        Sweeps between certificates in decision mode (each costs a few Cholesky
        factorizations of side ``p + q``); otherwise certificates are computed once the
        value's relative gain per sweep falls below ``tol / 10``.
    warm_start
        The ``state`` of an earlier result (a :class:`GrothendieckResult` or its ``state``)
        with the same ``q`` and rank.
    seed
        Seed of the random initial factor.
    """
    t0 = time.perf_counter()
    G, h = _check_inputs(G, h)
    p, q = G.shape
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be positive, got {tol!r}")
    if time_limit is not None and not (time_limit > 0):
        raise ValueError(f"time_limit must be positive, got {time_limit!r}")
    N = p + q
    k_max = min(int(math.ceil(math.sqrt(2 * N))) + 1, N)
    k = int(rank) if rank is not None else min(DEFAULT_RANK, k_max)
    if k < 1:
        raise ValueError(f"rank must be >= 1, got {rank!r}")
    k = min(k, N)
    k_max = max(k, k_max)
    rng = np.random.default_rng(seed)
    state = warm_start.state if isinstance(warm_start, GrothendieckResult) else warm_start
    if state is not None:
        Vr = np.array(state["Vr"], dtype=float)
        if Vr.shape[0] != q:
            raise ValueError(f"warm start has {Vr.shape[0]} rows of r, this program has q = {q}")
        k = Vr.shape[1]
    else:
        Vr = rng.standard_normal((q, k))
        Vr /= np.linalg.norm(Vr, axis=1, keepdims=True)
    Vt = rng.standard_normal((p, k))
    Vt /= np.linalg.norm(Vt, axis=1, keepdims=True)
    if p == 0:
        # no t: the objective is r_0 h . r_{1:}, at most sum |h|
        mag = float(np.abs(h).sum()) if h is not None else 0.0
        bound = float(round_up(mag * (1 + gamma(q + 1)) + q * ETA)) if mag else 0.0
        return GrothendieckResult(
            bound, bound, "optimal", 0, 0.0, k, 0.0, {"Vr": Vr, "shape": (p, q)}
        )

    best, best_lam, value = math.inf, -math.inf, -math.inf
    status = "iteration_limit"
    since_check, stalls = 0, 0
    lam_hint = None
    it = 0
    while it < max_iter:
        it += 1
        old = Vr.copy()
        Vt = _normalize_rows(G @ Vr, Vt)
        Q = G.T @ Vt
        if h is not None:
            g0 = Q[0] + h @ Vr[1:]
            Vr[0] = _normalize_rows(g0[None], Vr[:1])[0]
            Vr[1:] = _normalize_rows(Q[1:] + np.outer(h, Vr[0]), Vr[1:])
            value = float(np.einsum("ij,ij->", Vr, Q) + Vr[0] @ (h @ Vr[1:]))
        else:
            Vr = _normalize_rows(Q, Vr)
            value = float(np.einsum("ij,ij->", Vr, Q))
        if threshold is not None and value > threshold:
            status = "above"
            break
        since_check += 1
        # the certificate's gap follows the factor's movement (about a fifth of the RMS row
        # change per sweep): certify once that is small, then every check_every sweeps
        move = float(np.sqrt(np.mean(np.sum((Vr - old) ** 2, axis=1))))
        due = since_check >= check_every and (
            move < MOVE_RATIO * tol or threshold is not None or since_check >= 10 * check_every
        )
        if due:
            bound, lam, _ = certify_factor(G, h, Vt, Vr, start=lam_hint, target=threshold)
            if np.isfinite(lam) and lam < 0:
                lam_hint = lam
            if bound < best * (1 - 1e-3 * tol):
                stalls = 0
            elif move < MOVE_RATIO * tol:  # no progress although the factor has settled
                stalls += 1
            if bound < best:
                best, best_lam = bound, lam
            since_check = 0
            if threshold is not None and best < threshold:
                status = "below"
                break
            if math.isfinite(best) and best - value <= tol * max(1.0, abs(best)):
                status = "optimal"
                break
            if stalls >= STALL_CHECKS:
                if k < k_max:
                    # a spurious local optimum of a small factor: add columns and go on
                    k_new = min(2 * k, k_max)
                    Vr = _widen(Vr, k_new, rng)
                    Vt = _widen(Vt, k_new, rng)
                    k, stalls = k_new, 0
                    continue
                status = "stalled"
                break
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            status = "time_limit"
            break
    if status in ("iteration_limit", "time_limit", "stalled"):
        bound, lam, _ = certify_factor(G, h, Vt, Vr)
        if bound < best:
            best, best_lam = bound, lam
    return GrothendieckResult(
        bound=float(best),
        value=float(value),
        status=status,
        iterations=it,
        seconds=time.perf_counter() - t0,
        rank=k,
        lambda_lower=float(best_lam),
        state={"Vr": Vr.copy(), "shape": (p, q)},
    )
