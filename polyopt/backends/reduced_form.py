"""The Gram form with the largest moment matrix eliminated (for SDPA).

When one PSD block is a plain moment matrix (each lower-triangle entry is a single moment with
coefficient 1, or a constant, and no moment occurs twice), as ``M_1`` in Shor's relaxation and
in HR-d, the Gram equality of each of its moments determines that entry of the block's Gram
matrix ``X_K``::

    w_r X_K[r] = c_alpha - (A_eq^T mu + A_ineq^T z + sum_{k != K} A_k^*(X_k))_alpha

so ``X_K`` is an affine function of the other dual variables and ``X_K >= 0`` becomes an LMI in
them. An interior point method then works with one Schur complement row per remaining dual
variable (multipliers and small Gram blocks) instead of one per moment: for Shor's relaxation
of a QCQP with ``n`` variables and ``m`` constraints, ``m + 1`` rows instead of ``O(n^2)``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..conic import ConicProgram
from ..monomials import lower_triangle


@dataclass
class Reduced:
    """sdpap data ``min c.x  s.t.  A x - b in J, x free`` and how to map solutions back."""

    A: sp.csc_matrix
    b: np.ndarray
    c: np.ndarray
    const: float
    free: int
    eq_rows: int
    nonneg: int
    sizes: list[int]
    big: int
    p: int
    q: int
    small: list[int]
    small_offsets: np.ndarray
    owned_rows: np.ndarray  # rows r of the big block owned by a moment
    owned_moments: np.ndarray
    const_rows: np.ndarray  # rows of the big block with no moment (free Gram entries)
    left_moments: np.ndarray  # moments whose Gram equality stays
    G: sp.csr_matrix  # n x free: A_eq^T mu + A_ineq^T z + sum_small A_k^*(X_k)
    weights: np.ndarray  # w_r of the big block's triangle

    @property
    def ones(self) -> int:
        """Number of 1 x 1 small blocks (listed first)."""
        return sum(1 for s in self.sizes[:-1] if s == 1)

    T: sp.csr_matrix | None = None  # x = x0 + T xi after eliminating the equalities
    x0: np.ndarray | None = None


@functools.lru_cache(maxsize=64)
def _full_expand(size: int) -> sp.csr_matrix:
    """Triangle (column-major lower) -> full column-major vector of a symmetric block."""
    i, j = lower_triangle(size)
    t = np.arange(i.size)
    off = i != j
    rows = np.concatenate([i + j * size, j[off] + i[off] * size])
    cols = np.concatenate([t, t[off]])
    return sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(size * size, i.size))


def fully_reducible(program: ConicProgram) -> bool:
    """True when the largest block is a plain moment matrix holding every moment (Shor-type
    relaxations): the reduced form then leaves no equality and suits SDPA best. (With
    leftover equalities, as in HR-d, their elimination can leave directions of zero objective
    that make SDPA's Schur complement singular; the reduced form stays available by name.)"""
    cached = getattr(program, "_reduced_form", False)
    if cached is not False:
        return cached is not None and cached.eq_rows == 0 and cached.T is None
    red = reduce_program(program)  # without the (costly) elimination of leftover equalities
    if red is None or red.eq_rows:
        return False
    program._reduced_form = red  # type: ignore[attr-defined]  # already its reduced_form
    return True


def reduced_form(program: ConicProgram) -> Reduced | None:
    """:func:`reduce_program` then :func:`eliminate_equalities`, computed once per program."""
    cached = getattr(program, "_reduced_form", False)
    if cached is not False:
        return cached
    red = reduce_program(program)
    if red is not None:
        red = eliminate_equalities(red)
    program._reduced_form = red  # type: ignore[attr-defined]
    return red


def reduce_program(program: ConicProgram) -> Reduced | None:
    """The reduced data, or None when no block qualifies (see the module docstring)."""
    if not program.block_sizes:
        return None
    big = int(np.argmax(program.block_sizes))
    s_big = program.block_sizes[big]
    off = program.triangle_offsets
    A_big = program.A_psd[off[big] : off[big + 1]].tocsr()
    b_big = program.b_psd[off[big] : off[big + 1]]
    nnz = np.diff(A_big.indptr)
    if np.any(nnz > 1):
        return None
    owned_rows = np.flatnonzero(nnz == 1)
    moments = A_big.indices[A_big.indptr[owned_rows]]
    if (
        not np.allclose(A_big.data, 1.0)
        or np.any(b_big[owned_rows] != 0)
        or np.unique(moments).size != moments.size
    ):
        return None
    const_rows = np.flatnonzero(nnz == 0)
    n = program.n
    p, q = program.A_eq.shape[0], program.A_ineq.shape[0]
    # 1 x 1 blocks first: the solver takes them as a nonnegative (LP) cone
    small = sorted(
        (k for k in range(len(program.block_sizes)) if k != big),
        key=lambda k: program.block_sizes[k] != 1,
    )
    small_sizes = [program.block_sizes[k] for k in small]
    tri = [s * (s + 1) // 2 for s in small_sizes]
    small_offsets = np.cumsum([0] + tri)
    nfree_k = const_rows.size
    nx = p + q + int(small_offsets[-1]) + nfree_k

    # G: the dual contributions to each moment's Gram equality, as a map from x
    parts = [program.A_eq.T.tocsr(), program.A_ineq.T.tocsr()]
    if small:
        rows = np.concatenate([np.arange(off[k], off[k + 1]) for k in small])
        w = np.concatenate(
            [np.where(np.equal(*lower_triangle(sz)), 1.0, 2.0) for sz in small_sizes]
        )
        parts.append((sp.diags(w) @ program.A_psd[rows]).T.tocsr())
    parts.append(sp.csr_matrix((n, nfree_k)))
    G = sp.hstack(parts, format="csr")

    i, j = lower_triangle(s_big)
    weights = np.where(i == j, 1.0, 2.0)
    owned = np.zeros(n, dtype=bool)
    owned[moments] = True
    left = np.flatnonzero(~owned)

    # J rows: leftover equalities, z >= 0, small blocks, the big block
    eq_A = G[left]
    eq_b = program.c[left]
    nn_A = sp.hstack(
        [sp.csr_matrix((q, p)), sp.identity(q, format="csr"), sp.csr_matrix((q, nx - p - q))],
        format="csr",
    )
    blocks_A, blocks_b = [], []
    if small:  # every small block's triangle variables, expanded to full matrices at once
        ntri = int(small_offsets[-1])
        expand_all = sp.block_diag([_full_expand(sz) for sz in small_sizes], format="csr")
        blocks_A.append(
            sp.hstack(
                [
                    sp.csr_matrix((expand_all.shape[0], p + q)),
                    expand_all,
                    sp.csr_matrix((expand_all.shape[0], nx - p - q - ntri)),
                ],
                format="csr",
            )
        )
        blocks_b.append(np.zeros(expand_all.shape[0]))
    # big block triangle: owned rows (c_alpha - G_alpha x) / w_r, constant rows free entries
    tb = np.zeros(i.size)
    Go = (sp.diags(-1.0 / weights[owned_rows]) @ G[moments]).tocsr()
    Tb = sp.vstack([Go, sp.csr_matrix((const_rows.size, nx))], format="csr")
    order = np.concatenate([owned_rows, const_rows])
    perm = sp.csr_matrix(
        (np.ones(order.size), (order, np.arange(order.size))), shape=(i.size, order.size)
    )
    Tb = perm @ Tb
    free_cols = p + q + int(small_offsets[-1]) + np.arange(nfree_k)
    Tb = Tb + sp.csr_matrix((np.ones(nfree_k), (const_rows, free_cols)), shape=(i.size, nx))
    tb[owned_rows] = program.c[moments] / weights[owned_rows]
    blocks_A.append(_full_expand(s_big) @ Tb)
    blocks_b.append(-(_full_expand(s_big) @ tb))

    A = sp.vstack([eq_A, nn_A, *blocks_A], format="csc")
    b = np.concatenate([eq_b, np.zeros(q), *blocks_b])

    # objective: minimize -(c0 + b_eq.mu - b_ineq.z - sum_k <B_k, X_k>)
    cvec = np.zeros(nx)
    cvec[:p] = -program.b_eq
    cvec[p : p + q] = program.b_ineq
    for k, s, o in zip(small, small_sizes, small_offsets[:-1]):
        ii, jj = lower_triangle(s)
        w = np.where(ii == jj, 1.0, 2.0)
        cvec[p + q + int(o) : p + q + int(o) + ii.size] = w * program.b_psd[off[k] : off[k + 1]]
    cvec[free_cols] = weights[const_rows] * b_big[const_rows]
    return Reduced(
        A,
        b,
        cvec,
        -program.c0,
        nx,
        left.size,
        q,
        small_sizes + [s_big],
        big,
        p,
        q,
        small,
        small_offsets,
        owned_rows,
        moments,
        const_rows,
        left,
        G,
        weights,
    )


MAX_COMPONENT = 2000
"""Largest group of coupled variables whose equalities are eliminated by a dense SVD."""


def eliminate_equalities(red: Reduced) -> Reduced:
    """Remove the leftover equalities ``E x = e`` by parametrizing their solutions
    ``x = x0 + T xi``, one connected group of coupled variables at a time (the groups are
    small for clique-structured relaxations). Returns ``red`` unchanged when a group is too
    large."""
    m = red.eq_rows
    if m == 0:
        return red
    A = red.A.tocsr()
    E, e = A[:m], red.b[:m]
    nx = red.free
    touched = np.unique(E.indices)
    adj = (E.T @ E).tocsr()
    ncomp, label = connected_components(adj, directed=False)
    nnz_rows = np.diff(E.indptr)
    if np.any(nnz_rows == 0):
        return red  # an equality with no variable: leave it to the solver
    comp_of_row = label[E.indices[E.indptr[:-1]]]
    x0 = np.zeros(nx)
    rows_T, cols_T, vals_T = [], [], []
    free_mask = np.ones(nx, dtype=bool)
    free_mask[touched] = False
    keep = np.flatnonzero(free_mask)
    rows_T.append(keep)
    cols_T.append(np.arange(keep.size))
    vals_T.append(np.ones(keep.size))
    ncol = keep.size
    order_rows = np.argsort(comp_of_row, kind="stable")
    starts = np.searchsorted(comp_of_row[order_rows], np.arange(ncomp + 1))
    comp_cols = {}
    for c in np.unique(label[touched]):
        comp_cols[c] = []
    for col in touched:
        comp_cols[label[col]].append(col)
    for c, cols in comp_cols.items():
        cols = np.array(cols)
        if cols.size > MAX_COMPONENT:
            return red
        rows = order_rows[starts[c] : starts[c + 1]]
        Ec = E[rows][:, cols].toarray()
        U, sv, Vt = np.linalg.svd(Ec, full_matrices=True)
        rank = int(np.sum(sv > 1e-12 * max(sv.max(initial=0.0), 1.0)))
        x0[cols] = Vt[:rank].T @ ((U[:, :rank].T @ e[rows]) / sv[:rank])
        if np.linalg.norm(Ec @ x0[cols] - e[rows]) > 1e-9 * (1.0 + np.linalg.norm(e[rows])):
            return red  # inconsistent equalities: leave them to the solver
        N = Vt[rank:].T
        if N.shape[1]:
            r_idx, c_idx = np.nonzero(np.abs(N) > 0)
            rows_T.append(cols[r_idx])
            cols_T.append(ncol + c_idx)
            vals_T.append(N[r_idx, c_idx])
            ncol += N.shape[1]
    T = sp.csr_matrix(
        (np.concatenate(vals_T), (np.concatenate(rows_T), np.concatenate(cols_T))),
        shape=(nx, ncol),
    )
    rest = A[m:]
    red.A = (rest @ T).tocsc()
    red.b = red.b[m:] - rest @ x0
    red.const = red.const + float(red.c @ x0)
    red.c = T.T @ red.c
    red.free = ncol
    red.eq_rows = 0
    red.T, red.x0 = T, x0
    return red


def expand(red: Reduced, xi: np.ndarray) -> np.ndarray:
    """The reduced variables ``x`` from the solver's ``xi``."""
    return xi if red.T is None else red.x0 + red.T @ xi


def recover_dual(red: Reduced, program: ConicProgram, x: np.ndarray) -> tuple:
    """``(mu, z, X)`` of the Gram form from the reduced solution ``x``."""
    p, q = red.p, red.q
    mu, z = x[:p], x[p : p + q]
    X: list = [None] * len(program.block_sizes)
    for n_, (k, s) in enumerate(zip(red.small, red.sizes[:-1])):
        o = p + q + int(red.small_offsets[n_])
        i, j = lower_triangle(s)
        M = np.zeros((s, s))
        M[i, j] = x[o : o + i.size]
        M[j, i] = x[o : o + i.size]
        X[k] = M
    s = red.sizes[-1]
    i, j = lower_triangle(s)
    tri = np.zeros(i.size)
    g = red.G @ x
    tri[red.owned_rows] = (program.c[red.owned_moments] - g[red.owned_moments]) / red.weights[
        red.owned_rows
    ]
    nf = red.const_rows.size
    nx = red.G.shape[1]
    tri[red.const_rows] = x[nx - nf :]
    M = np.zeros((s, s))
    M[i, j] = tri
    M[j, i] = tri
    X[red.big] = M
    return mu, z, X


def recover_moments(red: Reduced, program: ConicProgram, ydual: np.ndarray) -> np.ndarray:
    """Moments from sdpap's dual of the J rows: the big block's dual matrix is ``M_1(y)``;
    leftover moments are the multipliers of their Gram equalities."""
    n = program.n
    y = np.zeros(n)
    pos = red.eq_rows + red.nonneg + sum(s * s for s in red.sizes[:-1])
    # after elimination the leftover moments have no dual left: they are reported as 0
    s = red.sizes[-1]
    Y = np.asarray(ydual[pos : pos + s * s]).reshape(s, s, order="F")
    Y = 0.5 * (Y + Y.T)
    i, j = lower_triangle(s)
    tri = Y[i, j]
    scale = 1.0
    const = red.const_rows
    if const.size and abs(tri[const[0]]) > 0:
        scale = program.b_psd[program.triangle_offsets[red.big] + const[0]] / tri[const[0]]
    y[red.owned_moments] = scale * tri[red.owned_rows]
    if red.T is None:
        y[red.left_moments] = -scale * np.asarray(ydual[: red.eq_rows])
    return y
