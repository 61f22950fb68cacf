"""The solver-neutral conic program that every relaxation builds and every backend solves.

Moment form (variables ``y``, free)::

    minimize    c @ y + c0
    subject to  A_eq @ y == b_eq
                A_ineq @ y + b_ineq >= 0
                smat(A_psd[k] @ y + b_psd[k]) is PSD        for each block k

Each PSD block is stored by its lower triangle, column by column, unscaled
(see :func:`polyopt.monomials.lower_triangle`). Its dual, the Gram / SOS form, is::

    maximize    c0 + b_eq @ mu - b_ineq @ z - sum_k <smat(b_psd[k]), X_k>
    subject to  A_eq.T @ mu + A_ineq.T @ z + sum_k A_psd[k]^*(X_k) == c
                z >= 0,  X_k PSD
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .monomials import lower_triangle


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

    def dual_objective(self, mu: np.ndarray, z: np.ndarray, X: list[np.ndarray]) -> float:
        """Objective of the Gram / SOS form at a dual point."""
        val = self.c0 + float(self.b_eq @ mu) - float(self.b_ineq @ z)
        off = self.triangle_offsets
        for k, Xk in enumerate(X):
            C = self.smat(k, self.b_psd[off[k] : off[k + 1]])
            val -= float(np.sum(C * Xk))
        return val

    def dual_residual(self, mu: np.ndarray, z: np.ndarray, X: list[np.ndarray]) -> np.ndarray:
        """``c - (A_eq.T mu + A_ineq.T z + sum_k A_k^*(X_k))``."""
        return self.c - (self.A_eq.T @ mu + self.A_ineq.T @ z + self.adjoint_psd(X))
