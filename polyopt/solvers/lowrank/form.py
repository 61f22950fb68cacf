"""The low-rank form of a moment relaxation (for :mod:`.augmented_lagrangian`).

The moment form is rewritten over the PSD blocks themselves: every moment takes its value
from one *representative* entry of a block (an entry that is that moment alone), every other
block entry becomes a linear equality ("link") to the moments it stands for, and 1 x 1 blocks
become inequalities. Rows fixing one diagonal entry (``M_00 = 1``, ``x_i^2 = 1``) are kept
aside: the solver holds them exactly by fixing the norm of a factor row. Rows and objective
are scaled to unit norm.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ...conic import ConicProgram
from ...monomials import lower_triangle


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
    factored: list[_FactoredGroup] = field(default_factory=list)


@dataclass
class _FactoredGroup:
    """Factored terms ``coef * ||R^T f||^2`` of A_eq rows on the blocks of one group."""

    group: int  # index into LowRankForm.groups
    slot: np.ndarray  # the block's position in the group's stack, per term
    row: np.ndarray  # the A_eq row of the form, per term
    F: sp.csr_matrix  # terms x side
    coef: np.ndarray  # scaled like the row


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
    for fg in form.factored:
        for a in (fg.slot, fg.row, fg.F.indptr, fg.F.indices, fg.F.data, fg.coef):
            add(a)
    return h.hexdigest()


def _normalize(
    A: sp.csr_matrix, b: np.ndarray, extra_sq: np.ndarray | None = None
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    sq = np.asarray(A.multiply(A).sum(axis=1)).ravel() + b**2
    norms = np.sqrt(sq if extra_sq is None else sq + extra_sq)
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
    fr = program.factored
    if fr is not None:  # a row with factored terms fixes no diagonal entry alone
        ok &= ~np.isin(eq_origin[single], fr.eq_row)
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

    # factored terms: their form rows, and their size in the row norms
    fac_row = np.zeros(0, dtype=np.int64)
    extra_sq = None
    if fr is not None:
        where = np.full(program.A_eq.shape[0], -1)
        prog_rows = np.flatnonzero(eq_origin >= 0)
        where[eq_origin[prog_rows]] = prog_rows
        fac_row = where[fr.eq_row]
        fnorm_sq = np.asarray(fr.F.multiply(fr.F).sum(axis=1)).ravel()
        extra_sq = np.bincount(fac_row, (fr.coef * fnorm_sq) ** 2, minlength=A_eq.shape[0])
    # unit-norm rows and objective (zero rows keep norm 1)
    A_eq, b_eq, eq_scale = _normalize(A_eq, b_eq, extra_sq)
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
    if fr is not None:
        pairs = np.unique(np.column_stack([fac_row, fr.block]), axis=0)
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
    factored = []
    if fr is not None:
        group_of = np.full(nb, -1)
        slot_of = np.full(nb, -1)
        for gi, g in enumerate(groups):
            group_of[g.blocks] = gi
            slot_of[g.blocks] = np.arange(g.blocks.size)
        if np.any(group_of[fr.block] < 0):
            raise ValueError("a factored row reads a 1 x 1 block; the lowrank form needs side >= 2")
        for gi in np.unique(group_of[fr.block]):
            on = np.flatnonzero(group_of[fr.block] == gi)
            side = groups[gi].size
            factored.append(
                _FactoredGroup(
                    int(gi),
                    slot_of[fr.block[on]],
                    fac_row[on],
                    fr.F[on][:, :side].tocsr(),
                    fr.coef[on] / eq_scale[fac_row[on]],
                )
            )
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
        factored,
    )
