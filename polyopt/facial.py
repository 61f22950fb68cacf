"""Facial reduction of the forced kernels of small PSD blocks.

Equality constraints put fixed vectors in the kernels of moment and localizing matrices: with
``y (y - z) = 0`` imposed through ``L(h m) = 0`` for every ``m`` of the clique's degree, the
moment matrix ``M`` of the clique satisfies ``M v = 0`` for the coefficient vector ``v`` of
``y^2 - y z`` at every feasible point. Such a program has no strictly feasible point, which
is what stalls interior point methods near the optimum.

A vector ``v`` is *forced* for block ``k`` when every row of ``M_k(y) v`` is an affine
function of ``y`` that vanishes wherever the equality rows hold; sufficient, and what is
tested here, block by block: each row lies in the span of the equality rows that involve only
the block's moments. For a basis ``K`` of the forced vectors, a pivot basis element ``p`` per
vector is dropped: ``M_k`` is PSD if and only if its principal submatrix without the pivots
is, since the pivots' rows are fixed combinations of the others (``M`` = ``W M' W^T``). A moment
that then stands in no kept entry of any block (``y^4`` once ``y^2`` is dropped) is replaced
everywhere by the combination the kernel relation gives it, and equality rows that become
``0 = 0`` are removed.

The reduced program has the same value as the original (in exact arithmetic), smaller blocks
and fewer rows. A dual point of the reduced program is lifted back to the original
(:meth:`FaceReduction.lift`): Gram matrices padded with zeros, equality multipliers by least
squares on the original dual residual, so that the bound is certified on the *original*
program and stays valid whatever rounding did to the reduction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .conic import ConicProgram, plain_entries
from .monomials import lower_triangle

MAX_SIDE = 60
"""Blocks up to this side are tested (the clique blocks of HR-d; ``M_1`` is left alone)."""

KERNEL_TOL = 1e-9
"""Singular values below this, relative to the block's largest coefficient, span the kernel."""

LSQR_ITERS = 2000
"""Iterations of the least-squares solve for the equality multipliers of a lifted point."""

SUBSTITUTION_ROUNDS = 6
"""Rounds of substituting rules into rules before a chain of orphaned moments is given up."""


@dataclass
class FaceReduction:
    """A program, its facially reduced form and the maps between their points."""

    original: ConicProgram
    program: ConicProgram
    kept: list[np.ndarray]  # per block of the original, the basis positions kept
    eq_kept: np.ndarray  # the original equality rows kept (boolean)
    T: sp.csr_matrix  # original moments = T @ reduced moments + t0
    t0: np.ndarray
    dropped: int  # basis elements dropped in all

    def lift(self, y: np.ndarray, mu: np.ndarray, z: np.ndarray, X: list[np.ndarray]):
        """``(y, mu, z, X)`` of the original program from a point of the reduced one."""
        P = self.original
        y_full = self.T @ y + self.t0
        X_full = []
        reduced = iter(X)  # blocks whose whole basis went are not in the reduced program
        for side, keep in zip(P.block_sizes, self.kept):
            if keep.size == side:
                X_full.append(next(reduced))
                continue
            full = np.zeros((side, side))
            if keep.size:
                full[np.ix_(keep, keep)] = next(reduced)
            X_full.append(full)
        mu_full = np.zeros(P.A_eq.shape[0])
        mu_full[self.eq_kept] = mu
        # the reduced residual is T^T times the original one: what is left sits on the
        # substituted moments, and the rows that imply the substitutions take it up
        rest = P.c - P.A_ineq.T @ z - P.adjoint_psd(X_full) - P.A_eq.T @ mu_full
        if np.any(rest):
            sol = spla.lsqr(P.A_eq.T.tocsr(), rest, atol=1e-15, btol=1e-15, iter_lim=LSQR_ITERS)
            mu_full += sol[0]
        return y_full, mu_full, z, X_full


def _local_rows(P: ConicProgram, blocks: np.ndarray) -> dict[int, np.ndarray]:
    """Per block in ``blocks``: the equality rows whose moments all appear in the block."""
    A_eq = P.A_eq.tocsr()
    nnz = np.diff(A_eq.indptr)
    off = P.triangle_offsets
    A_psd = P.A_psd.tocoo()
    blk = np.searchsorted(off, A_psd.row, side="right") - 1
    wanted = np.isin(blk, blocks)
    B = sp.csr_matrix(
        (np.ones(int(wanted.sum())), (blk[wanted], A_psd.col[wanted])),
        shape=(len(P.block_sizes), P.n),
    )
    B.data[:] = 1.0  # duplicates summed: back to an incidence
    pattern = A_eq.copy()
    pattern.data[:] = 1.0
    counts = (pattern @ B.T).tocoo()
    full = (counts.data == nnz[counts.row]) & (nnz[counts.row] > 0)
    rows, ks = counts.row[full], counts.col[full]
    order = np.argsort(ks, kind="stable")
    rows, ks = rows[order], ks[order]
    cuts = np.flatnonzero(np.diff(ks)) + 1
    return {int(g[0]): r for g, r in zip(np.split(ks, cuts), np.split(rows, cuts)) if g.size}


