"""Low-rank augmented Lagrangian (Burer-Monteiro) solver for large moment relaxations.

Each PSD block is written ``M_k(y) = R_k R_k^T`` with ``R_k`` of ``r_k`` columns
(``r_k(r_k + 1)/2`` above the number of the block's distinct entries is never needed; we take
``r_k ~ sqrt(2 s_k)``), inequalities ``A y + b = w^2``, and the linking equalities
``A_k y + b_k - low(R_k R_k^T) = 0`` are handled by an augmented Lagrangian whose inner
problems are solved by L-BFGS over ``(y, R)``. The multipliers of the block equalities are
the dual Gram matrices ``X_k``: the bound polyopt reports comes from them through its sound
correction (dual residual times moment bounds, negative eigenvalues times trace bounds), so
an approximate solve gives a valid, slightly weaker bound.

Cheap per iteration (sparse products and ``s_k x r_k`` matrix products, no factorization, no
eigendecomposition), it suits relaxations with one large moment matrix (hundreds to thousands
of rows) and many small clique blocks, where interior point Schur complements are dense.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.optimize as so

from ..conic import ConicProgram
from ..monomials import lower_triangle
from .base import Backend, BackendResult, SolverOptions

DEFAULTS = {
    "rho": 1.0,
    "max_rho": 1e4,
    "inner_iters": 300,
    "max_outer": 60,
    "seed": 0,
    "rank": None,
}


@dataclass
class _Group:
    """All PSD blocks of one size, handled as stacked arrays."""

    blocks: np.ndarray  # block indices
    rows: np.ndarray  # (nb, t) rows of A_psd
    i: np.ndarray
    j: np.ndarray
    w: np.ndarray  # 1 on the diagonal, 2 off it (Frobenius weights of the triangle)
    size: int
    rank: int


def _groups(program: ConicProgram, rank: int | None) -> list[_Group]:
    off = program.triangle_offsets
    sizes = np.array(program.block_sizes)
    out = []
    for s in np.unique(sizes):
        ks = np.flatnonzero(sizes == s)
        i, j = lower_triangle(int(s))
        t = i.size
        rows = off[ks][:, None] + np.arange(t)[None, :]
        r = int(min(s, rank if rank else max(2, int(np.ceil(np.sqrt(2 * s))) + 1)))
        out.append(_Group(ks, rows, i, j, np.where(i == j, 1.0, 2.0), int(s), r))
    return out


class LowRankBackend(Backend):
    name = "lowrank"
    forms = ("moment",)

    def solve(self, program: ConicProgram, form: str, options: SolverOptions) -> BackendResult:
        if form != "moment":
            raise ValueError("the lowrank solver works on the moment form only")
        opts = dict(DEFAULTS)
        unknown = set(options.extra) - set(opts)
        if unknown:
            raise ValueError(f"unknown lowrank option(s) {sorted(unknown)}; known: {sorted(opts)}")
        opts.update(options.extra)
        tol = options.tol or 1e-6
        max_outer = int(options.max_iters or opts["max_outer"])
        t0 = time.perf_counter()
        deadline = t0 + options.time_limit if options.time_limit else np.inf
        rng = np.random.default_rng(opts["seed"])

        n = program.n
        A_psd = program.A_psd.tocsr()
        A_psdT = A_psd.T.tocsr()
        A_eq, A_in = program.A_eq.tocsr(), program.A_ineq.tocsr()
        p, q = A_eq.shape[0], A_in.shape[0]
        groups = _groups(program, opts["rank"])
        shapes = [(len(g.blocks), g.size, g.rank) for g in groups]
        sizes = [int(np.prod(s)) for s in shapes]
        offs = np.cumsum([n] + sizes + [q])
        lam = [np.zeros(g.rows.shape) for g in groups]
        lam_eq = np.zeros(p)
        lam_in = np.zeros(q)
        rho = float(opts["rho"])

        def unpack(v):
            y = v[:n]
            Rs = [v[offs[k] : offs[k + 1]].reshape(shapes[k]) for k in range(len(groups))]
            return y, Rs, v[offs[-2] : offs[-1]]

        def residuals(y, Rs, wv):
            m = A_psd @ y + program.b_psd
            res = []
            for g, R in zip(groups, Rs):
                RR = np.einsum("bir,bjr->bij", R, R)
                res.append(m[g.rows] - RR[:, g.i, g.j])
            r_eq = A_eq @ y - program.b_eq
            r_in = A_in @ y + program.b_ineq - wv * wv
            return res, r_eq, r_in

        def fun(v):
            y, Rs, wv = unpack(v)
            res, r_eq, r_in = residuals(y, Rs, wv)
            f = float(program.c @ y)
            gm = np.zeros(A_psd.shape[0])
            grads = []
            for g, R, r, la in zip(groups, Rs, res, lam):
                G = la + rho * r
                f += float(np.sum(g.w * (la * r + 0.5 * rho * r * r)))
                gm[g.rows] += g.w * G
                S = np.zeros((R.shape[0], g.size, g.size))
                S[:, g.i, g.j] = G
                S[:, g.j, g.i] = G
                grads.append((-2.0 * np.einsum("bij,bjr->bir", S, R)).ravel())
            Geq = lam_eq + rho * r_eq
            Gin = lam_in + rho * r_in
            f += float(lam_eq @ r_eq + 0.5 * rho * r_eq @ r_eq)
            f += float(lam_in @ r_in + 0.5 * rho * r_in @ r_in)
            gy = program.c + A_psdT @ gm + A_eq.T @ Geq + A_in.T @ Gin
            gw = -2.0 * Gin * wv
            return f, np.concatenate([gy, *grads, gw])

        v = np.concatenate(
            [np.zeros(n)]
            + [rng.standard_normal(s).ravel() / np.sqrt(s[2]) for s in shapes]
            + [np.ones(q)]
        )
        status, outer, prev_infeas = "iteration_limit", 0, np.inf
        info: dict = {}
        for outer in range(1, max_outer + 1):
            sol = so.minimize(
                fun,
                v,
                jac=True,
                method="L-BFGS-B",
                options={"maxiter": int(opts["inner_iters"]), "gtol": 1e-9, "ftol": 1e-15},
            )
            v = sol.x
            y, Rs, wv = unpack(v)
            res, r_eq, r_in = residuals(y, Rs, wv)
            for k in range(len(groups)):
                lam[k] = lam[k] + rho * res[k]
            lam_eq = lam_eq + rho * r_eq
            lam_in = lam_in + rho * r_in
            infeas = max(
                [float(np.abs(r).max()) for r in res if r.size]
                + [float(np.abs(r_eq).max(initial=0.0)), float(np.abs(r_in).max(initial=0.0))]
            )
            pobj = float(program.c @ y) + program.c0
            mu, z, X = -lam_eq, -lam_in, _gram(program, groups, lam)
            dobj = program.dual_objective(mu, np.maximum(z, 0.0), X)
            gap = abs(pobj - dobj) / (1.0 + abs(pobj))
            info = {"infeasibility": infeas, "gap": gap, "rho": rho, "outer": outer}
            if options.verbose:
                print(
                    f"lowrank outer {outer:3d}: pobj {pobj:.8g} dobj {dobj:.8g} "
                    f"infeas {infeas:.2e} rho {rho:.3g} ({time.perf_counter() - t0:.1f} s)"
                )
            if infeas <= tol and gap <= tol:
                status = "optimal"
                break
            if time.perf_counter() > deadline:
                status = "time_limit"
                break
            if infeas > 0.5 * prev_infeas:
                rho = min(rho * 2.0, float(opts["max_rho"]))
            prev_infeas = infeas
        y, Rs, wv = unpack(v)
        return BackendResult(
            status=status,
            y=y.copy(),
            mu=-lam_eq,
            z=-lam_in,
            X=_gram(program, groups, lam),
            primal_objective=float(program.c @ y) + program.c0,
            dual_objective=float(
                program.dual_objective(
                    -lam_eq, np.maximum(-lam_in, 0.0), _gram(program, groups, lam)
                )
            ),
            iterations=outer,
            seconds=time.perf_counter() - t0,
            raw={"form": "moment", **info},
        )


def _gram(program: ConicProgram, groups: list[_Group], lam: list[np.ndarray]) -> list:
    """Dual Gram blocks ``X_k = -Lambda_k`` in block order."""
    X: list = [None] * len(program.block_sizes)
    for g, la in zip(groups, lam):
        M = np.zeros((len(g.blocks), g.size, g.size))
        M[:, g.i, g.j] = -la
        M[:, g.j, g.i] = -la
        for b, k in enumerate(g.blocks):
            X[k] = M[b]
    return X
