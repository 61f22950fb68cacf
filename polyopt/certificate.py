"""Bounds that hold in exact arithmetic, from an approximate dual point of a relaxation.

Every solver path reports its bounds through :func:`certified_bounds`: the SDP paths (dense,
correlative, HR-d; every backend, our own solvers included) through :func:`sdp_bounds`, that
is :func:`sound_lower_bound` and, for infeasibility, :func:`certified_infeasible`; the LP
hierarchy through the exact-arithmetic certificate of :mod:`polyopt.lp_certificate`
(:func:`~polyopt.lp_certificate.lp_bounds`). :func:`certified_bounds` then takes the bound to
the problem's units and rounds the sound one to its safe side. The argument for the SDP paths,
for the scaled minimization and a feasible point ``x`` with (scaled) moment vector ``y``
(``|y_alpha| <= 1`` when its variables are bounded):

1. The program's rows are the exact relaxation's rows up to the rounding of their
   coefficients (variable scaling, normalization, the rewriting ``v^2 = b v + c``, products of
   affine forms). Each stored coefficient is a chain of at most ``K = D^2 + 4 D + 8``
   roundings (``D`` the largest moment degree) of an exact product, so at ``y`` each row is
   off by at most ``e_row = gamma_K * ||row||_1``, with ``||row||_1`` the sum of the
   magnitudes of the terms merged into the row (:attr:`ConicProgram.row_l1`); the objective
   alike.
2. For any ``(mu, z >= 0, X)``: ``f(x) = D + r.y + mu.(A_eq y - b_eq) + z.(A_ineq y + b_ineq)
   + sum_k <X_k, A_k y + B_k>`` with ``D`` the dual objective and ``r`` the dual residual,
   both in exact arithmetic. Each term is bounded below: ``-|r|.|y|``, ``-|mu|.e_eq``,
   ``-z.e_ineq``, and ``<X_k, P> >= lambda_min(X_k) tr P - <|X_k|, E_k>`` for the PSD
   ``P`` of the exact relaxation, ``E_k`` its row errors.
3. Floating point: ``r`` and ``D`` are computed in floats and corrected by the standard bound
   ``gamma_n * (sum of magnitudes)`` on a sum of ``n`` terms; ``lambda_min(X_k)`` is bounded
   below by a shift ``t`` for which ``X_k - t I`` passes Rump's floating-point Cholesky test
   of positive definiteness (Rump, BIT 46 (2006)), with Gershgorin's bound as the fallback;
   the slack's own sums are rounded up, and the result is rounded down.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from .backends.base import BackendResult
from .monomials import lower_triangle
from .relaxations.assemble import Relaxation

log = logging.getLogger("polyopt")

U = 2.0**-53
"""Unit roundoff of IEEE double precision."""
ETA = 2.0**-1074
"""Smallest positive subnormal: the absolute error of an underflowing operation."""


def gamma(n: int | float) -> float:
    """``n u / (1 - n u)``: relative error bound of a sum or product of ``n`` terms."""
    nu = float(n) * U
    if nu >= 0.5:
        raise ValueError(f"rounding bound needs n u < 1/2, got n = {n}")
    return nu / (1.0 - nu)


def round_up(x: float, n: int = 1) -> float:
    """The float ``n`` steps above ``x``."""
    for _ in range(n):
        x = float(np.nextafter(x, np.inf))
    return x


def round_down(x: float, n: int = 1) -> float:
    """The float ``n`` steps below ``x``."""
    for _ in range(n):
        x = float(np.nextafter(x, -np.inf))
    return x


# ----------------------------------------------------------------- eigenvalues
def min_eigenvalues(blocks: list[np.ndarray]) -> np.ndarray:
    """The smallest eigenvalue of each symmetric block, batched by size (floating point,
    not a bound: see :func:`psd_lower_bounds`)."""
    out = np.zeros(len(blocks))
    for s, ks in _by_size(blocks).items():
        if s == 0:
            out[ks] = np.inf
            continue
        stack = np.stack([blocks[k] for k in ks])
        stack = 0.5 * (stack + np.swapaxes(stack, -1, -2))
        out[ks] = np.linalg.eigvalsh(stack)[:, 0]
    return out


def _by_size(blocks: list[np.ndarray]) -> dict[int, list[int]]:
    by_size: dict[int, list[int]] = {}
    for k, B in enumerate(blocks):
        by_size.setdefault(B.shape[0], []).append(k)
    return by_size


def rump_shift(A: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Diagonal shifts ``c`` such that a successful floating-point Cholesky factorization of
    ``fl(A - (t + c) I)`` proves ``A - t I`` positive definite (stack of blocks).

    Rump's bound ``gamma_{n+1} / (1 - 2 gamma_{n+1}) tr(A - t I) + 4 n eta (2 (n + 2) +
    max a_ii)``, plus the rounding of the diagonal subtractions (``4 u`` of their size)."""
    n = A.shape[-1]
    diag = np.diagonal(A, axis1=-2, axis2=-1)
    tr = np.abs(diag - t[:, None]).sum(axis=1) * (1 + gamma(n + 1)) + n * ETA
    g = gamma(n + 1)
    big = np.abs(diag).max(axis=1) + np.abs(t)
    c = g / (1 - 2 * g) * tr + 4 * n * ETA * (2 * (n + 2) + big)
    return (c + 4 * U * (big + c)) * (1 + 4 * U) + 8 * ETA


