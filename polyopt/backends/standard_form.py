"""Conversion of a :class:`ConicProgram` to the ``A x + s = b, s in K`` form (Clarabel, SCS).

Both the moment form (``x = y``) and the Gram / SOS form (``x = (mu, z, svec X_k)``) are
produced; PSD blocks use scaled triangles (off-diagonal entries times sqrt(2)) in the order the
solver wants: ``"lower_col"`` (SCS) or ``"upper_col"`` (Clarabel). :func:`recover` maps the
solver's primal and dual back to the program.

The Gram form is the moment form's dual, handed to a solver as a minimization of the negated
SOS objective: :func:`moment_status` and :func:`moment_objectives` say a solver's verdict and
objectives on the form it solved in the moment relaxation's terms (for every backend that
takes both forms).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..conic import ConicProgram
from ..monomials import lower_triangle

SQRT2 = np.sqrt(2.0)

SWAPPED = {"infeasible": "unbounded", "unbounded": "infeasible"}


def moment_status(form: str, status: str) -> str:
    """``status`` of the problem a solver was given in ``form``, said of the moment relaxation:
    an infeasible Gram form means an unbounded moment relaxation and vice versa."""
    return SWAPPED.get(status, status) if form == "gram" else status


def moment_objectives(form: str, primal: float, dual: float) -> tuple[float, float]:
    """``(moment objective, SOS objective)`` from a solver's primal and dual objectives on
    ``form``: the Gram form minimizes the negated SOS objective, so they swap and change sign."""
    return (-dual, -primal) if form == "gram" else (primal, dual)


def svec_permutation(size: int, order: str) -> tuple[np.ndarray, np.ndarray]:
    """``(perm, scale)``: solver triangle entry ``t`` is ``scale[t] * ours[perm[t]]``."""
    i, j = lower_triangle(size)
    if order == "lower_col":
        perm = np.arange(i.size)
    elif order == "upper_col":
        # upper triangle by columns = lower triangle by rows: sort our entries by (i, j)
        perm = np.lexsort((j, i))
    else:
        raise ValueError(f"unknown triangle order {order!r}")
    scale = np.where(i[perm] == j[perm], 1.0, SQRT2)
    return perm, scale


@dataclass
class StandardForm:
    """``min q @ x + q0  s.t.  A x + s = b``, cones: ``zero``, ``nonneg``, ``psd`` sizes."""

    q: np.ndarray
    q0: float
    A: sp.csc_matrix
    b: np.ndarray
    zero: int
    nonneg: int
    psd: list[int]
    form: str
    order: str


def _psd_operator(program: ConicProgram, order: str) -> tuple[sp.csr_matrix, np.ndarray]:
    """Rows of ``svec(A_k y + b_k)`` in solver order and scaling, stacked over blocks."""
    perms, scales = [], []
    off = program.triangle_offsets
    for k, s in enumerate(program.block_sizes):
        p, sc = svec_permutation(s, order)
        perms.append(p + off[k])
        scales.append(sc)
    if not perms:
        return sp.csr_matrix((0, program.n)), np.zeros(0)
    perm = np.concatenate(perms)
    scale = np.concatenate(scales)
    D = sp.diags(scale)
    return (D @ program.A_psd[perm]).tocsr(), scale * program.b_psd[perm]


def to_standard(program: ConicProgram, form: str, order: str) -> StandardForm:
    """Build the solver data for ``form`` in {"moment", "gram"}."""
    S, s0 = _psd_operator(program, order)
    p, q_, T = program.A_eq.shape[0], program.A_ineq.shape[0], S.shape[0]
    if form == "moment":
        A = sp.vstack([program.A_eq, -program.A_ineq, -S], format="csc")
        b = np.concatenate([program.b_eq, program.b_ineq, s0])
        return StandardForm(
            program.c, program.c0, A, b, p, q_, list(program.block_sizes), form, order
        )
    if form == "gram":
        n = program.n
        top = sp.hstack([program.A_eq.T, program.A_ineq.T, S.T], format="csc")
        cone = -sp.identity(q_ + T, format="csc")
        A = sp.vstack([top, sp.hstack([sp.csc_matrix((q_ + T, p)), cone])], format="csc")
        b = np.concatenate([program.c, np.zeros(q_ + T)])
        qvec = np.concatenate([-program.b_eq, program.b_ineq, s0])
        return StandardForm(qvec, -program.c0, A, b, n, q_, list(program.block_sizes), form, order)
    raise ValueError(f"unknown form {form!r}: use 'moment' or 'gram'")


def _smat_blocks(vec: np.ndarray, sizes: list[int], order: str) -> list[np.ndarray]:
    out, pos = [], 0
    for s in sizes:
        t = s * (s + 1) // 2
        perm, scale = svec_permutation(s, order)
        ours = np.empty(t)
        ours[perm] = vec[pos : pos + t] / scale
        i, j = lower_triangle(s)
        M = np.zeros((s, s))
        M[i, j] = ours
        M[j, i] = ours
        out.append(M)
        pos += t
    return out


def recover(
    std: StandardForm, program: ConicProgram, x: np.ndarray, dual: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """``(y, mu, z, X)`` in the conic program's terms from the solver's primal and dual."""
    p, q_ = program.A_eq.shape[0], program.A_ineq.shape[0]
    if std.form == "moment":
        y = np.asarray(x, dtype=float)
        mu = -dual[:p]
        z = dual[p : p + q_]
        X = _smat_blocks(dual[p + q_ :], std.psd, std.order)
        return y, mu, z, X
    n = program.n
    y = np.asarray(dual[:n], dtype=float)
    mu = x[:p]
    z = x[p : p + q_]
    X = _smat_blocks(x[p + q_ :], std.psd, std.order)
    return y, mu, z, X
