"""A primal-dual interior point solver for block-arrow SDPs (``solver="arrow"``).

The relaxation is put in the form of :mod:`polyopt.solvers.arrow.form`: an SDP over the block
entries whose rows are either *dense* (touching a large block such as ``M_1``) or *local* to
one group of small blocks (a clique's moment and localizing matrices). Each iteration of the
HKM predictor-corrector method (Helmberg-Rendl-Vanderbei-Wolkowicz, Kojima-Shindoh-Hara,
Monteiro; Mehrotra's corrector) solves with the Schur complement

    M = [[M_LL, M_LD], [M_DL, M_DD]]

where ``M_LL`` is block diagonal, one block per group: the groups are eliminated in a batch
and only the dense part, of the size of the links to ``M_1``, is factored densely. For HR-2 of
a (80, 80) network that is 801 rows instead of the ~9,000 an SDP solver factors when it
treats the program as unstructured. The large blocks' part of ``M_DD`` comes from low-rank
factors of their rows, ``M_ij = sum lam_a lam_b (u_a' X u_b)(u_b' Z^-1 u_a)``.

The dual point is mapped back to the Gram form of the program by
:func:`polyopt.solvers.arrow.form.recover` (``Z_k`` is the Gram matrix of block ``k``), so
polyopt certifies the bound exactly as for any other solver.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.linalg as sla

from ..memory import require_memory
from .form import ADVICE, ArrowForm, BlockMaps

ACCEPT = 10.0
"""A run that stops on numerical grounds (a singular Newton system, no progress) counts as
optimal when its best iterate is within this factor of ``tol``."""

STALL = 5
"""Stop when the iterates have not improved on the best one for this many iterations."""

REFINE_BELOW = 1e-3
"""Iterative refinement of the Newton directions starts once the residuals and the relative
gap are below this: earlier, the Schur complement is well conditioned and an inexact direction
costs nothing."""

DEFAULTS = {
    "tol": 1e-7,
    "max_iters": 80,
    "step": 0.95,
    "big_side": 24,
    "refine": 2,
    "threads": 1,
    "max_memory_gb": None,
    "pace": 0.5,
    "facial": True,
}
"""``max_memory_gb``: the memory the Schur complement may take (None: 80 % of the memory
available when the solve starts). ``pace``: how fast the primal residual may fall relative
to the duality measure (see :func:`residual_share`; None: the full Newton step on it).
``facial``: drop the forced kernels of the small blocks first (:mod:`polyopt.facial`)."""


def schur_bytes(form: ArrowForm) -> int:
    """Bytes of the Schur complement's blocks (dense rows x dense rows, and per group)."""
    grp = form.group
    local = grp[grp >= 0]
    counts = np.bincount(local) if local.size else np.zeros(0, int)
    L = int(counts.max(initial=0))
    nD = int(form.dense.size)
    entries = nD * nD + int(np.sum(counts.astype(np.int64) ** 2)) + L * nD * max(counts.size, 1)
    for bb in form.bigs:  # each large block's products of its rows' factors
        factors = int(bb.general.size) * int(bb.rank)
        entries += factors * factors + int(bb.p.size) ** 2
    return 8 * entries


def check_schur_memory(form: ArrowForm, max_memory_gb: float | None) -> None:
    """Raise :class:`~polyopt.solvers.memory.SolverMemoryError` before allocating a Schur
    complement larger than the budget."""
    require_memory(
        schur_bytes(form),
        max_memory_gb,
        f"the arrow solver's Schur complement ({form.dense.size} dense rows)",
        ADVICE,
    )