def _pivots(K: np.ndarray) -> np.ndarray:
    """One pivot column per row of the kernel basis ``K`` (rows x side), highest first: the
    highest-degree basis elements go, whose products appear in the fewest other entries."""
    M = K.copy()
    free = list(range(M.shape[0]))
    piv = []
    scale = np.abs(M).max()
    for col in range(M.shape[1] - 1, -1, -1):
        if not free:
            break
        best = max(free, key=lambda q: abs(M[q, col]))
        if abs(M[best, col]) <= 1e-6 * scale:
            continue
        M[best] /= M[best, col]
        for q in range(M.shape[0]):
            if q != best:
                M[q] -= M[q, col] * M[best]
        free.remove(best)
        piv.append(col)
    return np.sort(np.array(piv, dtype=int))


def forced_kernels(P: ConicProgram, max_side: int = MAX_SIDE) -> dict[int, tuple]:
    """Per block: ``(pivots, R)``, ``R`` (kernel x side) with ``R[:, pivots] = I``."""
    A_eq = P.A_eq.tocsr()
    off = P.triangle_offsets
    sides = np.array(P.block_sizes)
    local = _local_rows(P, np.flatnonzero((sides >= 2) & (sides <= max_side)))
    out = {}
    for k, rows in local.items():  # a block no equality row lies in has no forced kernel
        s = int(sides[k])
        Ak = P.A_psd[off[k] : off[k + 1]].tocsr()
        bk = P.b_psd[off[k] : off[k + 1]]
        S = np.unique(Ak.indices)
        pos = np.full(P.n, -1)
        pos[S] = np.arange(S.size)
        m = S.size + 1  # the block's moments and the constant
        Q = np.zeros((m, 0))
        if rows.size:
            E = A_eq[rows].tocoo()
            Ed = np.zeros((rows.size, m))
            Ed[E.row, pos[E.col]] = E.data
            Ed[:, -1] = -P.b_eq[rows]
            _, sv, Vt = np.linalg.svd(Ed, full_matrices=False)
            Q = Vt[: int(np.sum(sv > KERNEL_TOL * max(sv.max(), 1.0)))].T
        i, j = lower_triangle(s)
        C = Ak.tocoo()
        ent = np.zeros((Ak.shape[0], m))
        ent[C.row, pos[C.col]] = C.data
        ent[:, -1] = bk
        scale = max(float(np.abs(ent).max()), 1.0)
        ent -= (ent @ Q) @ Q.T  # what the equality rows do not explain
        T = np.zeros((s, s, m))
        T[i, j] = ent
        T[j, i] = ent
        G = T.transpose(0, 2, 1).reshape(s * m, s)  # column c: rows of M v for v = e_c
        _, sv, Vt = np.linalg.svd(G, full_matrices=False)
        K = Vt[int(np.sum(sv > 1e-8 * scale)) :]
        if K.shape[0] == 0:
            continue
        piv = _pivots(K)
        if piv.size != K.shape[0]:
            continue
        R = np.linalg.solve(K[:, piv], K)
        R[np.abs(R) < 1e-13] = 0.0
        out[k] = (piv, R)
    return out