def _cholesky_ok(M: np.ndarray) -> np.ndarray:
    """Per block of a stack: does LAPACK's Cholesky factorization succeed?"""
    try:
        np.linalg.cholesky(M)
        return np.ones(M.shape[0], dtype=bool)
    except np.linalg.LinAlgError:
        pass
    out = np.zeros(M.shape[0], dtype=bool)
    for k in range(M.shape[0]):
        try:
            np.linalg.cholesky(M[k])
            out[k] = True
        except np.linalg.LinAlgError:
            out[k] = False
    return out


def _gershgorin_lower(S: np.ndarray) -> np.ndarray:
    """``min_i (s_ii - sum_{j != i} |s_ij|)``, rounded down (stack of blocks)."""
    n = S.shape[-1]
    absS = np.abs(S)
    diag = np.diagonal(S, axis1=-2, axis2=-1)
    off = absS.sum(axis=-1) - np.abs(diag)
    mag = absS.sum(axis=-1) + np.abs(diag)
    low = diag - off - gamma(n + 2) * mag - ETA
    return low.min(axis=1)


def psd_lower_bounds(blocks: list[np.ndarray]) -> np.ndarray:
    """``t_k <= lambda_min(X_k)`` proved in exact arithmetic, for the symmetric part
    ``(X_k + X_k^T) / 2`` of each float block."""
    out = np.full(len(blocks), np.inf)
    for s, ks in _by_size(blocks).items():
        if s == 0:
            continue
        stack = np.stack([blocks[k] for k in ks])
        S = 0.5 * (stack + np.swapaxes(stack, -1, -2))  # exactly symmetric
        lam = np.linalg.eigvalsh(S)[:, 0]
        scale = np.abs(S).max(axis=(1, 2))
        result = _gershgorin_lower(S)
        todo = np.ones(len(ks), dtype=bool)
        for step in range(4):
            idx = np.flatnonzero(todo)
            if idx.size == 0:
                break
            # the shift to try: below the computed eigenvalue by a multiple of the test's size
            c0 = rump_shift(S[idx], lam[idx])
            t = lam[idx] - (2.0 * 8.0**step) * (c0 + 16 * s * U * scale[idx]) - ETA
            c = rump_shift(S[idx], t)
            M = S[idx].copy()
            di = np.arange(s)
            M[:, di, di] -= (t + c)[:, None]
            ok = _cholesky_ok(M)
            good = idx[ok]
            result[good] = np.maximum(result[good], t[ok])
            todo[good] = False
        out[ks] = result
    return out


# ----------------------------------------------------------------- rounding of the rows
def coefficient_rounding(relax: Relaxation) -> float:
    """Relative error bound of a stored coefficient: ``gamma_K``, ``K = D^2 + 4 D + 8`` with
    ``D`` the largest moment degree.

    The longest chain: variable scaling (``D`` products), normalization (1), the rewriting
    ``v^2 = b v + c`` (up to ``D - 1`` factors ``b`` or ``c``, each itself a quotient of
    scaled coefficients, ``D + 2`` roundings, and one product each), the products of affine
    forms of HR-d (``2 (D + 1) + 1``)."""
    codes = relax.moments
    D = max(int(codes.shape[1]) if codes.ndim == 2 else 1, 1)
    return gamma(D * D + 4 * D + 8)