class _Schur:
    """Scatter maps and the block elimination of the arrow-shaped Schur complement."""

    def __init__(self, form: ArrowForm) -> None:
        self.form = form
        m = form.m
        nD = form.dense.size
        self.nD = nD
        grp = form.group
        local = np.flatnonzero(grp >= 0)
        ng = int(grp.max(initial=-1)) + 1
        self.ng = ng
        counts = np.bincount(grp[local], minlength=ng) if ng else np.zeros(0, int)
        self.counts = counts  # rows per group: slots 0 .. counts[g] - 1 of its padded block
        self.Lmax = max(int(counts.max(initial=0)), 1)
        order = local[np.argsort(grp[local], kind="stable")]
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int)
        slot = np.full(m, -1)
        slot[order] = np.arange(order.size) - starts[grp[order]]
        self.slot = slot
        self.local_rows = order
        self.local_flat = grp[order] * self.Lmax + slot[order]
        dpos = np.full(m, -1)
        dpos[form.dense] = np.arange(nD)
        self.dpos = dpos

        # pair scatter maps per size class
        ld_pairs = []
        self.maps = []
        for cl in form.classes:
            R = cl.rows.shape[1]
            bi, ri, qi = np.meshgrid(
                np.arange(cl.rows.shape[0]), np.arange(R), np.arange(R), indexing="ij"
            )
            gr, gq = cl.rows[bi, ri].ravel(), cl.rows[bi, qi].ravel()
            src = np.arange(gr.size)
            ok = (gr >= 0) & (gq >= 0)
            gr, gq, src = gr[ok], gq[ok], src[ok]
            lr, lq = grp[gr] >= 0, grp[gq] >= 0
            ll = lr & lq
            dd = ~lr & ~lq
            ldm = lr & ~lq
            ld_pairs.append(np.column_stack([grp[gr[ldm]], gq[ldm]]))
            self.maps.append(
                {
                    "ll": (
                        src[ll],
                        (grp[gr[ll]] * self.Lmax + slot[gr[ll]]) * self.Lmax + slot[gq[ll]],
                    ),
                    "dd": (src[dd], dpos[gr[dd]] * nD + dpos[gq[dd]]),
                    "ld": (src[ldm], grp[gr[ldm]], slot[gr[ldm]], gq[ldm]),
                }
            )
        pairs = np.concatenate(ld_pairs) if ld_pairs else np.zeros((0, 2), int)
        key = np.unique(pairs[:, 0].astype(np.int64) * m + pairs[:, 1]) if pairs.size else []
        key = np.asarray(key, dtype=np.int64)
        kg, kq = key // m, key % m
        dcount = np.bincount(kg, minlength=ng) if ng else np.zeros(0, int)
        self.Dmax = max(int(dcount.max(initial=0)), 1)
        dstart = np.concatenate([[0], np.cumsum(dcount)[:-1]]).astype(int)
        slot_d = np.arange(key.size) - dstart[kg]  # slot of each (group, dense row) pair
        dg = np.full((max(ng, 1), self.Dmax), -1)
        dg[kg, slot_d] = dpos[kq]
        self.dg = dg  # dense positions of each group's dense rows (-1 padded)
        for mp in self.maps:
            src, g, lslot, q = mp["ld"]
            ds = slot_d[np.searchsorted(key, g.astype(np.int64) * m + q)]
            mp["ld"] = (src, (g * self.Lmax + lslot) * self.Dmax + ds)
            for k in ("ll", "ld", "dd"):  # targets compressed: sums over the distinct slots
                src, dst = mp[k]
                uniq, inv = np.unique(dst, return_inverse=True)
                mp[k] = (src, uniq, inv.ravel())
        # group-level scatter of the (Dmax x Dmax) corrections into M_DD
        valid = dg >= 0
        gi, a, b_ = np.nonzero(valid[:, :, None] & valid[:, None, :])
        self.corr_src = (gi * self.Dmax + a) * self.Dmax + b_
        self.corr_dst, self.corr_inv = np.unique(dg[gi, a] * nD + dg[gi, b_], return_inverse=True)
        self.corr_inv = self.corr_inv.ravel()
        self.bigmaps = [_BigMap(bb) for bb in form.bigs]
        self.pad_L = np.ones(max(ng, 1) * self.Lmax, dtype=bool)
        self.pad_L[self.local_flat] = False

    def assemble(self, Xs, Zis):
        """Form and factor the Schur complement for the current (X, Z^-1)."""
        f = self.form
        ng, L, D, nD = max(self.ng, 1), self.Lmax, self.Dmax, self.nD
        MLL = np.zeros(ng * L * L)
        MLD = np.zeros(ng * L * D)
        MDD = np.zeros(nD * nD)
        for cl, mp, X, Zi in zip(f.classes, self.maps, Xs, Zis):
            # <A_q, X A_r Zi> = vec(A_q)' (X kron Zi) vec(A_r), one batched product per class
            nb, s_ = X.shape[0], X.shape[1]
            K = np.einsum("bik,bjl->bijkl", X, Zi).reshape(nb, s_ * s_, s_ * s_)
            Cm = cl.coef.reshape(nb, -1, s_ * s_)
            loc = (Cm @ K @ np.swapaxes(Cm, 1, 2)).ravel()
            for key, M in (("ll", MLL), ("ld", MLD), ("dd", MDD)):
                src, uniq, inv = mp[key]
                M[uniq] += np.bincount(inv, loc[src], minlength=uniq.size)
        MDD = MDD.reshape(nD, nD)
        for bm, X, Zi in zip(self.bigmaps, Xs[len(f.classes) :], Zis[len(f.classes) :]):
            bm.add(MDD, X, Zi)
        MLL = MLL.reshape(ng, L, L)
        diag = MLL.reshape(ng * L, L)
        pad = np.flatnonzero(self.pad_L)
        diag[pad, pad % L] = 1.0
        MLD = MLD.reshape(ng, L, D)
        # each group's block factored once per iteration, at its own size (the batch is
        # padded to the largest group, up to 4x the work on HR-2 of deep networks)
        self.lu = [
            sla.lu_factor(MLL[g, :n, :n], check_finite=False) if n else None
            for g, n in enumerate(self.counts)
        ]
        self.Y = self._local_solve(MLD)
        if nD:
            corr = np.einsum("gld,gle->gde", MLD, self.Y).ravel()
            MDD = MDD.ravel()
            MDD[self.corr_dst] -= np.bincount(
                self.corr_inv, corr[self.corr_src], minlength=self.corr_dst.size
            )
            MDD = MDD.reshape(nD, nD)  # symmetric; the factorization reads the lower triangle
            self.chol = _regularized_cholesky(MDD)
        self.MLD = MLD

    def _local_solve(self, R: np.ndarray) -> np.ndarray:
        """``M_LL^-1 R`` group by group (``R``: groups x padded rows x columns)."""
        out = np.zeros_like(R)
        for g, n in enumerate(self.counts):
            if n:
                out[g, :n] = sla.lu_solve(self.lu[g], R[g, :n], check_finite=False)
        return out

    def solve(self, r: np.ndarray) -> np.ndarray:
        """``M^-1 r``."""
        ng, L = max(self.ng, 1), self.Lmax
        rL = np.zeros(ng * L)
        rL[self.local_flat] = r[self.local_rows]
        rL = rL.reshape(ng, L)
        tL = self._local_solve(rL[..., None])[..., 0]
        out = np.zeros_like(r)
        if self.nD:
            rD = r[self.form.dense].copy()
            push = np.einsum("gld,gl->gd", self.MLD, tL)
            ok = self.dg >= 0
            np.add.at(rD, self.dg[ok], -push[ok])
            yD = sla.cho_solve(self.chol, rD, check_finite=False)
            yDg = np.where(ok, yD[np.maximum(self.dg, 0)], 0.0)
            tL = tL - np.einsum("gld,gd->gl", self.Y, yDg)
            out[self.form.dense] = yD
        out[self.local_rows] = tL.reshape(-1)[self.local_flat]
        return out