def reduce_faces(P: ConicProgram, max_side: int = MAX_SIDE) -> FaceReduction | None:
    """The facially reduced program (None when no block has a forced kernel, the program has
    factored rows, or a chain of substitutions does not resolve)."""
    if P.factored is not None or not P.block_sizes:
        return None
    kernels = forced_kernels(P, max_side)
    if not kernels:
        return None
    off = P.triangle_offsets
    A_psd = P.A_psd.tocsr()
    n = P.n
    kept_rows, kept, sizes = [], [], []
    faces = {}  # reduced block -> its face map and the entries of its kept pairs
    for k, s in enumerate(P.block_sizes):
        i, j = lower_triangle(s)
        if k not in kernels:
            kept_rows.append(np.arange(off[k], off[k + 1]))
            kept.append(np.arange(s))
            sizes.append(s)
            continue
        piv, R = kernels[k]
        gone = np.zeros(s, dtype=bool)
        gone[piv] = True
        keep = np.flatnonzero(~gone)
        entry = np.full((s, s), -1)
        entry[i, j] = np.arange(i.size)
        entry[j, i] = np.arange(i.size)
        # basis element a = W[a] . (kept elements) on the face
        W = np.zeros((s, keep.size))
        W[keep, np.arange(keep.size)] = 1.0
        W[piv] = -R[:, keep]
        ku, kv = lower_triangle(keep.size) if keep.size else (np.zeros(0, int), np.zeros(0, int))
        faces[k] = (W, off[k] + entry[keep[ku], keep[kv]], ku, kv, i, j)
        kept_rows.append(off[k] + np.flatnonzero(~gone[i] & ~gone[j]))
        kept.append(keep)
        if keep.size:  # a block that is zero on the whole feasible set leaves the program
            sizes.append(int(keep.size))
    rows = np.concatenate(kept_rows)
    # moments left without a kept plain entry get the rule of their first dropped plain entry:
    # entry (a, b) = sum over kept pairs (u, v) of (W[a] W[b]^T)_uv entry (u, v)
    plain, moment_of = plain_entries(A_psd, P.b_psd)
    in_kept = np.zeros(A_psd.shape[0], dtype=bool)
    in_kept[rows] = True
    homed = np.zeros(n, dtype=bool)
    homed[moment_of[in_kept[plain]]] = True
    orphan = ~in_kept[plain] & ~homed[moment_of]
    sources, targets = plain[orphan], moment_of[orphan]
    _, first = np.unique(targets, return_index=True)
    sources, targets = sources[first], targets[first]
    ci, cj, cv = [], [], []
    for r, e in enumerate(sources):
        k = int(np.searchsorted(off, e, side="right") - 1)
        W, pairs, ku, kv, i, j = faces[k]
        a, b = i[e - off[k]], j[e - off[k]]
        M = np.outer(W[a], W[b])
        coef = M[ku, kv] + np.where(ku != kv, M[kv, ku], 0.0)
        nz = np.flatnonzero(coef)
        ci += [r] * nz.size
        cj += pairs[nz].tolist()
        cv += coef[nz].tolist()
    C = sp.csr_matrix((cv, (ci, cj)), shape=(sources.size, A_psd.shape[0]))
    place = sp.csr_matrix(
        (np.ones(targets.size), (targets, np.arange(targets.size))), shape=(n, targets.size)
    )
    rule = (place @ (C @ A_psd)).tocsr()
    has_rule = np.zeros(n, dtype=bool)
    has_rule[targets] = True
    t0 = np.zeros(n)
    t0[targets] = C @ P.b_psd
    T = (sp.diags(np.where(has_rule, 0.0, 1.0)) + rule).tocsr()
    for _ in range(SUBSTITUTION_ROUNDS):  # rules that use other rules' moments
        T.eliminate_zeros()
        if not np.any(has_rule[T.indices]):
            break
        t0 = t0 + T @ t0  # y = T (T y + t0) + t0, t0 being zero off the rules
        T = (T @ T).tocsr()
    else:
        return None
    if np.any(has_rule & (P.c != 0)):
        return None

    def substitute(A: sp.csr_matrix, b: np.ndarray):
        return (A @ T).tocsr(), b + A @ t0

    A_eq, shift = substitute(P.A_eq.tocsr(), np.zeros(P.A_eq.shape[0]))
    b_eq = P.b_eq - shift
    A_eq.data[np.abs(A_eq.data) <= 1e-13 * max(1.0, np.abs(A_eq.data).max(initial=0.0))] = 0.0
    A_eq.eliminate_zeros()
    eq_kept = np.diff(A_eq.indptr) > 0
    if np.any(np.abs(b_eq[~eq_kept]) > 1e-9 * (1.0 + np.abs(P.b_eq).max(initial=0.0))):
        return None  # an emptied row with a right-hand side: the kernels were not forced
    A_ps, b_ps = substitute(A_psd[rows], P.b_psd[rows])
    A_in, b_in = substitute(P.A_ineq.tocsr(), P.b_ineq)
    row_l1 = None
    if P.row_l1 is not None:
        row_l1 = dict(P.row_l1)
        if "psd" in row_l1:
            row_l1["psd"] = row_l1["psd"][rows]
        if "eq" in row_l1:
            row_l1["eq"] = row_l1["eq"][eq_kept]
    names = [nm for nm, keep in zip(P.row_names, eq_kept) if keep] if P.row_names else []
    blocks = [nm for nm, keep in zip(P.block_names, kept) if keep.size] if P.block_names else []
    reduced = replace(
        P,
        A_eq=A_eq[eq_kept],
        b_eq=b_eq[eq_kept],
        A_psd=A_ps,
        b_psd=b_ps,
        A_ineq=A_in,
        b_ineq=b_in,
        block_sizes=sizes,
        block_names=blocks,
        row_names=names,
        row_l1=row_l1,
    )
    return FaceReduction(
        P, reduced, kept, eq_kept, T, t0, int(sum(len(v[0]) for v in kernels.values()))
    )
