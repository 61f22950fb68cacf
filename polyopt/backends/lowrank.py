"""Low-rank augmented Lagrangian (Burer-Monteiro) solver for moment relaxations.

The moment form is rewritten over the PSD blocks themselves: every moment takes its value
from one *representative* entry of a block (an entry that is that moment alone), every other
block entry becomes a linear equality ("link") to the moments it stands for, and 1 x 1 blocks
become inequalities. Each block of side ``s >= 2`` is factored ``M_k = R_k R_k^T`` with
``R_k`` of ``r_k << s`` columns, so the PSD constraints hold by construction and the
remaining linear constraints go into an augmented Lagrangian minimized by L-BFGS (Burer and
Monteiro 2003; SDPLR). One iteration costs a few matrix products with the factors, never an
eigendecomposition, which is what makes relaxations with one large moment matrix (the LCEP
of a wide network) tractable.

The augmented Lagrangian's multipliers are a dual point: ``mu`` and ``z`` for the linear
rows, and for each block the matrix ``S_k = C_k - A_k^*(lambda)`` (the Gram matrix of the
SOS certificate). It is only approximately PSD; :func:`polyopt.result.sound_lower_bound`
turns it into a bound that holds exactly (minimum eigenvalue times a trace bound), so the
solver's accuracy affects tightness, never validity.

Warm starts. ``solver_options={"warm_start": previous}`` starts from the factors and the
multipliers of an earlier solve (a :class:`BackendResult` of this backend, a
:class:`polyopt.Result`, or the ``raw["state"]`` dict they carry) of a program with the same
constraints: only the objective may differ (e.g. the LCEPs of several logits or pairs of
one network). The state records a digest of the constraints (:func:`constraint_signature`);
a state from other constraints raises ``ValueError``. The penalty restarts at its initial
value.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.optimize import minimize

from ..conic import ConicProgram
from ..monomials import lower_triangle
from .base import Backend, BackendResult, SolverOptions

log = logging.getLogger("polyopt")

DEFAULTS = {
    "rank": None,  # columns of each factor: None = from the constraint count, capped
    "max_rank": 64,
    "sigma": 10.0,  # initial penalty (rows and objective are normalized)
    "sigma_growth": 4.0,
    "max_sigma": 1e8,
    "max_outer": 200,
    "inner_iters": 400,
    "seed": 0,
    "stall_outer": 15,  # stop ("inaccurate") when the certified value stalls this long
    "warm_start": None,  # a BackendResult / Result / raw["state"] of the same constraints
}


@dataclass
class _Group:
    """Blocks of one side ``s`` factored with ``r`` columns, stacked as ``(g, s, r)``."""

    blocks: np.ndarray  # indices into program.block_sizes
    size: int
    rank: int
    pos: np.ndarray  # positions in the variable vector x of this group's used entries
    flat: np.ndarray  # flat index of each used entry in the (g, s, s) stack
    offset: int = 0  # start of this group's factors in the parameter vector
    fixed: np.ndarray | None = None  # factor rows (index into the (g * s) rows) of fixed norm
    fixed_sq: np.ndarray | None = None  # their squared norms (the fixed diagonal entries)
    fixed_origin: np.ndarray | None = None  # conic equality row of each, or -1 (a link row)
    fixed_coef: np.ndarray | None = None  # the row's coefficient on the diagonal entry

    @property
    def nparams(self) -> int:
        return self.blocks.size * self.size * self.rank


@dataclass
class LowRankForm:
    """``min c.x + c0`` s.t. ``A_eq x = b_eq``, ``A_in x >= b_in``, x = (block entries, free)."""

    c: np.ndarray
    c0: float
    A_eq: sp.csr_matrix
    b_eq: np.ndarray
    A_in: sp.csr_matrix
    b_in: np.ndarray
    eq_scale: np.ndarray  # row norms divided out of A_eq / b_eq
    in_scale: np.ndarray
    obj_scale: float  # c was divided by this
    groups: list[_Group]
    free_pos: np.ndarray  # positions in x of the free moments
    y_map: sp.csr_matrix  # y = y_map @ x (moments of the conic program)
    eq_origin: np.ndarray  # per A_eq row: index of the conic equality, or -1 (a link row)
    in_origin: np.ndarray  # per A_in row: conic inequality index, or -(1 + 1x1 block index)
    nparams: int


def constraint_signature(form: LowRankForm) -> str:
    """A digest of everything but the objective: the rows, the factor layout, the fixed rows.

    Two programs with the same signature differ only in their objective, so the factors and
    multipliers of one are a valid starting point for the other.
    """
    h = hashlib.sha256()

    def add(a) -> None:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())

    for M, b in ((form.A_eq, form.b_eq), (form.A_in, form.b_in)):
        M = M.tocsr()
        M.sort_indices()
        for a in (M.indptr, M.indices, M.data, b, np.array(M.shape)):
            add(a)
    for g in form.groups:
        add(np.array([g.size, g.rank, g.offset]))
        add(g.blocks)
        if g.fixed is not None:
            add(g.fixed)
            add(g.fixed_sq)
    add(np.array([form.nparams, form.free_pos.size, form.c.size]))
    return h.hexdigest()


def _warm_state(previous) -> dict:
    """The solver state carried by ``previous`` (a result of this backend, or its state)."""
    for attr in ("backend_result", "raw"):
        if hasattr(previous, attr):
            previous = getattr(previous, attr)
    if isinstance(previous, dict) and "state" in previous:
        previous = previous["state"]
    keys = {"theta", "lam_eq", "lam_in", "sigma", "signature"}
    if not isinstance(previous, dict) or not keys <= set(previous):
        raise ValueError(
            "warm_start needs a result of the lowrank solver (a BackendResult or Result whose "
            "raw['state'] holds the factors and multipliers), or that state dict"
        )
    return previous


def _normalize(A: sp.csr_matrix, b: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    norms = np.sqrt(np.asarray(A.multiply(A).sum(axis=1)).ravel() + b**2)
    norms[norms == 0] = 1.0
    D = sp.diags(1.0 / norms)
    return (D @ A).tocsr(), b / norms, norms


def _ranks(program: ConicProgram, psd_rows_touching: np.ndarray, options: dict) -> list[int]:
    """Factor width per block: ``sqrt(2 m_k)`` for ``m_k`` rows touching it (Pataki)."""
    ranks = []
    for k, s in enumerate(program.block_sizes):
        if options["rank"] is not None:
            r = int(options["rank"])
        else:
            r = int(np.ceil(np.sqrt(2.0 * max(psd_rows_touching[k], 1)))) + 1
            r = min(r, int(options["max_rank"]))
        ranks.append(max(1, min(s, r)) if s > 12 else s)
    return ranks


def build_lowrank_form(program: ConicProgram, options: dict) -> LowRankForm:
    """Rewrite ``program`` over its block entries (see the module docstring)."""
    sizes = np.asarray(program.block_sizes, dtype=np.int64)
    off = program.triangle_offsets
    A = program.A_psd.tocsr()
    b = program.b_psd
    n = program.n
    nb = sizes.size
    block_of_row = np.repeat(np.arange(nb), sizes * (sizes + 1) // 2)
    in_psd = sizes[block_of_row] >= 2 if nb else np.zeros(0, bool)
    psd_rows = np.flatnonzero(in_psd)
    one_rows = np.flatnonzero(~in_psd)

    # representatives: rows of blocks of side >= 2 that are one moment alone, larger blocks
    # first (the big moment matrix carries the moments, small blocks link to it)
    nnz = np.diff(A.indptr)
    order = psd_rows[np.argsort(-sizes[block_of_row[psd_rows]], kind="stable")]
    cand = order[(nnz[order] == 1) & (b[order] == 0)]
    cand_col = A.indices[A.indptr[cand]]
    cand_val = A.data[A.indptr[cand]]
    moments, first = np.unique(cand_col, return_index=True)
    rep_row = cand[first]
    rep_val = cand_val[first]
    is_rep = np.zeros(A.shape[0], bool)
    is_rep[rep_row] = True
    free = np.setdiff1d(np.arange(n), moments)

    # x = (entries of blocks of side >= 2 in row order, free moments)
    T = psd_rows.size
    entry_pos = np.full(A.shape[0], -1)
    entry_pos[psd_rows] = np.arange(T)
    nx = T + free.size
    y_map = sp.csr_matrix(
        (
            np.concatenate([1.0 / rep_val, np.ones(free.size)]),
            (
                np.concatenate([moments, free]),
                np.concatenate([entry_pos[rep_row], T + np.arange(free.size)]),
            ),
        ),
        shape=(n, nx),
    )

    # equalities: link rows (non-representative entries), then the program's equalities
    link = psd_rows[~is_rep[psd_rows]]
    E_link = sp.csr_matrix(
        (np.ones(link.size), (np.arange(link.size), entry_pos[link])), shape=(link.size, nx)
    )
    A_link = (E_link - A[link] @ y_map).tocsr()
    b_link = b[link].copy()
    A_eq = sp.vstack([A_link, program.A_eq @ y_map], format="csr")
    b_eq = np.concatenate([b_link, program.b_eq])
    eq_origin = np.concatenate([np.full(link.size, -1), np.arange(program.A_eq.shape[0])])
    A_eq.eliminate_zeros()
    # rows fixing one diagonal entry (M_00 = 1, x_i^2 = 1): kept exactly by fixing the norm
    # of that factor row (an oblique manifold), not by the augmented Lagrangian
    li_all = np.concatenate([lower_triangle(int(s))[0] for s in sizes]) if nb else np.zeros(0)
    lj_all = np.concatenate([lower_triangle(int(s))[1] for s in sizes]) if nb else np.zeros(0)
    single = np.flatnonzero(np.diff(A_eq.indptr) == 1)
    col = A_eq.indices[A_eq.indptr[single]]
    coef = A_eq.data[A_eq.indptr[single]]
    ok = col < T
    row_of_col = psd_rows[np.minimum(col, max(T - 1, 0))] if T else col
    ok &= (li_all[row_of_col] == lj_all[row_of_col]) if T else ok
    ok &= (b_eq[single] / np.where(coef == 0, 1.0, coef)) > 0
    single, col, coef = single[ok], col[ok], coef[ok]
    col, first = np.unique(col, return_index=True)
    single, coef = single[first], coef[first]
    fixed_info = (b_eq[single] / coef, eq_origin[single], coef)
    fixed_at = np.full(nx, -1)  # per x column: its index in ``col``, or -1
    fixed_at[col] = np.arange(col.size)
    keep_rows = np.ones(A_eq.shape[0], bool)
    keep_rows[single] = False
    A_eq, b_eq, eq_origin = A_eq[keep_rows], b_eq[keep_rows], eq_origin[keep_rows]
    # inequalities: the program's rows and the 1 x 1 blocks
    A_in = sp.vstack([program.A_ineq @ y_map, A[one_rows] @ y_map], format="csr")
    b_in = np.concatenate([-program.b_ineq, -b[one_rows]])
    in_origin = np.concatenate([np.arange(program.A_ineq.shape[0]), -(1 + block_of_row[one_rows])])
    c = y_map.T @ program.c
    c0 = float(program.c0)
    A_eq.eliminate_zeros()
    A_in.eliminate_zeros()

    # unit-norm rows and objective (zero rows keep norm 1)
    A_eq, b_eq, eq_scale = _normalize(A_eq, b_eq)
    A_in, b_in, in_scale = _normalize(A_in, b_in)
    obj_scale = float(np.linalg.norm(c)) or 1.0
    c = c / obj_scale

    # rows touching each block, for the default factor width
    touching = np.zeros(nb)
    blk_of_x = np.concatenate([block_of_row[psd_rows], np.full(free.size, -1)])
    for M in (A_eq, A_in):
        coo = M.tocoo()
        pairs = np.unique(np.column_stack([coo.row, blk_of_x[coo.col]]), axis=0)
        pairs = pairs[pairs[:, 1] >= 0]
        touching += np.bincount(pairs[:, 1], minlength=nb)
    ranks = _ranks(program, touching, options)

    # used entries: columns of x that some row or the objective involves
    used = np.zeros(nx, bool)
    used[np.unique(A_eq.indices)] = True
    used[np.unique(A_in.indices)] = True
    used[np.flatnonzero(c)] = True
    groups: list[_Group] = []
    param = 0
    psd_blocks = np.flatnonzero(sizes >= 2)
    keys = sorted({(int(sizes[k]), ranks[k]) for k in psd_blocks})
    for s, r in keys:
        members = np.array([k for k in psd_blocks if sizes[k] == s and ranks[k] == r])
        slot = np.full(nb, -1)
        slot[members] = np.arange(members.size)
        rows = np.concatenate([np.arange(off[k], off[k + 1]) for k in members])
        rows = rows[used[entry_pos[rows]]]
        li, lj = lower_triangle(s)
        local = rows - off[block_of_row[rows]]
        flat = slot[block_of_row[rows]] * s * s + li[local] * s + lj[local]
        g = _Group(members, s, r, entry_pos[rows], flat, param)
        diag_rows = np.concatenate([off[k] + np.flatnonzero(li == lj) for k in members])
        diag_cols = entry_pos[diag_rows]
        q = fixed_at[diag_cols]
        has = q >= 0
        if has.any():
            diag_blk = block_of_row[diag_rows]
            factor_row = slot[diag_blk] * s + li[diag_rows - off[diag_blk]]
            g.fixed = factor_row[has]
            g.fixed_sq = fixed_info[0][q[has]]
            g.fixed_origin = fixed_info[1][q[has]]
            g.fixed_coef = fixed_info[2][q[has]]
        param += g.nparams
        groups.append(g)
    free_pos = T + np.arange(free.size)
    return LowRankForm(
        c,
        c0,
        A_eq,
        b_eq,
        A_in,
        b_in,
        eq_scale,
        in_scale,
        obj_scale,
        groups,
        free_pos,
        y_map,
        eq_origin,
        in_origin,
        param + free.size,
    )


class _Lagrangian:
    """Value and gradient of the augmented Lagrangian in the factors."""

    def __init__(self, form: LowRankForm) -> None:
        self.f = form
        self.nx = form.c.size
        self.AeT = form.A_eq.T.tocsr()
        self.AiT = form.A_in.T.tocsr()

    def split(self, theta: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """The factors (fixed rows scaled to their norms) and the free moments."""
        Rs = []
        for g in self.f.groups:
            P = theta[g.offset : g.offset + g.nparams].reshape(g.blocks.size, g.size, g.rank)
            if g.fixed is not None:
                P = P.copy()
                rows = P.reshape(-1, g.rank)
                sub = rows[g.fixed]
                norms = np.linalg.norm(sub, axis=1)
                norms[norms == 0] = 1.0
                rows[g.fixed] = sub * (np.sqrt(g.fixed_sq) / norms)[:, None]
            Rs.append(P)
        return Rs, theta[self.f.nparams - self.f.free_pos.size :]

    def fixed_multipliers(self, Rs, Ss) -> list[np.ndarray]:
        """Multipliers of the fixed-norm rows from stationarity, ``S_final R = 0`` on them."""
        out = []
        for g, R, S in zip(self.f.groups, Rs, Ss):
            if g.fixed is None:
                out.append(np.zeros(0))
                continue
            SR = (S @ R).reshape(-1, g.rank)[g.fixed]
            out.append(np.einsum("ij,ij->i", SR, R.reshape(-1, g.rank)[g.fixed]) / g.fixed_sq)
        return out

    def dual_blocks(self, theta, gx) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The dual matrices with the fixed rows' multipliers subtracted, and those."""
        Rs, _ = self.split(theta)
        Ss = self.slack_blocks(gx)
        lams = self.fixed_multipliers(Rs, Ss)
        for g, S, lam in zip(self.f.groups, Ss, lams):
            if g.fixed is not None:
                b, i = np.divmod(g.fixed, g.size)
                S[b, i, i] -= lam
        return Ss, lams

    def entries(self, theta: np.ndarray, Rs: list[np.ndarray] | None = None) -> np.ndarray:
        """The block entries and free moments ``x`` (``Rs``: the factors, if already split)."""
        if Rs is None:
            Rs, _ = self.split(theta)
        w = theta[self.f.nparams - self.f.free_pos.size :]
        x = np.zeros(self.nx)
        for g, R in zip(self.f.groups, Rs):
            V = R @ R.transpose(0, 2, 1)
            x[g.pos] = V.reshape(-1)[g.flat]
        x[self.f.free_pos] = w
        return x

    def multipliers(self, x, lam_eq, lam_in, sigma):
        h = self.f.A_eq @ x - self.f.b_eq
        gi = self.f.A_in @ x - self.f.b_in
        teq = lam_eq - sigma * h
        tin = np.maximum(0.0, lam_in - sigma * gi)
        return h, gi, teq, tin

    def grad_x(self, teq, tin) -> np.ndarray:
        return self.f.c - self.AeT @ teq - self.AiT @ tin

    def slack_blocks(self, gx: np.ndarray) -> list[np.ndarray]:
        """The symmetric dual matrices ``S`` per group, shape ``(g, s, s)``."""
        out = []
        for g in self.f.groups:
            n = g.blocks.size * g.size * g.size
            S = np.bincount(g.flat, weights=gx[g.pos], minlength=n).reshape(-1, g.size, g.size)
            out.append(0.5 * (S + S.transpose(0, 2, 1)))
        return out

    def __call__(self, theta, lam_eq, lam_in, sigma):
        Rs, _ = self.split(theta)
        x = self.entries(theta, Rs)
        h, gi, teq, tin = self.multipliers(x, lam_eq, lam_in, sigma)
        val = (
            float(self.f.c @ x)
            - float(lam_eq @ h)
            + 0.5 * sigma * float(h @ h)
            + (float(tin @ tin) - float(lam_in @ lam_in)) / (2.0 * sigma)
        )
        gx = self.grad_x(teq, tin)
        grad = np.empty_like(theta)
        for g, R, S in zip(self.f.groups, Rs, self.slack_blocks(gx)):
            G = 2.0 * (S @ R)
            if g.fixed is not None:  # chain rule through the row normalization
                P = theta[g.offset : g.offset + g.nparams].reshape(-1, g.rank)[g.fixed]
                norms = np.linalg.norm(P, axis=1)
                norms[norms == 0] = 1.0
                unit = P / norms[:, None]
                Gr = G.reshape(-1, g.rank)
                Gf = Gr[g.fixed]
                Gf = Gf - np.einsum("ij,ij->i", Gf, unit)[:, None] * unit
                Gr[g.fixed] = Gf * (np.sqrt(g.fixed_sq) / norms)[:, None]
            grad[g.offset : g.offset + g.nparams] = G.ravel()
        grad[self.f.nparams - self.f.free_pos.size :] = gx[self.f.free_pos]
        return val, grad


