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


def pack(rows: np.ndarray, top: int | None = None) -> np.ndarray:
    """A 1-D array of opaque keys, one per integer row, equal iff the rows are equal.

    ``top`` is the largest value that may occur (it fixes the key width, so keys made by
    separate calls with the same ``top`` compare equal); default: 65535.
    """
    rows = np.asarray(rows)
    limit = 65535 if top is None else int(top)
    if rows.size and (rows.max() > limit or rows.min() < 0):
        raise ValueError(f"entries must lie in [0, {limit}]")
    dtype = np.uint16 if limit < 65536 else np.uint32
    small = np.ascontiguousarray(rows.astype(dtype))
    return small.view(np.dtype((np.void, small.dtype.itemsize * small.shape[1]))).ravel()


class MomentIndex:
    """Distinct monomial codes among several code arrays, with a moment index per row.

    Moments are sorted by degree; index 0 is always the monomial 1.
    """

    def __init__(self, nvars: int, width: int, chunks: list[np.ndarray]) -> None:
        one = np.full((1, width), nvars, dtype=np.int64)
        allrows = np.vstack([one] + [c.reshape(-1, width) for c in chunks])
        keys = pack(allrows, top=nvars)
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        codes = allrows[first]
        order = np.lexsort(np.vstack([codes.T[::-1], code_degrees(codes, nvars)]))
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        self.codes: np.ndarray = codes[order]
        inverse = rank[inverse.ravel()]
        assert inverse[0] == 0
        self._offsets = np.cumsum([1] + [c.reshape(-1, width).shape[0] for c in chunks])
        self._inverse = inverse
        self.nvars = nvars

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def chunk(self, k: int) -> np.ndarray:
        """Moment indices of the rows of the ``k``-th input chunk."""
        return self._inverse[self._offsets[k] : self._offsets[k + 1]]


# --------------------------------------------------------------------------------------------
# Monomial codes: a monomial of degree <= W in n variables as a sorted row of W variable
# positions, padded with the sentinel n (x1^2 x5 -> [0, 0, 4, n]). Width W instead of n makes
# relaxations of problems with thousands of variables cheap to assemble.


def codes_from_exponents(
    exps: np.ndarray, width: int, positions: np.ndarray | None = None, nvars: int | None = None
) -> np.ndarray:
    """Codes of exponent rows ``exps`` (columns mapped to global ``positions``).

    ``nvars`` is the global number of variables (the sentinel); default ``exps.shape[1]``.
    """
    exps = np.asarray(exps, dtype=np.int64)
    t, k = exps.shape
    positions = np.arange(k) if positions is None else np.asarray(positions, dtype=np.int64)
    n = k if nvars is None else nvars
    deg = exps.sum(axis=1)
    if t and deg.max() > width:
        raise ValueError(f"a monomial of degree {int(deg.max())} exceeds the code width {width}")
    out = np.full((t, width), n, dtype=np.int64)
    if t == 0 or k == 0:
        return out
    flat = exps.ravel()
    rows = np.repeat(np.repeat(np.arange(t), k), flat)
    vals = np.repeat(np.tile(positions, t), flat)
    # slot of each entry within its row: running count restarted per row
    starts = np.concatenate([[0], np.cumsum(deg)[:-1]])
    slot = np.arange(rows.size) - np.repeat(starts, deg)
    out[rows, slot] = vals
    out.sort(axis=1)
    return out


def exponents_from_codes(codes: np.ndarray, nvars: int) -> np.ndarray:
    """Exponent rows ``(N, nvars)`` of codes (the sentinel ``nvars`` is dropped)."""
    N, W = codes.shape
    out = np.zeros((N, nvars + 1), dtype=np.int64)
    np.add.at(out, (np.repeat(np.arange(N), W), codes.ravel()), 1)
    return out[:, :nvars]


def basis_codes(positions: np.ndarray, degree: int, width: int, nvars: int) -> np.ndarray:
    """Codes of all monomials of degree <= ``degree`` in the variables at ``positions``."""
    positions = np.asarray(positions, dtype=np.int64)
    return codes_from_exponents(monomial_basis(len(positions), degree), width, positions, nvars)


def code_products(a: np.ndarray, b: np.ndarray, width: int, nvars: int) -> np.ndarray:
    """Row-wise products of equally long code arrays ``a`` and ``b`` (truncated to ``width``)."""
    both = np.concatenate([a, b], axis=1)
    both.sort(axis=1)
    if both.shape[1] > width:
        if (both[:, width:] != nvars).any():
            raise ValueError(f"a product monomial exceeds degree {width}")
        both = both[:, :width]
    elif both.shape[1] < width:
        pad = np.full((both.shape[0], width - both.shape[1]), nvars, dtype=np.int64)
        both = np.concatenate([both, pad], axis=1)
    return both


def code_degrees(codes: np.ndarray, nvars: int) -> np.ndarray:
    """Degree of each coded monomial."""
    return (codes != nvars).sum(axis=1)
