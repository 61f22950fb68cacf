"""The solver-neutral conic program that every relaxation builds and every backend solves.

Moment form (variables ``y``, free)::

    minimize    c @ y + c0
    subject to  A_eq @ y == b_eq
                A_ineq @ y + b_ineq >= 0
                smat(A_psd[k] @ y + b_psd[k]) is PSD        for each block k

Each PSD block is stored by its lower triangle, column by column, unscaled
(see :func:`polyopt.monomials.lower_triangle`). Its dual, the Gram / SOS form, is::

    maximize    c0 + b_eq @ mu - b_ineq @ z - sum_k <smat(b_psd[k]), X_k + F_k(mu)>
    subject to  A_eq.T @ mu + A_ineq.T @ z + sum_k A_psd[k]^*(X_k + F_k(mu)) == c
                z >= 0,  X_k PSD

Factored rows (:class:`FactoredRows`, optional): an equality row may also hold terms
``coef * <f f^T, smat(A_psd[k] @ y + b_psd[k])>``, a rank-one quadratic form of a block (``L(e^2)``
for an affine form ``e`` over the basis of a moment matrix). They stay factored, so a row
``L(e^2)`` over ``p`` variables costs ``O(p)``, not ``O(p^2)`` monomial terms; ``F_k(mu) = sum_r
mu_r coef_r f_r f_r^T`` over the factored terms on block ``k``. Solvers that cannot use them see
:meth:`ConicProgram.expanded`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .monomials import lower_triangle

EXPAND_MAX_TERMS = 20_000_000
"""The most monomial terms :meth:`ConicProgram.expanded` writes out (about 100 bytes each)."""


class FactoredTooLarge(ValueError):
    """The factored rows would expand into more monomial terms than allowed."""


def plain_entries(A_psd: sp.csr_matrix, b_psd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(entries, moments)``: the PSD block entries that are one moment with coefficient 1
    and no constant, and that moment."""
    nnz = np.diff(A_psd.indptr)
    plain = np.flatnonzero((nnz == 1) & (b_psd == 0))
    plain = plain[A_psd.data[A_psd.indptr[plain]] == 1.0]
    return plain, A_psd.indices[A_psd.indptr[plain]]


