"""The mixing method for Shor's relaxation of sign programs (the Grothendieck SDP).

The relaxation of the sign program (see :mod:`polyopt.solvers.grothendieck`) replaces the
signs by unit vectors, ``max <C, V V^T>`` over ``V`` with unit rows, which the *mixing method*
solves by block coordinate ascent (Wang, Chang and Kolter 2017; Burer and
Monteiro 2003): with the other rows fixed, the objective is linear in each row and the rows of
``t`` (and of ``r_{1:}``) do not interact, so each block update ``v_i <- g_i / ||g_i||``
(``g_i`` the row's gradient) is exact and cheap: two products with ``G`` per sweep, no
eigendecomposition.

The bound of each iterate is proved by :func:`.certificate.certify_factor`.

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

from ...certificate import ETA, gamma, round_up
from .certificate import certify_factor
from .form import check_sign_program

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
    G, h = check_sign_program(G, h)
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