def _row_errors(relax: Relaxation, mb_f: np.ndarray, absA: dict) -> dict[str, np.ndarray]:
    """Per row: ``eps * ||row||_1`` at the scaled box (``inf`` where a row touches an
    unbounded moment)."""
    prog = relax.program
    eps = coefficient_rounding(relax)
    out = {}
    unb = (~np.isfinite(relax.moment_bounds[1:])).astype(float)
    for name, b in (("eq", prog.b_eq), ("ineq", prog.b_ineq), ("psd", prog.b_psd)):
        A = absA[name]
        l1 = prog.row_l1.get(name) if prog.row_l1 else None
        if l1 is None:
            l1 = A @ np.ones(A.shape[1]) + np.abs(b)
        err = eps * l1 * (1 + gamma(A.shape[1] + 2))
        if unb.any():
            err = np.where(absA @ unb > 0, np.inf, err)
            if name == "eq" and prog.factored is not None:
                err[_factored_unbounded(prog, absA["psd"] @ unb)] = np.inf
        out[name] = err
    c_l1 = float(np.abs(prog.c) @ mb_f + abs(prog.c0))
    out["objective"] = np.array([eps * c_l1 * (1 + gamma(prog.n + 2))])
    if np.any(~np.isfinite(relax.moment_bounds[1:][prog.c != 0])):
        out["objective"] = np.array([np.inf])
    return out


# ----------------------------------------------------------------- the certificate
def _column_counts(A: sp.spmatrix) -> np.ndarray:
    A = A.tocsc()
    return np.diff(A.indptr)


def _diagonal_bounds(prog, entry_bound: np.ndarray) -> list[np.ndarray]:
    """Per PSD block, a bound on each diagonal entry from the per-entry bounds."""
    out = []
    for k, s in enumerate(prog.block_sizes):
        i, j = lower_triangle(s)
        out.append(entry_bound[prog.triangle_offsets[k] + np.flatnonzero(i == j)])
    return out


def _factored_unbounded(prog, entry_unbounded: np.ndarray) -> np.ndarray:
    """Equality rows with a factored term over an unbounded diagonal entry of its block."""
    fr = prog.factored
    diag = _diagonal_bounds(prog, entry_unbounded)
    bad = np.zeros(fr.size, dtype=bool)
    for k in np.unique(fr.block):
        on = np.flatnonzero(fr.block == k)
        flag = (diag[k] > 0).astype(float)
        bad[on] = (abs(fr.F[on][:, : flag.size]) @ flag) > 0
    return np.unique(fr.eq_row[bad])


def _factored_rounding(prog, mu: np.ndarray, entry_bound: np.ndarray) -> float:
    """A bound on ``|<F_k(mu) - fl(F_k(mu)), P_k>|`` summed over the blocks, for the PSD
    ``P_k`` of the exact relaxation: ``|P_pq| <= sqrt(P_pp P_qq)``, so each term's error is at
    most ``gamma * |mu_r coef_r| (|f_r| @ sqrt(d))^2`` with ``d`` the diagonal bounds."""
    fr = prog.factored
    diag = _diagonal_bounds(prog, entry_bound)
    per_block = np.bincount(fr.block, minlength=len(prog.block_sizes))
    total = 0.0
    absF = abs(fr.F)
    for k in np.flatnonzero(per_block):
        on = np.flatnonzero(fr.block == k)
        root = np.sqrt(diag[k])
        sub = absF[on][:, : root.size]
        if np.any(~np.isfinite(root[np.unique(sub.indices)])):
            return np.inf
        s_r = sub @ np.where(np.isfinite(root), root, 0.0)
        weight = np.abs(mu[fr.eq_row[on]] * fr.coef[on])
        nnz = int(np.diff(sub.indptr).max(initial=0))
        total += float(weight @ (s_r * s_r)) * gamma(2 * nnz + int(per_block[k]) + 8)
    return round_up(total, 4)