@dataclass
class FactoredRows:
    """Rank-one terms ``coef[r] * <f_r f_r^T, M_k>`` of equality rows, ``M_k`` the PSD block
    ``block[r]``, ``f_r`` row ``r`` of ``F`` (over the block's side; columns past it are 0)."""

    eq_row: np.ndarray  # the equality row each term belongs to
    block: np.ndarray  # the PSD block it reads
    F: sp.csr_matrix  # terms x (largest side): the factors f_r
    coef: np.ndarray

    def __post_init__(self) -> None:
        self.eq_row = np.asarray(self.eq_row, dtype=np.int64)
        self.block = np.asarray(self.block, dtype=np.int64)
        self.coef = np.asarray(self.coef, dtype=float)
        self.F = sp.csr_matrix(self.F)

    @property
    def size(self) -> int:
        return int(self.eq_row.size)

    def expanded_terms(self) -> int:
        """Monomial terms the expansion writes (upper bound: pairs of factor entries)."""
        nnz = np.diff(self.F.indptr).astype(np.int64)
        return int(np.sum(nnz * (nnz + 1) // 2))

    def select(self, keep_rows: np.ndarray) -> FactoredRows | None:
        """The terms of the kept equality rows (a boolean mask), renumbered; None if empty."""
        newpos = np.cumsum(keep_rows) - 1
        on = keep_rows[self.eq_row]
        if not on.any():
            return None
        return FactoredRows(newpos[self.eq_row[on]], self.block[on], self.F[on], self.coef[on])

    def block_matrices(self, weights: np.ndarray, k: int, side: int) -> np.ndarray:
        """``sum_r weights[r] coef[r] f_r f_r^T`` over the terms on block ``k`` (dense)."""
        on = np.flatnonzero(self.block == k)
        if on.size == 0:
            return np.zeros((side, side))
        Fk = self.F[on][:, :side]
        W = sp.diags(weights[on] * self.coef[on])
        return np.asarray((Fk.T @ (W @ Fk)).toarray())

    def quadratic_values(self, blocks: list[np.ndarray]) -> np.ndarray:
        """``coef[r] * f_r^T M f_r`` per term for the block matrices ``blocks``."""
        out = np.zeros(self.size)
        for k in np.unique(self.block):
            on = np.flatnonzero(self.block == k)
            M = blocks[k]
            Fk = self.F[on][:, : M.shape[0]]
            FM = np.asarray(Fk @ M)
            out[on] = self.coef[on] * np.asarray(Fk.multiply(FM).sum(axis=1)).ravel()
        return out


@dataclass
class ConicProgram:
    """A linear program over PSD, nonnegative and zero cones in moment (LMI) form."""

    c: np.ndarray
    c0: float
    A_eq: sp.csr_matrix
    b_eq: np.ndarray
    A_ineq: sp.csr_matrix
    b_ineq: np.ndarray
    A_psd: sp.csr_matrix
    b_psd: np.ndarray
    block_sizes: list[int]
    block_names: list[str] = field(default_factory=list)
    row_names: list[str] = field(default_factory=list)
    row_l1: dict[str, np.ndarray] | None = None
    """Per row family (``"eq"``, ``"ineq"``, ``"psd"``): the sum of the magnitudes of the
    terms merged into each row, constant included (rounding bounds of the certificate)."""
    factored: FactoredRows | None = None
    """Rank-one terms of equality rows, kept factored (see the module docstring)."""

    @property
    def n(self) -> int:
        """Number of free variables (moments other than the constant one)."""
        return int(self.c.shape[0])

    @property
    def triangle_offsets(self) -> np.ndarray:
        """Row offsets of each PSD block in ``A_psd`` (length ``blocks + 1``)."""
        return np.cumsum([0] + [s * (s + 1) // 2 for s in self.block_sizes])

    def block(self, k: int) -> tuple[sp.csr_matrix, np.ndarray]:
        """``(A, b)`` rows of the ``k``-th PSD block."""
        lo, hi = self.triangle_offsets[k], self.triangle_offsets[k + 1]
        return self.A_psd[lo:hi], self.b_psd[lo:hi]

    def sizes(self) -> dict[str, int]:
        """Problem dimensions for reports."""
        return {
            "variables": self.n,
            "equalities": int(self.A_eq.shape[0]),
            "inequalities": int(self.A_ineq.shape[0]),
            "psd_blocks": len(self.block_sizes),
            "largest_block": max(self.block_sizes, default=0),
            "psd_entries": int(self.triangle_offsets[-1]),
        }

    def check(self) -> None:
        """Validate shapes and finiteness (raises ``ValueError``)."""
        n = self.n
        for name, a, b in (
            ("equality", self.A_eq, self.b_eq),
            ("inequality", self.A_ineq, self.b_ineq),
            ("psd", self.A_psd, self.b_psd),
        ):
            if a.shape[1] != n or a.shape[0] != b.shape[0]:
                raise ValueError(f"inconsistent {name} block shapes {a.shape} / {b.shape}")
            if not (np.all(np.isfinite(a.data)) and np.all(np.isfinite(b))):
                raise ValueError(f"non-finite data in the {name} rows")
        if self.triangle_offsets[-1] != self.A_psd.shape[0]:
            raise ValueError("PSD rows do not match the block sizes")
        fr = self.factored
        if fr is not None:
            nb = len(self.block_sizes)
            if fr.size and (
                fr.eq_row.min() < 0
                or fr.eq_row.max() >= self.A_eq.shape[0]
                or fr.block.min() < 0
                or fr.block.max() >= nb
            ):
                raise ValueError("factored rows refer to missing equality rows or blocks")
            sides = np.asarray(self.block_sizes, dtype=np.int64)[fr.block]
            if fr.F.shape[0] != fr.size or np.any(
                fr.F.indices >= np.repeat(sides, np.diff(fr.F.indptr))
            ):
                raise ValueError("a factored row's factor is longer than its block")
            if not (np.all(np.isfinite(fr.F.data)) and np.all(np.isfinite(fr.coef))):
                raise ValueError("non-finite data in the factored rows")

    # ------------------------------------------------------------------ factored rows
    def eq_values(self, y: np.ndarray) -> np.ndarray:
        """``A_eq y`` plus the factored terms at ``y`` (the rows' left-hand sides)."""
        out = self.A_eq @ y
        if self.factored is not None:
            vals = self.factored.quadratic_values(self.block_matrices(y))
            out = out + np.bincount(self.factored.eq_row, vals, minlength=out.size)
        return out

    def factored_duals(self, mu: np.ndarray) -> list[np.ndarray] | None:
        """``F_k(mu)`` per PSD block (None without factored rows)."""
        if self.factored is None:
            return None
        w = mu[self.factored.eq_row]
        return [self.factored.block_matrices(w, k, s) for k, s in enumerate(self.block_sizes)]

    def expanded(self, max_terms: int = EXPAND_MAX_TERMS) -> ConicProgram:
        """The same program with the factored terms written out over the moments (for the
        solvers that do not take factored rows); raises :class:`FactoredTooLarge` past
        ``max_terms``."""
        fr = self.factored
        if fr is None:
            return self
        terms = fr.expanded_terms()
        if terms > max_terms:
            raise FactoredTooLarge(
                f"the {fr.size} factored rows expand into about {terms:,} monomial terms "
                f"(~{terms * 100 / 2**30:.1f} GB), more than {max_terms:,}: use a solver that "
                "takes them factored (solver='lowrank'), or a first-order relaxation"
            )
        off = self.triangle_offsets
        # every ordered pair (a, b) of factor entries of one term, in one vectorized pass
        F = fr.F.tocsr()
        F.sort_indices()
        n_r = np.diff(F.indptr)
        n_e = np.repeat(n_r, n_r)  # per entry: its term's entry count
        a = np.repeat(np.arange(F.nnz), n_e)
        first_pair = np.repeat(np.cumsum(n_e) - n_e, n_e)
        b = np.repeat(np.repeat(F.indptr[:-1], n_r), n_e) + np.arange(a.size) - first_pair
        term = np.repeat(np.repeat(np.arange(fr.size), n_r), n_e)
        p, q = F.indices[a], F.indices[b]
        sel = p >= q
        a, b, p, q, term = a[sel], b[sel], p[sel], q[sel], term[sel]
        w_a = fr.coef[term] * F.data[a] * F.data[b] * np.where(p == q, 1.0, 2.0)
        s = np.asarray(self.block_sizes)[fr.block[term]]
        # triangle row of (p, q), p >= q, column-major lower: q*s - q(q-1)/2 + (p - q)
        tri_a = off[fr.block[term]] + q * s - q * (q - 1) // 2 + (p - q)
        rows_a = fr.eq_row[term]
        # row r of A_psd is the entry's moments; the constant b_psd moves to the right side
        P = sp.csr_matrix((w_a, (rows_a, tri_a)), shape=(self.A_eq.shape[0], off[-1]))
        A_add = P @ self.A_psd
        const = P @ self.b_psd
        A_eq = (self.A_eq + A_add).tocsr()
        A_eq.sum_duplicates()
        A_eq.eliminate_zeros()
        return ConicProgram(
            c=self.c,
            c0=self.c0,
            A_eq=A_eq,
            b_eq=self.b_eq - const,
            A_ineq=self.A_ineq,
            b_ineq=self.b_ineq,
            A_psd=self.A_psd,
            b_psd=self.b_psd,
            block_sizes=self.block_sizes,
            block_names=self.block_names,
            row_names=self.row_names,
            row_l1=self.row_l1,
        )

    # ------------------------------------------------------------------ evaluation
    def smat(self, k: int, vec: np.ndarray) -> np.ndarray:
        """Symmetric matrix of block ``k`` from its lower-triangle vector."""
        s = self.block_sizes[k]
        i, j = lower_triangle(s)
        out = np.zeros((s, s))
        out[i, j] = vec
        out[j, i] = vec
        return out

    def block_matrices(self, y: np.ndarray) -> list[np.ndarray]:
        """The PSD block matrices at the moment vector ``y``."""
        vec = self.A_psd @ y + self.b_psd
        off = self.triangle_offsets
        return [self.smat(k, vec[off[k] : off[k + 1]]) for k in range(len(self.block_sizes))]

    def adjoint_psd(self, X: list[np.ndarray]) -> np.ndarray:
        """``sum_k A_psd[k]^*(X_k)``: the vector of ``<A_k,alpha, X_k>`` over alpha."""
        weights = []
        for s, Xk in zip(self.block_sizes, X):
            i, j = lower_triangle(s)
            w = Xk[i, j] * np.where(i == j, 1.0, 2.0)
            weights.append(w)
        if not weights:
            return np.zeros(self.n)
        return self.A_psd.T @ np.concatenate(weights)

    def _with_factored(self, mu: np.ndarray, X: list[np.ndarray]) -> list[np.ndarray]:
        F = self.factored_duals(mu)
        return X if F is None else [Xk + Fk for Xk, Fk in zip(X, F)]

    def dual_objective(self, mu: np.ndarray, z: np.ndarray, X: list[np.ndarray]) -> float:
        """Objective of the Gram / SOS form at a dual point."""
        val = self.c0 + float(self.b_eq @ mu) - float(self.b_ineq @ z)
        off = self.triangle_offsets
        for k, Xk in enumerate(self._with_factored(mu, X)):
            C = self.smat(k, self.b_psd[off[k] : off[k + 1]])
            val -= float(np.sum(C * Xk))
        return val

    def dual_residual(self, mu: np.ndarray, z: np.ndarray, X: list[np.ndarray]) -> np.ndarray:
        """``c - (A_eq.T mu + A_ineq.T z + sum_k A_k^*(X_k + F_k(mu)))``."""
        X = self._with_factored(mu, X)
        return self.c - (self.A_eq.T @ mu + self.A_ineq.T @ z + self.adjoint_psd(X))
