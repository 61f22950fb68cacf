"""SeqLip (Virmaux & Scaman 2018) for ``c . f`` (notation of :mod:`lipschitz.baselines`).

With SVDs ``M_i = U_i S_i V_i^T`` of
``M_0 = W_1, ..., M_{L-1} = W_L, M_L = w^T``,

    ||g||_2 <= prod_{k=1..L} max_{sigma in {0,1}^{n_k}}
               || S~_k V_k^T diag(sigma) U_{k-1} S~_{k-1} ||_2

where ``S~_i = S_i`` for ``i = 0`` and ``i = L`` and ``S_i^{1/2}`` otherwise.

LipSDP and SeqLip bound the l2 norm of the gradient; other input norms use
``||g||_1 <= sqrt(n) ||g||_2`` (input norm ``"inf"``, scale ``sqrt(n)``) and
``||g||_inf <= ||g||_2`` (input norm ``"1"``, scale 1), as in the paper.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..network import ReLUNetwork
from ..result import LipschitzBound
from .common import EPS, check_bool, l2_scale, make_bound, positive_int, setup

FLOAT_SAFETY = 1e-12
"""Relative inflation of the SeqLip bound, covering the rounding of its SVDs and products."""
SEQLIP_EXACT_MAX = 24
"""Largest ``exact_limit`` accepted (``2^24`` patterns per layer)."""
SEQLIP_MEMORY = 200_000_000
"""Bytes per stack of matrices in the SeqLip enumeration."""


def _factor_norms(base: np.ndarray, Lu: np.ndarray, Ru: np.ndarray, P: np.ndarray) -> np.ndarray:
    """``|| base + Lu diag(P[b]) Ru ||_2`` for every row ``P[b]`` of a 0/1 pattern stack."""
    mats = base + (Lu[None, :, :] * P[:, None, :]) @ Ru
    if min(mats.shape[1:]) == 1:
        return np.sqrt((mats * mats).sum(axis=(1, 2)))
    return np.linalg.norm(mats, 2, axis=(1, 2))


def _patterns(start: int, stop: int, n: int) -> np.ndarray:
    """The 0/1 patterns numbered ``start .. stop - 1`` (bits of the number)."""
    idx = np.arange(start, stop, dtype=np.int64)
    return ((idx[:, None] >> np.arange(n, dtype=np.int64)) & 1).astype(float)


def _layer_exact(base: np.ndarray, Lu: np.ndarray, Ru: np.ndarray) -> float:
    """Max of the factor norm over all ``2^n_u`` patterns (a convex function of sigma on the
    cube, so the max over ``[0, 1]^n_u`` is attained at a vertex), in memory-bounded chunks."""
    n = Lu.shape[1]
    per = 8 * (base.size + Lu.size + base.shape[0] * Ru.shape[1]) + 8 * n
    chunk = max(1, SEQLIP_MEMORY // per)
    best = 0.0
    for start in range(0, 2**n, chunk):
        vals = _factor_norms(base, Lu, Ru, _patterns(start, min(start + chunk, 2**n), n))
        best = max(best, float(vals.max()))
    return best


def _layer_greedy(base: np.ndarray, Lu: np.ndarray, Ru: np.ndarray) -> float:
    """Greedy SeqLip: from the all-ones pattern, flip one coordinate at a time when the
    flip increases the norm; sweep until no flip helps (a lower estimate of the layer max)."""
    n = Lu.shape[1]
    sigma = np.ones(n)
    best = float(_factor_norms(base, Lu, Ru, sigma[None])[0])
    for _sweep in range(50):
        changed = False
        for j in range(n):
            sigma[j] = 1.0 - sigma[j]
            val = float(_factor_norms(base, Lu, Ru, sigma[None])[0])
            if val > best * (1 + 1e-12):
                best, changed = val, True
            else:
                sigma[j] = 1.0 - sigma[j]
        if not changed:
            break
    return best


def seqlip(
    net: ReLUNetwork,
    norm: Any = "inf",
    domain: Any = "global",
    output: Any = None,
    exact_limit: int = 16,
    local: bool = True,
) -> LipschitzBound:
    """SeqLip bound on the Lipschitz constant of ``c . net`` (see the module doc).

    Why it holds: ``g^T = M_L D_L M_{L-1} ... D_1 M_0``; inserting the SVDs and dropping the
    outer orthogonal factors ``U_L`` and ``V_0^T`` (norm-preserving),
    ``||g|| = || prod_{k=L..1} [S~_k V_k^T D_k U_{k-1} S~_{k-1}] ||`` because each middle
    ``S_i`` splits as ``S_i^{1/2} S_i^{1/2}`` between its two neighbouring factors;
    submultiplicativity and ``D_k = diag(sigma)``, ``sigma in [0, 1]^{n_k}`` (every
    generalized derivative of ReLU) give the product of per-layer maxima. With ``local=True``
    the neurons proved active (inactive) on the box have ``sigma = 1`` (0).

    A layer with at most ``exact_limit`` free neurons is maximized exactly by enumeration;
    a larger one by Greedy SeqLip, which makes the result an estimate (``kind="estimate"``,
    ``sound=False``, status ``"heuristic"``). The l2 value is scaled like :func:`lipsdp`'s.
    """
    t0 = time.perf_counter()
    s = setup(net, norm, domain, output)
    check_bool(local, "local")
    exact_limit = positive_int(exact_limit, "exact_limit", minimum=0)
    if exact_limit > SEQLIP_EXACT_MAX:
        raise ValueError(f"exact_limit must be <= {SEQLIP_EXACT_MAX}, got {exact_limit}")
    scale = l2_scale(s.norm, net.input_dim)
    mats = [*net.weights[:-1], s.w[None, :]]
    svds = [np.linalg.svd(M, full_matrices=False) for M in mats]
    last = len(mats) - 1
    halves = [S if i in (0, last) else np.sqrt(S) for i, (_, S, _) in enumerate(svds)]
    factors, modes, free = [], [], []
    for k in range(1, last + 1):  # hidden layer k sits between mats[k - 1] and mats[k]
        left = halves[k][:, None] * svds[k][2]  # S~_k V_k^T
        right = svds[k - 1][0] * halves[k - 1][None, :]  # U_{k-1} S~_{k-1}
        fixed_on = s.active[k - 1] if local else np.zeros(left.shape[1], bool)
        fixed_off = s.inactive[k - 1] if local else np.zeros(left.shape[1], bool)
        u = ~(fixed_on | fixed_off)
        base = left[:, fixed_on] @ right[fixed_on, :]
        exact = int(u.sum()) <= exact_limit
        solve = _layer_exact if exact else _layer_greedy
        value = solve(base, left[:, u], right[u, :])
        # rounding of the factor's entries and of its norm (sums of length n_k)
        value += 16.0 * (left.shape[1] + 4) * EPS * halves[k].max() * halves[k - 1].max()
        factors.append(value)
        modes.append("exact" if exact else "greedy")
        free.append(int(u.sum()))
    l2 = float(np.prod(factors))
    # SVD reconstruction error ||U S V^T - M|| <~ d eps ||M||, relayed through the product
    dmax = max(max(M.shape) for M in mats)
    naive = float(np.prod([S.max() for _, S, _ in svds]))
    l2 += 16.0 * (last + 1) * (dmax + 4) * EPS * naive
    sound = all(m == "exact" for m in modes)
    info = {
        "l2": l2,
        "scale": scale,
        "local": bool(local),
        "factors": factors,
        "modes": modes,
        "free_neurons": free,
        "exact_limit": exact_limit,
        "naive_l2": naive,
    }
    if not sound:
        info["note"] = "Greedy SeqLip on layers marked 'greedy': a heuristic, not a bound"
    return make_bound(
        l2 * scale * (1 + FLOAT_SAFETY),
        "seqlip",
        s,
        t0,
        info,
        kind="upper" if sound else "estimate",
        status="optimal" if sound else "heuristic",
        sound=sound,
    )