def _psd_weights(prog, X: list[np.ndarray]) -> np.ndarray:
    """``X_k[i, j]`` times 1 (diagonal) or 2 (off-diagonal), stacked like ``A_psd``'s rows."""
    parts = []
    for s, Xk in zip(prog.block_sizes, X):
        i, j = lower_triangle(s)
        parts.append(Xk[i, j] * np.where(i == j, 1.0, 2.0))
    return np.concatenate(parts) if parts else np.zeros(0)


def _certificate_terms(relax: Relaxation, mu, z, X, resid_from_c: bool):
    """``(D, slack)`` floats with ``D - slack`` below ``f`` at every feasible point (scaled
    minimization), or None when a needed moment is unbounded. ``resid_from_c`` False: the
    residual is that of a ray (no objective)."""
    prog = relax.program
    mb = relax.moment_bounds[1:]
    mb_f = np.where(np.isfinite(mb), mb, 0.0)
    absA = {"eq": abs(prog.A_eq), "ineq": abs(prog.A_ineq), "psd": abs(prog.A_psd)}
    w = _psd_weights(prog, X)
    absw = np.abs(w)
    F = prog.factored_duals(mu)
    if F is not None:  # factored terms: F_k(mu) joins X_k in the residual and the objective
        wF = _psd_weights(prog, F)
        w = w + wF
        absw = absw + np.abs(wF)
    c = prog.c if resid_from_c else np.zeros(prog.n)
    # dual residual r = c - A_eq^T mu - A_ineq^T z - A_psd^T w, with its rounding error
    r = c - (prog.A_eq.T @ mu + prog.A_ineq.T @ z + prog.A_psd.T @ w)
    mag = np.abs(c) + absA["eq"].T @ np.abs(mu) + absA["ineq"].T @ z + absA["psd"].T @ absw
    m = (
        int(_column_counts(prog.A_eq).max(initial=0))
        + int(_column_counts(prog.A_ineq).max(initial=0))
        + int(_column_counts(prog.A_psd).max(initial=0))
        + 6
    )
    r_abs = np.abs(r) + 2 * gamma(m) * mag
    r_abs[r_abs > 0] += 4 * ETA
    if np.any(~np.isfinite(mb[r_abs > 0])):  # an unbounded moment the residual may touch
        return None
    terms = [r_abs @ mb_f]
    # row errors, weighted by the multipliers
    errs = _row_errors(relax, mb_f, absA)
    for name, mult in (("eq", np.abs(mu)), ("ineq", z)):
        e = errs[name]
        used = mult > 0
        if np.any(~np.isfinite(e[used])):
            return None
        terms.append(float(mult[used] @ e[used]))
    e_psd = errs["psd"]
    used = absw > 0
    if np.any(~np.isfinite(e_psd[used])):
        return None
    terms.append(float(absw[used] @ e_psd[used]))
    if F is not None:
        err_F = _factored_rounding(prog, mu, absA["psd"] @ mb_f + np.abs(prog.b_psd) + e_psd)
        if not np.isfinite(err_F):
            return None
        terms.append(err_F)
    if resid_from_c:
        if not np.isfinite(errs["objective"][0]):
            return None
        terms.append(float(errs["objective"][0]))
    # negative eigenvalues: -lambda_min(X_k) tr(P_k), tr(P_k) <= sum of the diagonal rows
    lam = psd_lower_bounds(X)
    neg = np.flatnonzero(lam < 0)
    if neg.size:
        sizes = np.asarray(prog.block_sizes)
        off = prog.triangle_offsets
        rows, owner = [], []
        for n_, k in enumerate(neg):
            i, j = lower_triangle(int(sizes[k]))
            d = np.flatnonzero(i == j) + off[k]
            rows.append(d)
            owner.append(np.full(d.size, n_))
        rows_a = np.concatenate(rows)
        S = sp.csr_matrix(
            (np.ones(rows_a.size), (np.concatenate(owner), rows_a)), shape=(neg.size, off[-1])
        )
        tr_coef = (S @ absA["psd"]).tocsr()
        used_cols = np.unique(tr_coef.indices)
        if np.any(~np.isfinite(mb[used_cols])):
            return None
        tr = tr_coef @ mb_f + S @ np.abs(prog.b_psd) + S @ e_psd
        if np.any(~np.isfinite(tr)):
            return None
        terms.append(float(-lam[neg] @ tr))
    nterms = prog.n + len(mu) + len(z) + w.size + 16
    slack = float(np.sum(terms)) * (1 + 4 * gamma(nterms)) + 16 * ETA
    # the dual objective and its rounding
    D = prog.c0 if resid_from_c else 0.0
    D = D + float(prog.b_eq @ mu) - float(prog.b_ineq @ z) - float(prog.b_psd @ w)
    d_mag = (
        abs(prog.c0 if resid_from_c else 0.0)
        + float(np.abs(prog.b_eq) @ np.abs(mu))
        + float(np.abs(prog.b_ineq) @ z)
        + float(np.abs(prog.b_psd) @ absw)
    )
    slack += 2 * gamma(len(mu) + len(z) + w.size + 4) * d_mag + 4 * ETA
    return D, round_up(slack, 2)


