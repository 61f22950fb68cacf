"""Full column-major vectorization of symmetric PSD blocks (SDPA, cvxpy)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..conic import ConicProgram
from ..monomials import lower_triangle


def full_psd_operator(program: ConicProgram) -> tuple[sp.csr_matrix, np.ndarray]:
    """Rows of ``vec(A_k y + b_k)`` (all ``s*s`` entries, column-major), stacked over blocks."""
    rows, srcs, offset = [], [], 0
    tri = program.triangle_offsets
    for k, s in enumerate(program.block_sizes):
        i, j = lower_triangle(s)
        src = tri[k] + np.arange(i.size)
        rows.append(offset + i + j * s)
        srcs.append(src)
        off = i != j
        rows.append(offset + j[off] + i[off] * s)
        srcs.append(src[off])
        offset += s * s
    if not rows:
        return sp.csr_matrix((0, program.n)), np.zeros(0)
    r = np.concatenate(rows)
    src = np.concatenate(srcs)
    P = sp.csr_matrix((np.ones(r.size), (r, src)), shape=(offset, program.A_psd.shape[0]))
    return (P @ program.A_psd).tocsr(), P @ program.b_psd


def split_full_blocks(vec: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    """Symmetric matrices from a stacked column-major vector (symmetrized)."""
    out, pos = [], 0
    for s in sizes:
        M = np.asarray(vec[pos : pos + s * s], dtype=float).reshape(s, s, order="F")
        out.append(0.5 * (M + M.T))
        pos += s * s
    return out
