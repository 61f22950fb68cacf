"""The block-arrow standard form of a moment relaxation (for :mod:`polyopt.solvers.arrow.ipm`).

The moment form ``F_k(y) = B_k + sum_a y_a A_k,a`` PSD is rewritten over the block entries: each
moment takes its value from one "home" entry where it stands alone with coefficient 1 (in a
small block when it has one), and every other entry ``e`` of a block gives the row
``S_k[e] - sum_a A[e, a] S[home(a)] = B[e]``. Equality rows refer to a moment through its
entry in a large block when it has one. The result is an SDP in the standard primal form

    minimize <C, S>  subject to  <A_i, S> = b_i,  S = diag(S_1, ..., S_K) PSD

whose rows split into *dense* rows (those touching a large block, the few links of the
cliques to ``M_1``) and *local* rows that touch only the small blocks of one group (one clique
of a sparse or nearly sparse relaxation). Its Schur complement is then block-arrow shaped.

:func:`build_arrow_form` builds the form, :class:`BlockMaps` maps its entry vectors to block
matrices and back, and :func:`recover` maps a solution of the form back to the program.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ...conic import ConicProgram, plain_entries
from ...monomials import lower_triangle
from ..memory import require_memory

BIG_SIDE = 24
"""Blocks with more rows than this are large: their rows join the dense part."""

GROUP_LIMIT = 3000
"""Most local rows one group may hold (its Schur block is factored densely)."""


class NotArrow(ValueError):
    """The program has no block-arrow structure this solver can use."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"the block-arrow solver does not apply: {reason}; use solver='clarabel', 'sdpa' "
            "or 'scs' (or the default choice, solver=None)"
        )
        self.reason = reason

    def __reduce__(self):  # pickled from a child process (time limits): rebuilt from the reason
        return (NotArrow, (self.reason,))


@dataclass
class SizeClass:
    """The small blocks of one side ``s``, handled as a batch."""

    side: int
    blocks: np.ndarray  # global block ids (nb,)
    entry: np.ndarray  # global entry ids of their triangles (nb, ntri)
    rows: np.ndarray  # rows touching each block, padded with -1 (nb, R)
    coef: np.ndarray  # each row's symmetric coefficient matrix on the block (nb, R, s, s)


@dataclass
class BigBlock:
    """A large block and the parts ``P_i`` of the dense rows on it.

    Rows with one entry ``alpha S[p, q]`` (the links of clique moments to ``M_1``) are kept as
    index arrays; the others as eigen-factors ``P_i = sum lam u u^T`` (few, of low rank),
    ``rank`` columns per row."""

    block: int
    side: int
    entry: np.ndarray  # global entry ids of its triangle
    p: np.ndarray  # one-entry rows: positions (p >= q), coefficient, dense-row position
    q: np.ndarray
    alpha: np.ndarray
    simple: np.ndarray
    general: np.ndarray  # dense-row positions of the other rows
    Ut: sp.csr_matrix  # their factors side by side, ``rank`` per row (zero-padded), transposed
    lam: np.ndarray
    rank: int


@dataclass
class ArrowForm:
    """``min c . s + c0  s.t.  A s = b`` over the lower-triangle entries ``s`` of the blocks."""

    sizes: list[int]
    offsets: np.ndarray  # entry offsets per block
    A: sp.csr_matrix  # rows x entries (entry coefficients: <A_i, S> = A[i] . s)
    b: np.ndarray
    c: np.ndarray  # entry coefficients of the objective
    c0: float
    home: np.ndarray  # entry id holding each moment
    eq_rows: np.ndarray  # row of each equality of the program (for its multiplier)
    dense: np.ndarray  # ids of the dense rows
    group: np.ndarray  # group of each row (-1 for dense rows)
    classes: list[SizeClass]
    bigs: list[BigBlock]
    n_ineq: int  # the program's inequalities, appended as the last 1 x 1 blocks

    @property
    def m(self) -> int:
        return int(self.A.shape[0])

    @property
    def nu(self) -> int:
        """The barrier parameter: the total side of the blocks."""
        return int(sum(self.sizes))