def _regularized_cholesky(M: np.ndarray):
    """Cholesky factor of the symmetric ``M``, with a growing diagonal shift (relative to its
    largest diagonal entry, up to 1e-6) when rounding leaves it not quite positive definite;
    the Newton directions' iterative refinement on the exact operator absorbs the shift."""
    try:
        return sla.cho_factor(M, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        pass
    top = max(1.0, float(np.abs(np.diag(M)).max()))
    for rel in (1e-12, 1e-10, 1e-8, 1e-6):
        try:
            return sla.cho_factor(
                M + rel * top * np.eye(M.shape[0]), lower=True, check_finite=False
            )
        except np.linalg.LinAlgError:
            continue
    raise np.linalg.LinAlgError("the Schur complement is not positive definite")


GATHER_MAX = 2500
"""Above this many one-entry rows on a large block, gathers use ``np.ix_`` instead of stored
flat indices (``3 n^2`` integers)."""


class _BigMap:
    """Precomputed gathers and scatters of one large block's dense rows in ``M_DD``."""

    def __init__(self, bb) -> None:
        self.bb = bb
        p, q, n = bb.p, bb.q, bb.side
        self.flat = None
        if 0 < p.size <= GATHER_MAX:
            self.flat = (q[:, None] * n + p, q[:, None] * n + q, p[:, None] * n + p)
        self.scale = 0.25 * np.outer(bb.alpha, bb.alpha)
        self.d = _as_slice(bb.simple)
        self.g = _as_slice(bb.general)

    def add(self, MDD: np.ndarray, X: np.ndarray, Zi: np.ndarray) -> None:
        """Add ``<P_i, X P_j Z^-1>`` of the block's dense rows to ``MDD``.

        One-entry rows ``P = alpha (e_p e_q' + e_q e_p') / 2`` give four products of gathered
        entries; the few other rows go through their eigen-factors."""
        bb = self.bb
        p, q, al = bb.p, bb.q, bb.alpha
        d, g = self.d, self.g
        if p.size:
            if self.flat is not None:
                x, z = X.ravel(), Zi.ravel()
                iqp, iqq, ipp = self.flat
                T = np.take(x, iqp) * np.take(z, iqp).T
                T += T.T
                T += np.take(x, iqq) * np.take(z, ipp)
                T += np.take(x, ipp) * np.take(z, iqq)
            else:
                T = X[np.ix_(q, p)] * Zi[np.ix_(q, p)].T
                T += T.T
                T += X[np.ix_(q, q)] * Zi[np.ix_(p, p)] + X[np.ix_(p, p)] * Zi[np.ix_(q, q)]
            T *= self.scale
            _scatter(MDD, d, d, T)
        if not bb.general.size:
            return
        Ut, lam, r = bb.Ut, bb.lam, bb.rank  # U' is sparse (the factors are)
        ng = bb.general.size
        UX, UZ = Ut @ X, Ut @ Zi  # (U' X), (U' Z^-1)
        W = (Ut @ UX.T) * (Ut @ UZ.T) * np.outer(lam, lam)
        _scatter(MDD, g, g, W.reshape(ng, r, ng, r).sum(axis=(1, 3)))
        if p.size:
            XU, ZU = UX.T, UZ.T
            V = 0.5 * (ZU[p] * XU[q] + ZU[q] * XU[p]) * lam  # (simple rows, factors)
            cross = V.reshape(p.size, ng, r).sum(axis=2) * al[:, None]
            _scatter(MDD, d, g, cross)
            _scatter(MDD, g, d, cross.T)


def _as_slice(idx: np.ndarray):
    """``idx`` as a slice when it is a contiguous range (cheaper scatters)."""
    if idx.size and np.all(np.diff(idx) == 1):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def _scatter(M: np.ndarray, rows, cols, V: np.ndarray) -> None:
    """``M[rows, cols] += V`` for index arrays or slices."""
    if isinstance(rows, slice) and isinstance(cols, slice):
        M[rows, cols] += V
    else:
        rr = np.arange(M.shape[0])[rows] if isinstance(rows, slice) else rows
        cc = np.arange(M.shape[1])[cols] if isinstance(cols, slice) else cols
        M[np.ix_(rr, cc)] += V


def _inner(As: list[np.ndarray], Bs: list[np.ndarray]) -> float:
    return float(sum(np.sum(a * b) for a, b in zip(As, Bs)))


def _sym(K: np.ndarray) -> np.ndarray:
    return 0.5 * (K + np.swapaxes(K, -1, -2))


def _inverse_factors(Ks: list[np.ndarray]) -> list[np.ndarray]:
    """``L^-1`` of the Cholesky factors ``K = L L'`` (raises LinAlgError if not PD)."""
    out = []
    for K in Ks:
        L = np.linalg.cholesky(K)
        if L.ndim == 2:  # one large block: triangular inverse (LAPACK trtri)
            Li, info = sla.lapack.dtrtri(L, lower=1)
            if info != 0:
                raise np.linalg.LinAlgError("singular Cholesky factor")
            out.append(np.tril(Li))
        else:
            out.append(np.linalg.inv(L))
    return out


def _max_step(Lis: list[np.ndarray], dXs: list[np.ndarray]) -> float:
    """The largest ``a`` keeping ``X + a dX`` PSD, from ``L^-1`` of ``X = L L'`` (inf if
    every direction is PSD)."""
    amax = np.inf
    for Li, dX in zip(Lis, dXs):
        W = Li @ dX @ np.swapaxes(Li, -1, -2)
        lo = float(np.linalg.eigvalsh(_sym(W)).min())
        if lo < 0:
            amax = min(amax, -1.0 / lo)
    return amax


class _Newton:
    """The HKM Newton system at one iterate: ``dX = H - X dZ Z^-1``, ``dZ = Rd - A^T dy``,
    ``A(dX) = rp``, solved through the Schur complement with iterative refinement."""

    def __init__(self, ops, schur, A, X, Zi, Rd, rp, refine: int) -> None:
        self.ops, self.schur, self.A = ops, schur, A
        self.X, self.Zi, self.Rd, self.rp = X, Zi, Rd, rp
        self.refine = refine
        self.XRdZi = [x @ r @ zi for x, r, zi in zip(X, Rd, Zi)]

    def schur_op(self, v: np.ndarray) -> np.ndarray:
        K = self.ops.to_mats(self.A.T @ v)
        return self.A @ self.ops.to_entries([x @ k @ zi for x, k, zi in zip(self.X, K, self.Zi)])

    def direction(self, H: list[np.ndarray]):
        ops, A = self.ops, self.A
        rhs = self.rp + A @ ops.to_entries([k - h for k, h in zip(self.XRdZi, H)])
        dy = self.schur.solve(rhs)
        for _ in range(self.refine):  # iterative refinement on the exact operator
            res = rhs - self.schur_op(dy)
            if np.linalg.norm(res) <= 1e-12 * (1.0 + np.linalg.norm(rhs)):
                break
            dy = dy + self.schur.solve(res)
        ATdy = ops.to_mats(A.T @ dy)
        dZ = [r - a for r, a in zip(self.Rd, ATdy)]
        dX = [_sym(h - x @ d @ zi) for h, x, d, zi in zip(H, self.X, dZ, self.Zi)]
        return dy, dX, dZ


def residual_share(pace: float | None, pinf_ratio: float, mu_ratio: float) -> float:
    """The share ``eta`` of the primal residual that the next Newton step removes.

    ``pinf_ratio`` and ``mu_ratio`` are the primal residual and the duality measure relative
    to their starting values. With ``eta = min(1, pace * pinf_ratio / mu_ratio)`` the residual
    falls no faster than ``mu`` (up to the factor ``pace``). Moment relaxations with equality
    constraints have no strictly feasible primal point (``y (y - z) = 0`` and the like put
    fixed vectors in the kernels of the moment blocks); removing the residual first pins those
    eigenvalues of ``X`` near zero long before the gap closes, the dual slacks blow up along
    them and the method stalls with a gap of ~1e-3 (HR-2 of deep networks). Kept in step with
    ``mu``, the iterates stay near the central path of the perturbed problem."""
    if pace is None or mu_ratio <= 0:
        return 1.0
    return float(min(1.0, pace * pinf_ratio / mu_ratio))


def interior_point(form: ArrowForm, opts: dict, verbose: bool, deadline: float | None = None):
    """HKM predictor-corrector on ``form`` with the options ``opts`` (those of
    :data:`DEFAULTS` but ``big_side`` and ``threads``, which the form and the caller use);
    stops before a step that would end past ``deadline`` (``time.perf_counter`` clock).

    Returns ``(y, X blocks, status, iterations, primal objective)`` in the form's terms
    (:func:`polyopt.solvers.arrow.form.recover` maps them back to the program)."""
    ops = BlockMaps(form)
    check_schur_memory(form, opts.get("max_memory_gb"))
    schur = _Schur(form)
    A, b = form.A, form.b
    C = ops.to_mats(form.c)
    nu = form.nu
    normb = 1.0 + np.linalg.norm(b)
    normC = 1.0 + np.sqrt(_inner(C, C))
    X = ops.identity(1.0)
    Z = ops.identity(max(1.0, np.sqrt(_inner(C, C) / max(nu, 1))))
    y = np.zeros(form.m)
    gamma = float(opts["step"])
    status, it = "iteration_limit", 0
    best, best_it = None, 0
    step_seconds, t_step = 0.0, time.perf_counter()
    for it in range(1, int(opts["max_iters"]) + 1):
        now = time.perf_counter()
        step_seconds, t_step = max(step_seconds, now - t_step) if it > 1 else 0.0, now
        try:
            LXi, LZi = _inverse_factors(X), _inverse_factors(Z)
        except np.linalg.LinAlgError:
            if verbose:
                print("    the factorization of X or Z failed")
            status = "inaccurate"
            break
        Zi = [np.swapaxes(li, -1, -2) @ li for li in LZi]
        rp = b - A @ ops.to_entries(X)
        ATy = ops.to_mats(A.T @ y)
        Rd = [c - a - z for c, a, z in zip(C, ATy, Z)]
        mu = _inner(X, Z) / nu
        pobj = _inner(C, X) + form.c0
        dobj = float(b @ y) + form.c0
        relgap = abs(pobj - dobj) / (1.0 + abs(pobj) + abs(dobj))
        pinf = np.linalg.norm(rp) / normb
        dinf = np.sqrt(_inner(Rd, Rd)) / normC
        if verbose:
            print(
                f"{it:3d} pobj {pobj: .9e} dobj {dobj: .9e} gap {relgap:.1e} "
                f"pinf {pinf:.1e} dinf {dinf:.1e}"
            )
        err = max(relgap, pinf, dinf)
        if best is None or err < best[0]:
            best = (err, y.copy(), [x.copy() for x in X], pobj)
            best_it = it
        if err <= opts["tol"]:
            status = "optimal"
            break
        if it - best_it >= STALL:
            status = "inaccurate"
            break
        if deadline is not None and time.perf_counter() + step_seconds > deadline:
            status = "time_limit"  # the next step would end past the limit
            break
        if it == 1:
            pinf0, mu0 = pinf, mu
        eta = residual_share(opts.get("pace"), pinf / pinf0 if pinf0 > 0 else np.inf, mu / mu0)
        try:
            schur.assemble(X, Zi)
            refine = int(opts["refine"]) if err < REFINE_BELOW else 0
            newton = _Newton(ops, schur, A, X, Zi, Rd, eta * rp, refine)
            dy, dX, dZ = newton.direction([-x for x in X])  # predictor
            ap = min(1.0, gamma * _max_step(LXi, dX))
            ad = min(1.0, gamma * _max_step(LZi, dZ))
            mu_aff = (
                _inner([x + ap * d for x, d in zip(X, dX)], [z + ad * d for z, d in zip(Z, dZ)])
                / nu
            )
            pa, pd = ap, ad
            expon = max(1.0, 3.0 * min(ap, ad) ** 2)
            sigma = min(1.0, (mu_aff / mu) ** expon)
            H = [sigma * mu * zi - x - dx @ dz @ zi for zi, x, dx, dz in zip(Zi, X, dX, dZ)]
            dy, dX, dZ = newton.direction(H)  # corrector
            ap = min(1.0, gamma * _max_step(LXi, dX))
            ad = min(1.0, gamma * _max_step(LZi, dZ))
        except np.linalg.LinAlgError as exc:
            if verbose:
                print(f"    the Newton system failed: {exc}")
            status = "inaccurate"
            break
        if verbose:
            print(
                f"    predictor {pa:.3f} {pd:.3f}  sigma {sigma:.1e}  residual share {eta:.2f}"
                f"  step {ap:.3f} {ad:.3f}"
            )
        X = [x + ap * d for x, d in zip(X, dX)]
        y = y + ad * dy
        Z = [z + ad * d for z, d in zip(Z, dZ)]
        if max(ap, ad) < 1e-8:
            status = "inaccurate"
            break
    if status != "optimal" and best is not None:
        if status == "inaccurate" and best[0] <= ACCEPT * max(float(opts["tol"]), 1e-12):
            status = "optimal"  # stopped by rounding within a factor ACCEPT of the tolerance
        _, y, X, pobj = best
    return y, X, status, it, pobj