def sound_lower_bound(relax: Relaxation, res: BackendResult) -> float | None:
    """A bound on the scaled minimization that holds in exact arithmetic, from an
    approximate dual point (see the module docstring); None when unverifiable."""
    if res.mu is None or res.z is None or res.X is None:
        return None
    z = np.maximum(res.z, 0.0)
    X = [0.5 * (Xk + Xk.T) for Xk in res.X]
    if not all(np.all(np.isfinite(p)) for p in [res.mu, z, *X]):
        return None
    out = _certificate_terms(relax, np.asarray(res.mu, dtype=float), z, X, True)
    if out is None:
        return None
    D, slack = out
    if not (np.isfinite(D) and np.isfinite(slack)):
        return None
    return round_down(D - slack, 2)


def certified_infeasible(relax: Relaxation, ray) -> bool:
    """True when the ray ``(mu, z, X)`` proves the problem infeasible in exact arithmetic.

    For a feasible ``x`` with moments ``y``: ``0 <= z.(A_ineq y + b_ineq) + sum <X_k, A_k y
    + B_k> + mu.(A_eq y - b_eq)`` up to the row errors, ``= r.y - value`` with ``r`` the
    ray's residual and ``value = b_eq.mu - b_ineq.z - sum <B_k, X_k>``; ``value`` above the
    slack is a contradiction.
    """
    mu, z, X = ray
    if not all(np.all(np.isfinite(p)) for p in [mu, z, *X]):
        return False
    z = np.maximum(z, 0.0)
    X = [0.5 * (Xk + Xk.T) for Xk in X]
    out = _certificate_terms(relax, np.asarray(mu, dtype=float), z, X, False)
    if out is None:
        return False
    value, slack = out
    return bool(np.isfinite(value) and value > 0 and round_down(value - slack, 2) > 0)


def certificate_error(relaxation: Relaxation, res) -> float:
    """How far the solver's dual point is from certifying its bound at its own moments.

    ``sum |r_alpha y_alpha| + sum_k max(0, -lambda_min(X_k)) tr M_k(y)``, with ``r`` the dual
    residual: the part of the duality identity that the certificate leaves unexplained. It is
    tiny for a genuine solution and large when the moments blow up while the solver's relative
    tolerances still pass (the Motzkin polynomial at order 3 is the classic case). A
    diagnostic for uncertified problems, not a bound.
    """
    prog = relaxation.program
    z = np.maximum(res.z, 0.0)
    r = prog.dual_residual(res.mu, z, res.X)
    err = float(np.abs(r) @ np.abs(res.y))
    lams = min_eigenvalues(res.X)
    for lam, Mk in zip(lams, prog.block_matrices(res.y)):
        if lam < 0:
            err += -lam * max(float(np.trace(Mk)), 0.0)
    return err


# ----------------------------------------------------------------- the bounds of a solve
#: Largest relative certificate error (see :func:`certificate_error`) for status "optimal"
#: when the bound cannot be certified: genuine solutions measured <= 2e-5 (a 200-variable
#: chain), unbounded Motzkin relaxations >= 0.09 (every solver, orders 3 and 4).
CERTIFICATE_TOL = 1e-3


UNCERTIFIED_FLOOR = 1e-8
"""Smallest objective scale (scaled problem, largest coefficient 1) against which an
uncertified dual value is judged."""