def _sym_unit(side: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Entry coefficient -> matrix coefficient factor: 1 on the diagonal, 1/2 off it."""
    return np.where(i == j, 1.0, 0.5)


def has_homes(program: ConicProgram) -> bool:
    """True when every moment stands alone in some PSD block entry (the arrow form exists)."""
    A_psd = program.A_psd.tocsr()
    homed = np.zeros(program.n, dtype=bool)
    homed[plain_entries(A_psd, program.b_psd)[1]] = True
    used = np.zeros(program.n, dtype=bool)
    used[A_psd.indices] = True
    return bool(np.all(homed | ~used))


def dense_rows_estimate(program: ConicProgram, big_side: int = BIG_SIDE) -> int:
    """About how many rows of the arrow form couple entries of blocks of side > ``big_side``
    (the side of its dense Schur block): their entries less the distinct moments they hold.

    Small for first-order moment matrices (every entry its own moment), large for high-order
    moment matrices (a moment repeats along the anti-diagonals)."""
    sizes = np.asarray(program.block_sizes, dtype=int)
    entries = sizes * (sizes + 1) // 2
    big = np.repeat(sizes > big_side, entries)
    if not big.any():
        return 0
    A_big = program.A_psd.tocsr()[np.flatnonzero(big)]
    return int(big.sum()) - int(np.unique(A_big.indices).size)


def _drop_defining_rows(A_eq: sp.csr_matrix, free: np.ndarray) -> np.ndarray:
    """Equality rows to keep: a row that is the only one holding a moment found nowhere
    else only defines that moment's value and is dropped (repeatedly)."""
    keep = np.ones(A_eq.shape[0], dtype=bool)
    if not np.any(free):
        return keep
    csc = A_eq.tocsc()
    while True:
        active = sp.diags(keep.astype(float)) @ csc
        active.eliminate_zeros()
        counts = np.diff(active.tocsc().indptr)
        solo = np.flatnonzero(free & (counts == 1))
        if solo.size == 0:
            return keep
        act = active.tocsc()
        keep[act.indices[act.indptr[solo]]] = False


def _pivoted_rank(K: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """Numerical rank, pivot order and the Cholesky factor ``L`` (``rank x rank``, lower) of
    the pivoted basis ``K[basis][:, basis] = L L^T``, by pivoted Cholesky of the PSD ``K``."""
    if K.shape[0] == 0:
        return 0, np.zeros(0, dtype=int), np.zeros((0, 0))
    scale = max(float(np.max(np.diag(K))), 1e-300)
    c, piv, rank, _ = sla.lapack.dpstrf(K / scale, lower=1, tol=1e-11)
    L = np.tril(c[:rank, :rank]) * np.sqrt(scale)
    return int(rank), piv[: K.shape[0]] - 1, L


def _basis_solve(L: np.ndarray, R: np.ndarray) -> np.ndarray:
    """``K_basis^{-1} R`` from the basis's Cholesky factor ``L``."""
    return sla.cho_solve((L, True), R, check_finite=False)


def _check_consistent(
    K: np.ndarray, b: np.ndarray, basis: np.ndarray, dep: np.ndarray, L: np.ndarray
) -> None:
    """The dependent rows' right-hand sides must be the same combination of the others'."""
    if dep.size == 0:
        return
    coef = _basis_solve(L, K[np.ix_(basis, dep)])
    if np.max(np.abs(coef.T @ b[basis] - b[dep])) > 1e-7 * (1.0 + np.abs(b).max()):
        raise ValueError("the relaxation is infeasible: its equality rows are inconsistent")


def _independent_rows(
    A: sp.csr_matrix, b: np.ndarray, group: np.ndarray, weight: np.ndarray
) -> np.ndarray:
    """Mask of the rows to keep so that they are linearly independent.

    Moment relaxations repeat identities (through ``v^2 = v``, ``y (y - z) = 0`` and the
    like). The Gram matrix ``K = A W A^T`` of the rows (``W``: the Frobenius weights of the
    entries) is eliminated in the arrow order: each group by pivoted Cholesky, then the
    dense rows' Schur complement."""
    m = A.shape[0]
    keep = np.ones(m, dtype=bool)
    K = (A @ sp.diags(weight) @ A.T).tocsr()
    local = np.flatnonzero(group >= 0)
    dense = np.flatnonzero(group < 0)
    order = local[np.argsort(group[local], kind="stable")]
    cuts = np.flatnonzero(np.diff(group[order])) + 1
    dpos = np.full(m, -1)
    dpos[dense] = np.arange(dense.size)
    S = K[dense][:, dense].toarray()
    for rows in np.split(order, cuts) if order.size else []:
        Kg = K[rows][:, rows].toarray()
        rank, piv, L = _pivoted_rank(Kg)
        _check_consistent(Kg, b[rows], piv[:rank], piv[rank:], L)
        keep[rows[piv[rank:]]] = False
        basis = rows[piv[:rank]]
        if dense.size == 0 or rank == 0:
            continue
        KgD = K[basis][:, dense]
        touched = np.unique(KgD.indices)
        if touched.size == 0:
            continue
        B = KgD[:, touched].toarray()
        S[np.ix_(touched, touched)] -= B.T @ _basis_solve(L, B)
    if dense.size:
        S = 0.5 * (S + S.T)
        rank, piv, _ = _pivoted_rank(S)
        keep[dense[piv[rank:]]] = False
    return keep


ADVICE = (
    "try sparsity='correlative' or 'nearly', a lower order, or solver='scs' / 'lowrank' "
    "(first order, memory linear in the program)"
)


def build_arrow_form(
    program: ConicProgram, big_side: int = BIG_SIDE, max_memory_gb: float | None = None
) -> ArrowForm:
    """The block-arrow form of ``program`` (raises :class:`NotArrow` when it has none)."""
    q = program.A_ineq.shape[0]
    A_psd = sp.vstack([program.A_psd, program.A_ineq], format="csr")
    b_psd = np.concatenate([program.b_psd, program.b_ineq])
    sizes = [int(s) for s in program.block_sizes] + [1] * q
    offsets = np.cumsum([0] + [s * (s + 1) // 2 for s in sizes])
    T = int(offsets[-1])
    n = program.n
    blk_of = np.repeat(np.arange(len(sizes)), np.diff(offsets))
    side_of = np.array(sizes)[blk_of]
    big_entry = side_of > big_side

    # homes: plain entries (one moment, coefficient 1, no constant), small blocks first
    plain, moment = plain_entries(A_psd, b_psd)
    score = np.where(big_entry[plain], -1, side_of[plain])
    order = np.lexsort((-score, moment))
    moment_s, plain_s = moment[order], plain[order]
    first = np.ones(moment_s.size, dtype=bool)
    first[1:] = moment_s[1:] != moment_s[:-1]
    home = np.full(n, -1)
    home[moment_s[first]] = plain_s[first]
    used = np.zeros(n, dtype=bool)
    used[A_psd.indices] = True
    used[program.c != 0] = True
    eq_keep = _drop_defining_rows(program.A_eq, ~used)
    used[program.A_eq[eq_keep].indices] = True
    if np.any((home < 0) & used):
        missing = int(np.flatnonzero((home < 0) & used)[0])
        raise NotArrow(f"moment {missing} is no plain entry of any PSD block")
    # the reference of a moment in equality rows and the objective: a large-block entry if any
    ref = home.copy()
    on_big = big_entry[plain]
    ref[moment[on_big]] = plain[on_big]

    # rows from the non-home entries
    is_home = np.zeros(T, dtype=bool)
    is_home[home[home >= 0]] = True
    ent = np.flatnonzero(~is_home)
    sub = A_psd[ent].tocoo()
    r1 = np.concatenate([np.arange(ent.size), sub.row])
    c1 = np.concatenate([ent, home[sub.col]])
    v1 = np.concatenate([np.ones(ent.size), -sub.data])
    b1 = b_psd[ent]
    # equality rows
    p = program.A_eq.shape[0]
    eq = sp.diags(eq_keep.astype(float)) @ program.A_eq
    eq = eq.tocoo()
    r2 = ent.size + eq.row
    c2 = ref[eq.col]
    A = sp.csr_matrix(
        (np.concatenate([v1, eq.data]), (np.concatenate([r1, r2]), np.concatenate([c1, c2]))),
        shape=(ent.size + p, T),
    )
    A.sum_duplicates()
    A.eliminate_zeros()
    b = np.concatenate([b1, program.b_eq])
    empty = np.diff(A.indptr) == 0
    if np.any(empty & (np.abs(b) > 0)):
        raise NotArrow("an equality row has no variable but a nonzero right-hand side")
    keep = np.flatnonzero(~empty)
    eq_rows = np.full(p, -1)
    newpos = np.cumsum(~empty) - 1
    eq_ok = ~empty[ent.size :]
    eq_rows[eq_ok] = newpos[ent.size :][eq_ok]
    A, b = A[keep], b[keep]
    c = np.zeros(T)
    np.add.at(c, ref, program.c)

    # dense rows touch a large block; local rows are grouped by the small blocks they share
    m = A.shape[0]
    coo = A.tocoo()
    rb = blk_of[coo.col]
    touches_big = np.zeros(m, dtype=bool)
    touches_big[coo.row[big_entry[coo.col]]] = True
    nb = len(sizes)
    loc = ~touches_big[coo.row]
    lr, lb = coo.row[loc], rb[loc]
    first_blk = np.full(m, -1)
    first_blk[lr[::-1]] = lb[::-1]
    graph = sp.csr_matrix((np.ones(lr.size), (first_blk[lr], lb)), shape=(nb, nb))
    _, label = connected_components(graph, directed=False)
    group = np.where(touches_big, -1, label[np.maximum(first_blk, 0)])
    if np.any(np.bincount(group[group >= 0]) > GROUP_LIMIT):
        raise NotArrow("the local rows form a group too large to factor densely")
    tri_i = np.concatenate([lower_triangle(sz)[0] for sz in sizes])
    tri_j = np.concatenate([lower_triangle(sz)[1] for sz in sizes])
    ndense = int(np.count_nonzero(group < 0))
    require_memory(  # the dense rows' Gram matrix, formed below, and later their Schur block
        8 * ndense * ndense,
        max_memory_gb,
        f"the arrow solver's form ({ndense} rows coupled through blocks of side > {big_side})",
        ADVICE,
    )
    independent = _independent_rows(A, b, group, np.where(tri_i == tri_j, 1.0, 0.5))
    if not np.all(independent):
        A, b, group, touches_big = (
            A[independent],
            b[independent],
            group[independent],
            touches_big[independent],
        )
        newpos = np.cumsum(independent) - 1
        had = eq_rows >= 0
        kept = had.copy()
        kept[had] = independent[eq_rows[had]]
        eq_rows = np.where(kept, newpos[np.maximum(eq_rows, 0)], -1)
        m = A.shape[0]
        coo = A.tocoo()
        rb = blk_of[coo.col]
    dense = np.flatnonzero(touches_big)

    # per small block: the rows touching it and their coefficient matrices
    classes = []
    pair_blk, pair_row = rb, coo.row
    small_sides = sorted({s for s in sizes if s <= big_side})
    for s in small_sides:
        bl = np.flatnonzero(np.array(sizes) == s)
        i, j = lower_triangle(s)
        entry = offsets[bl][:, None] + np.arange(i.size)[None, :]
        sel = np.isin(pair_blk, bl)
        pb, pr, pe, pv = pair_blk[sel], pair_row[sel], coo.col[sel], coo.data[sel]
        pos_of_blk = np.full(nb, -1)
        pos_of_blk[bl] = np.arange(bl.size)
        bpos = pos_of_blk[pb]
        # unique (block, row) pairs -> slot per block
        key = bpos.astype(np.int64) * m + pr
        ukey, inv = np.unique(key, return_inverse=True)
        ub = ukey // m
        ur = ukey % m
        counts = np.bincount(ub, minlength=bl.size)
        R = max(int(counts.max(initial=0)), 1)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        slot = np.arange(ukey.size) - starts[ub]
        rows = np.full((bl.size, R), -1)
        rows[ub, slot] = ur
        coef = np.zeros((bl.size, R, s, s))
        t = pe - offsets[pb]
        ti, tj = i[t], j[t]
        w = pv * _sym_unit(s, ti, tj)
        np.add.at(coef, (bpos, slot[inv], ti, tj), w)
        off = ti != tj
        np.add.at(coef, (bpos[off], slot[inv][off], tj[off], ti[off]), w[off])
        classes.append(SizeClass(s, bl, entry, rows, coef))

    dpos = np.full(m, -1)
    dpos[dense] = np.arange(dense.size)
    bigs = []
    for k in np.flatnonzero(np.array(sizes) > big_side):
        s = sizes[k]
        i, j = lower_triangle(s)
        entry = offsets[k] + np.arange(i.size)
        sel = blk_of[coo.col] == k
        pr, pe, pv = coo.row[sel], coo.col[sel] - offsets[k], coo.data[sel]
        order = np.argsort(pr, kind="stable")
        pr, pe, pv = pr[order], pe[order], pv[order]
        bounds = np.flatnonzero(np.diff(np.concatenate([[-1], pr, [m + 1]])))
        starts, stops = bounds[:-1], bounds[1:]
        one = (stops - starts) == 1
        first = starts[one]
        general, factors = [], []
        for a, z in zip(starts[~one], stops[~one]):
            tt, vv = pe[a:z], pv[a:z]
            ti, tj = i[tt], j[tt]
            supp = np.unique(np.concatenate([ti, tj]))
            loc_i, loc_j = np.searchsorted(supp, ti), np.searchsorted(supp, tj)
            P = np.zeros((supp.size, supp.size))
            wv = vv * _sym_unit(s, ti, tj)
            np.add.at(P, (loc_i, loc_j), wv)
            offd = ti != tj
            np.add.at(P, (loc_j[offd], loc_i[offd]), wv[offd])
            ev, V = np.linalg.eigh(P)
            keep_ev = np.abs(ev) > 1e-12 * max(np.abs(ev).max(), 1e-300)
            Ufull = np.zeros((s, int(keep_ev.sum())))
            Ufull[supp] = V[:, keep_ev]
            general.append(dpos[pr[a]])
            factors.append((Ufull, ev[keep_ev]))
        r = max([lv.size for _, lv in factors] + [1])
        U = np.zeros((s, r * len(factors)))
        lam = np.zeros(r * len(factors))
        for f, (u, lv) in enumerate(factors):
            U[:, f * r : f * r + lv.size] = u
            lam[f * r : f * r + lv.size] = lv
        bigs.append(
            BigBlock(
                int(k),
                s,
                entry,
                i[pe[first]],
                j[pe[first]],
                pv[first],
                dpos[pr[first]],
                np.array(general, dtype=int),
                sp.csr_matrix(U.T),
                lam,
                r,
            )
        )
    return ArrowForm(
        sizes,
        offsets,
        A,
        b,
        c,
        float(program.c0),
        home,
        eq_rows,
        dense,
        group,
        classes,
        bigs,
        q,
    )


class BlockMaps:
    """Maps between the entry vector and the per-class / per-large-block matrices."""

    def __init__(self, form: ArrowForm) -> None:
        self.form = form
        self.parts = []  # (entry ids, i, j, side, batched)
        for cl in form.classes:
            i, j = lower_triangle(cl.side)
            self.parts.append((cl.entry, i, j, cl.side, True))
        for bb in form.bigs:
            i, j = lower_triangle(bb.side)
            self.parts.append((bb.entry, i, j, bb.side, False))

    def identity(self, scale: float = 1.0) -> list[np.ndarray]:
        out = []
        for entry, _, _, s, batched in self.parts:
            eye = np.eye(s) * scale
            out.append(np.broadcast_to(eye, (entry.shape[0], s, s)).copy() if batched else eye)
        return out

    def to_entries(self, Ks: list[np.ndarray]) -> np.ndarray:
        """Lower-triangle entries of the symmetric parts of ``Ks``."""
        v = np.zeros(self.form.A.shape[1])
        for (entry, i, j, _, batched), K in zip(self.parts, Ks):
            if batched:
                v[entry] = 0.5 * (K[:, i, j] + K[:, j, i])
            else:
                v[entry] = 0.5 * (K[i, j] + K[j, i])
        return v

    def to_mats(self, v: np.ndarray) -> list[np.ndarray]:
        """Symmetric matrices ``sum_e v_e E_e`` (off-diagonal entries halved)."""
        out = []
        for entry, i, j, s, batched in self.parts:
            w = v[entry] * np.where(i == j, 1.0, 0.5)
            if batched:
                M = np.zeros((entry.shape[0], s, s))
                M[:, i, j] = w
                M[:, j, i] = w
            else:
                M = np.zeros((s, s))
                M[i, j] = w
                M[j, i] = w
            out.append(M)
        return out


def recover(
    form: ArrowForm, y_dual: np.ndarray, Xs: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """``(y, mu, z, X)`` of the conic program from a solution of its arrow form: the moments
    from the home entries of the primal blocks ``Xs``, the Gram matrices ``X`` and the
    inequality multipliers ``z`` from the dual slack ``C - A^T y_dual``, the equality
    multipliers ``mu`` from ``y_dual``."""
    ops = BlockMaps(form)
    s = ops.to_entries(Xs)
    y = np.where(form.home >= 0, s[np.maximum(form.home, 0)], 0.0)
    Zs = ops.to_mats(form.c - form.A.T @ y_dual)
    # back to the program's blocks
    nblk = len(form.sizes)
    full: list[np.ndarray | None] = [None] * nblk
    for cl, Z in zip(form.classes, Zs):
        for b, Zb in zip(cl.blocks, Z):
            full[b] = Zb
    for bb, Z in zip(form.bigs, Zs[len(form.classes) :]):
        full[bb.block] = Z
    nprog = nblk - form.n_ineq
    X = [np.asarray(full[k]) for k in range(nprog)]
    z = np.array([float(full[k][0, 0]) for k in range(nprog, nblk)])
    mu = np.where(form.eq_rows >= 0, y_dual[np.maximum(form.eq_rows, 0)], 0.0)
    return y, mu, z, X
