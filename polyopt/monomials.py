"""Monomial bases and the mapping from exponent vectors to moment indices."""

from __future__ import annotations

from math import comb

import numpy as np


def monomial_basis(nvars: int, degree: int) -> np.ndarray:
    """All exponent vectors of total degree <= ``degree`` in graded order (1 first).

    Returns an int64 array of shape ``(comb(nvars + degree, degree), nvars)``.
    """
    if nvars < 0 or degree < 0:
        raise ValueError("nvars and degree must be nonnegative")
    rows = [np.zeros((1, nvars), dtype=np.int64)]
    prev = rows[0]
    eye = np.eye(nvars, dtype=np.int64)
    for _ in range(degree):
        if nvars == 0:
            break
        # extend every monomial of the previous degree by x_k with k >= its last variable
        last = np.where(prev.any(axis=1), nvars - 1 - np.argmax(prev[:, ::-1] > 0, axis=1), 0)
        counts = nvars - last
        src = np.repeat(np.arange(prev.shape[0]), counts)
        ks = np.concatenate([np.arange(s, nvars) for s in last]) if prev.shape[0] else []
        nxt = prev[src] + eye[np.asarray(ks, dtype=np.int64)]
        rows.append(nxt)
        prev = nxt
    out = np.vstack(rows)
    assert out.shape[0] == comb(nvars + degree, degree)
    return out


def lower_triangle(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the lower triangle, column by column (``i >= j``)."""
    j = np.repeat(np.arange(size), np.arange(size, 0, -1))
    start = np.repeat(
        np.cumsum(np.concatenate([[0], np.arange(size, 1, -1)])), np.arange(size, 0, -1)
    )
    i = np.arange(size * (size + 1) // 2) - start + j
    return i, j


def pack(exps: np.ndarray) -> np.ndarray:
    """A 1-D array of opaque keys, one per exponent row, equal iff the rows are equal."""
    exps = np.asarray(exps)
    if exps.size and (exps.max() >= 65536 or exps.min() < 0):
        raise ValueError("exponents must lie in [0, 65535]")
    small = np.ascontiguousarray(exps.astype(np.uint16))
    return small.view(np.dtype((np.void, 2 * small.shape[1]))).ravel()


class MomentIndex:
    """Distinct monomials among several exponent arrays, with a moment index per row.

    Index 0 is always the monomial 1.
    """

    def __init__(self, nvars: int, chunks: list[np.ndarray]) -> None:
        zero = np.zeros((1, nvars), dtype=np.int64)
        allrows = np.vstack([zero] + [c.reshape(-1, nvars) for c in chunks])
        keys = pack(allrows)
        uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        # reorder: graded (by degree), the monomial 1 first
        exps = allrows[first]
        order = np.lexsort(np.vstack([exps.T[::-1], exps.sum(axis=1)]))
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        self.exponents: np.ndarray = exps[order]
        inverse = rank[inverse.ravel()]
        assert inverse[0] == 0
        self._offsets = np.cumsum([1] + [c.reshape(-1, nvars).shape[0] for c in chunks])
        self._inverse = inverse
        self.nvars = nvars

    def __len__(self) -> int:
        return int(self.exponents.shape[0])

    def chunk(self, k: int) -> np.ndarray:
        """Moment indices of the rows of the ``k``-th input chunk."""
        return self._inverse[self._offsets[k] : self._offsets[k + 1]]