def _min_eigs(blocks: list[np.ndarray]) -> float:
    """The smallest eigenvalue over all stacked dual blocks."""
    lam = np.inf
    for S in blocks:
        if S.shape[1] > 200:  # only the smallest eigenvalue (LAPACK's MRRR)
            for Sk in S:
                v = scipy.linalg.eigh(
                    Sk,
                    eigvals_only=True,
                    subset_by_index=[0, 0],
                    driver="evr",
                    check_finite=False,
                )
                lam = min(lam, float(v[0]))
        else:
            lam = min(lam, float(np.linalg.eigvalsh(S).min()))
    return lam


class LowRankBackend(Backend):
    """Burer-Monteiro factorization with an augmented Lagrangian (moment form only)."""

    name = "lowrank"
    time_limit_support = "holds"
    forms = ("moment",)

    def solve(self, program: ConicProgram, form: str, options: SolverOptions) -> BackendResult:
        if form != "moment":
            raise ValueError("the lowrank solver works on the moment form only")
        unknown = set(options.extra) - set(DEFAULTS)
        if unknown:
            raise ValueError(
                f"unknown lowrank option(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}"
            )
        opts = {**DEFAULTS, **options.extra}
        tol = options.tol if options.tol is not None else 1e-6
        t0 = time.perf_counter()
        form_ = build_lowrank_form(program, opts)
        fun = _Lagrangian(form_)
        signature = constraint_signature(form_)
        if opts["warm_start"] is not None:
            # same constraints, another objective: start from the earlier factors and
            # multipliers (both objectives are normalized to unit norm, so the multipliers are
            # on the same scale) with the initial penalty: the grown penalty of a converged
            # solve makes the first subproblem of a new objective ill-conditioned
            warm = _warm_state(opts["warm_start"])
            if warm["signature"] != signature:
                raise ValueError(
                    "warm_start comes from a program with different constraints (or another "
                    "factor rank): only the objective may change between warm-started solves"
                )
            theta = np.array(warm["theta"], dtype=float)
            lam_eq = np.array(warm["lam_eq"], dtype=float)
            lam_in = np.array(warm["lam_in"], dtype=float)
            sigma = float(opts["sigma"])
        else:
            rng = np.random.default_rng(opts["seed"])
            theta = rng.standard_normal(form_.nparams)
            for g in form_.groups:
                theta[g.offset : g.offset + g.nparams] /= np.sqrt(g.size * g.rank)
            lam_eq = np.zeros(form_.b_eq.size)
            lam_in = np.zeros(form_.b_in.size)
            sigma = float(opts["sigma"])
        prev_inf = np.inf
        status = "iteration_limit"
        iterations = 0
        max_outer = int(options.max_iters or opts["max_outer"])
        history = []
        gtol = 1e-2
        best = (-np.inf, theta, lam_eq, lam_in)
        since_improved = 0
        deadline = None if options.time_limit is None else t0 + options.time_limit

        def stop_at_deadline(intermediate_result) -> None:
            # the time limit holds inside an inner L-BFGS run too (its last iterate is kept)
            if deadline is not None and time.perf_counter() > deadline:
                raise StopIteration

        for outer in range(max_outer):
            if options.time_limit is not None and time.perf_counter() - t0 > options.time_limit:
                status = "time_limit"
                break
            res = minimize(
                fun,
                theta,
                args=(lam_eq, lam_in, sigma),
                jac=True,
                method="L-BFGS-B",
                callback=stop_at_deadline,
                options={
                    "maxiter": int(opts["inner_iters"]),
                    "gtol": gtol,
                    "ftol": 0.0,
                    "maxcor": 20,
                },
            )
            theta = res.x
            iterations += int(res.nit)
            x = fun.entries(theta)
            h, gi, teq, tin = fun.multipliers(x, lam_eq, lam_in, sigma)
            lam_eq, lam_in = teq, tin
            pinf = max(
                float(np.abs(h).max(initial=0.0)), float(np.maximum(-gi, 0.0).max(initial=0.0))
            )
            gx = fun.grad_x(lam_eq, lam_in)
            primal = float(form_.c @ x)
            Ss, lams = fun.dual_blocks(theta, gx)
            dual = float(lam_eq @ form_.b_eq + lam_in @ form_.b_in)
            dual += sum(float(lam @ g.fixed_sq) for g, lam in zip(form_.groups, lams) if lam.size)
            # a certified-looking dual value: eigenvalue deficit times (a guess of) the trace
            dinf = max(0.0, -_min_eigs(Ss))
            trace = 1.0 + sum(float(np.sum(R * R)) for R in fun.split(theta)[0])
            corrected = dual - dinf * 2.0 * trace
            if form_.free_pos.size:
                corrected -= float(np.abs(gx[form_.free_pos]) @ (1.0 + np.abs(x[form_.free_pos])))
            if corrected > best[0] + tol * (1.0 + abs(best[0])) or not np.isfinite(best[0]):
                since_improved = 0
            else:
                since_improved += 1
            if corrected > best[0]:
                best = (corrected, theta, lam_eq, lam_in)
            gap = (primal - best[0]) / (1.0 + abs(primal))
            history.append((outer, primal, dual, pinf, dinf, sigma, int(res.nit)))
            if options.verbose:
                print(
                    f"lowrank {outer:3d}: primal {primal:+.8e} dual {dual:+.8e} "
                    f"certified~ {best[0]:+.8e} pinf {pinf:.2e} dinf {dinf:.2e} "
                    f"sigma {sigma:.1e} inner {res.nit} {time.perf_counter() - t0:.1f}s",
                    flush=True,
                )
            if pinf < tol and gap < tol:
                status = "optimal"
                break
            if since_improved >= int(opts["stall_outer"]):
                status = "inaccurate"
                break
            if pinf > max(tol, 0.25 * prev_inf):
                sigma = min(sigma * float(opts["sigma_growth"]), float(opts["max_sigma"]))
            prev_inf = min(prev_inf, pinf)
            gtol = max(gtol * 0.3, tol * 1e-2)
        _, theta_b, lam_eq, lam_in = best
        seconds = time.perf_counter() - t0
        state = {
            "theta": theta_b,
            "lam_eq": lam_eq,
            "lam_in": lam_in,
            "sigma": sigma,
            "signature": signature,
        }
        return self._result(
            program,
            form_,
            fun,
            theta_b,
            lam_eq,
            lam_in,
            status,
            iterations,
            seconds,
            history,
            state,
        )

    def _result(
        self,
        program,
        form_,
        fun,
        theta,
        lam_eq,
        lam_in,
        status,
        iterations,
        seconds,
        history,
        state,
    ) -> BackendResult:
        x = fun.entries(theta)
        y = form_.y_map @ x
        gx = fun.grad_x(lam_eq, lam_in)
        scale = form_.obj_scale
        # back to the conic program's multipliers (undo the row and objective scaling)
        mu = np.zeros(program.A_eq.shape[0])
        keep = form_.eq_origin >= 0
        mu[form_.eq_origin[keep]] = (scale * lam_eq / form_.eq_scale)[keep]
        z = np.zeros(program.A_ineq.shape[0])
        lin = scale * lam_in / form_.in_scale
        from_rows = form_.in_origin >= 0
        z[form_.in_origin[from_rows]] = lin[from_rows]
        X: list[np.ndarray | None] = [None] * len(program.block_sizes)
        for k in np.flatnonzero(~from_rows):
            X[-1 - form_.in_origin[k]] = np.array([[lin[k]]])
        Ss, lams = fun.dual_blocks(theta, gx)
        for g, S, lam in zip(form_.groups, Ss, lams):
            for slot, k in enumerate(g.blocks):
                X[k] = scale * S[slot]
            if g.fixed is not None:
                conic = g.fixed_origin >= 0
                np.add.at(mu, g.fixed_origin[conic], scale * lam[conic] / g.fixed_coef[conic])
        for k, s in enumerate(program.block_sizes):
            if X[k] is None:  # a block with no used entry
                X[k] = np.zeros((s, s))
        primal = float(program.c @ y + program.c0)
        dual = program.dual_objective(mu, z, X)
        ranks = [(g.size, g.rank, g.blocks.size) for g in form_.groups]
        return BackendResult(
            status=status,
            y=y,
            mu=mu,
            z=z,
            X=X,
            primal_objective=primal,
            dual_objective=dual,
            iterations=iterations,
            seconds=seconds,
            raw={"history": history, "ranks": ranks, "state": state},
        )
