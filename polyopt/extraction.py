"""Flat truncation and Henrion-Lasserre extraction of global minimizers from moments."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import qr, schur

from .monomials import monomial_basis, pack


@dataclass
class FlatnessCheck:
    """Ranks of the truncated moment matrices and the order at which they are flat."""

    ranks: dict[int, int]
    flat_order: int | None


def numerical_rank(M: np.ndarray, tol: float, gap: float = 1e3) -> int:
    """Numerical rank of a symmetric PSD matrix.

    Eigenvalues below ``tol`` times the largest are zero; among the others, a drop by a factor
    of at least ``gap`` between consecutive eigenvalues (the largest such drop) ends the rank.
    Interior-point solutions sit slightly inside the cone, so a pure threshold miscounts.
    """
    w = np.sort(np.linalg.eigvalsh(0.5 * (M + M.T)))[::-1]
    top = float(w[0]) if w.size else 0.0
    if top <= 0:
        return 0
    w = w[w > tol * top]
    if w.size <= 1:
        return int(w.size)
    ratios = w[:-1] / w[1:]
    k = int(np.argmax(ratios))
    return k + 1 if ratios[k] >= gap else int(w.size)


class MomentLookup:
    """Moment values by exponent row, from a relaxation's moment list and vector."""

    def __init__(self, exponents: np.ndarray, values: np.ndarray) -> None:
        self.nvars = exponents.shape[1]
        self.table = {k.tobytes(): i for i, k in enumerate(pack(exponents))}
        self.values = values

    def matrix(self, basis: np.ndarray) -> np.ndarray | None:
        """``M_B(y)`` for the basis rows ``basis``; None if a moment is missing."""
        s = basis.shape[0]
        pairs = (basis[:, None, :] + basis[None, :, :]).reshape(-1, self.nvars)
        keys = pack(pairs)
        idx = np.array([self.table.get(k.tobytes(), -1) for k in keys])
        if (idx < 0).any():
            return None
        return self.values[idx].reshape(s, s)


def flatness(lookup: MomentLookup, order: int, dv: int, tol: float) -> FlatnessCheck:
    """Find the largest ``s <= order`` with ``rank M_s = rank M_{s - dv}`` (flat truncation)."""
    n = lookup.nvars
    ranks: dict[int, int] = {}
    for s in range(order + 1):
        M = lookup.matrix(monomial_basis(n, s))
        if M is None:
            break
        ranks[s] = numerical_rank(M, tol)
    for s in range(max(ranks, default=-1), dv - 1, -1):
        if s - dv in ranks and ranks[s] == ranks[s - dv]:
            return FlatnessCheck(ranks, s)
    return FlatnessCheck(ranks, None)


def extract_atoms(
    lookup: MomentLookup, order: int, tol: float, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Henrion-Lasserre extraction: the atoms of a flat moment matrix of ``order``.

    Factor ``M = V V^T`` (rank ``r``), bring ``V`` to column echelon form with pivot rows
    chosen among the monomials of degree below ``order``, read off the multiplication
    matrices ``N_i`` and take common eigenvectors through the Schur form of a random
    combination. Returns ``(r, nvars)``.
    """
    n = lookup.nvars
    basis = monomial_basis(n, order)
    M = lookup.matrix(basis)
    assert M is not None
    w, U = np.linalg.eigh(0.5 * (M + M.T))
    r = numerical_rank(M, tol)
    if r == 0:
        return np.zeros((0, n))
    V = U[:, -r:] * np.sqrt(w[-r:])
    # pivots among monomials of degree < order (flatness guarantees they span), chosen by
    # column-pivoted QR for a well-conditioned echelon basis
    low = int(np.sum(basis.sum(axis=1) < order))
    if low < r:
        raise np.linalg.LinAlgError("the rank exceeds the number of lower-degree monomials")
    _, _, piv = qr(V[:low].T, pivoting=True, mode="economic")
    pivots = sorted(int(p) for p in piv[:r])
    if np.linalg.matrix_rank(V[pivots]) < r:
        raise np.linalg.LinAlgError("could not find an echelon basis of the moment matrix")
    W = V @ np.linalg.inv(V[pivots])  # rows at pivots form the identity
    table = {tuple(row): k for k, row in enumerate(basis)}
    Ns = []
    for i in range(n):
        rows = []
        for p in pivots:
            shifted = basis[p].copy()
            shifted[i] += 1
            k = table.get(tuple(shifted))
            if k is None:
                raise np.linalg.LinAlgError(
                    "a shifted pivot monomial is outside the basis: the truncation is not flat"
                )
            rows.append(W[k])
        Ns.append(np.array(rows))
    rng = rng or np.random.default_rng(0)
    lam = rng.random(n)
    lam /= lam.sum()
    N = sum(l * Ni for l, Ni in zip(lam, Ns))
    _, Qs = schur(N, output="real")
    atoms = np.array([[Qs[:, j] @ Ni @ Qs[:, j] for Ni in Ns] for j in range(r)])
    return atoms