def _finite_duals(res) -> bool:
    parts = [res.y, res.mu, res.z] + list(res.X or [])
    return res.X is not None and all(p is not None and np.all(np.isfinite(p)) for p in parts)


def sdp_bounds(
    relaxation: Relaxation, res: BackendResult, tol: float | None = None
) -> tuple[float, float | None]:
    """``(bound, sound bound or None)`` of the scaled minimization of an SDP relaxation; may
    downgrade ``res.status``.

    Certified (variables bounded): the sound bound. Uncertified: the dual value minus the
    certificate error at the solver's own moments, or nan when that error shows the dual point
    certifies nothing (status "inaccurate"), or when a limit stopped the solve. Infeasible:
    +inf (certified when the solver's ray passes :func:`certified_infeasible`); unbounded:
    -inf (as the solver reports it: not certified).
    """
    if res.status == "infeasible":
        ray = res.raw.get("ray")
        proven = ray is not None and certified_infeasible(relaxation, ray)
        res.raw["infeasibility_certified"] = proven
        return np.inf, (np.inf if proven else None)
    if res.status == "unbounded":
        return -np.inf, None
    if res.status == "solver_error" or not _finite_duals(res):
        return np.nan, None
    sound = sound_lower_bound(relaxation, res)
    if sound is not None and np.isfinite(sound):
        return sound, sound
    if res.status in ("iteration_limit", "time_limit"):
        return np.nan, None  # an unconverged dual value without a certificate bounds nothing
    err = certificate_error(relaxation, res)
    res.raw["certificate_error"] = err
    prog = relaxation.program
    # the size of the objective's terms at the solver's moments: the scale at which the
    # dual value is meaningful (a solution far inside a large box has tiny scaled moments)
    scale = abs(res.dual_objective) + float(np.abs(prog.c) @ np.abs(res.y)) + abs(prog.c0)
    res.raw["certificate_scale"] = scale
    if err > max(CERTIFICATE_TOL, 10 * (tol or 0.0)) * max(scale, UNCERTIFIED_FLOOR):
        res.status = "inaccurate"
        res.raw["note"] = (
            "the dual certificate does not hold at the scale of the moments (error "
            f"{err:.3g}): the relaxation may be unbounded (e.g. the objective is not SOS at "
            "this order) or badly conditioned; no bound is reported"
        )
        log.warning(res.raw["note"])
        return np.nan, None
    return res.dual_objective - err, None


def scaled_bounds(
    relaxation: Relaxation, res: BackendResult, tol: float | None = None
) -> tuple[float, float | None]:
    """``(bound, sound bound or None)`` of the scaled minimization: the LP hierarchy's exact
    certificate (:func:`polyopt.lp_certificate.lp_bounds`) for ``relaxation.kind == "lp"``,
    else :func:`sdp_bounds`. May downgrade ``res.status`` and annotates ``res.raw``."""
    if relaxation.kind == "lp":  # the LP hierarchy: exact certificate, polyopt.lp_certificate
        from .lp_certificate import lp_bounds

        return lp_bounds(relaxation, res)
    return sdp_bounds(relaxation, res, tol)


def certified_bounds(
    relaxation: Relaxation, res: BackendResult, tol: float | None = None
) -> tuple[float, float | None]:
    """``(bound, sound bound or None)`` of a solve, in the problem's units.

    The bound of :func:`scaled_bounds` times the objective's scale, sign flipped for a
    maximization (a lower bound of a ``minimize`` problem, an upper bound of a ``maximize``
    one). The sound bound, when there is one, is moved to its safe side after the product
    (which rounds), and becomes the bound when the two agreed: ``bound == sound`` exactly
    when the bound is certified. ``tol`` is the solver tolerance asked for (``None``: the
    solver's default), which loosens the test of an uncertified dual value."""
    bound, sound = scaled_bounds(relaxation, res, tol)
    sign = 1.0 if relaxation.sense == "min" else -1.0
    scale_f = relaxation.obj_scale
    certified = sound is not None and sound == bound
    bound = sign * scale_f * bound
    if sound is not None:  # the product rounds: move it to the safe side
        sound = sign * scale_f * sound
        if np.isfinite(sound):
            sound = round_down(sound) if sign > 0 else round_up(sound)
        if certified:
            bound = sound
    return float(bound), None if sound is None else float(sound)
