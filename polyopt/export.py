"""Export a built relaxation for a solver of your own: an SDPA sparse file or a cvxpy problem.

Both take a :class:`~polyopt.relaxations.assemble.Relaxation` (from :func:`polyopt.relax`) or
a bare :class:`~polyopt.conic.ConicProgram` and export its moment form::

    minimize c @ y + c0  s.t.  A_eq y == b_eq,  A_ineq y + b_ineq >= 0,  smat(A_k y + b_k) PSD

The relaxation works in scaled variables and a scaled objective: the bound on the polynomial
problem is ``sign * obj_scale * (optimum of the program)`` with ``sign = +1`` for ``minimize``
and ``-1`` for ``maximize`` (what :func:`polyopt.solve` reports as ``Result.bound``, before its
own certification). ``y[i]`` is the moment of the monomial ``relaxation.moments[i + 1]`` of the
scaled variables ``x / relaxation.var_scale`` (row 0 is the constant monomial, fixed to 1).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from .backends.cvxpy_backend import moment_model
from .conic import ConicProgram
from .model import Problem
from .monomials import lower_triangle
from .relaxations.assemble import Relaxation

if TYPE_CHECKING:  # cvxpy is imported when to_cvxpy is called
    import cvxpy

__all__ = ["write_sdpa", "to_cvxpy"]


def _unpack(obj: Any) -> tuple[ConicProgram, Relaxation | None]:
    """``(program, relaxation or None)``, validated; ``ValueError`` for anything else."""
    if isinstance(obj, Relaxation):
        program, relaxation = obj.program, obj
    elif isinstance(obj, ConicProgram):
        program, relaxation = obj, None
    else:
        hint = ": build it with polyopt.relax(problem, order)" if isinstance(obj, Problem) else ""
        raise ValueError(
            "expected a polyopt Relaxation (from polyopt.relax) or a ConicProgram, got "
            f"{type(obj).__name__}{hint}"
        )
    program.check()  # shapes and finiteness
    if not np.all(np.isfinite(program.c)) or not np.isfinite(program.c0):
        raise ValueError("non-finite objective data")
    if any(int(s) < 0 for s in program.block_sizes):
        raise ValueError(f"negative PSD block size in {list(program.block_sizes)}")
    if relaxation is not None:
        if relaxation.sense not in ("min", "max"):
            raise ValueError(f"unknown sense {relaxation.sense!r}")
        if not (np.isfinite(relaxation.obj_scale) and relaxation.obj_scale > 0):
            raise ValueError(f"objective scale must be positive, got {relaxation.obj_scale!r}")
    return program.expanded(), relaxation


def _sign(relaxation: Relaxation | None) -> float:
    return -1.0 if relaxation is not None and relaxation.sense == "max" else 1.0


# ---------------------------------------------------------------------------- SDPA
def _lp_rows(program: ConicProgram) -> tuple[sp.csr_matrix, np.ndarray]:
    """``(A, b)`` with ``A y + b >= 0``: the inequalities, then each equality as ``+`` and ``-``."""
    A = sp.vstack([program.A_ineq, program.A_eq, -program.A_eq], format="csr")
    b = np.concatenate([program.b_ineq, -program.b_eq, program.b_eq])
    return A, b


def _entries(
    A: sp.spmatrix, b: np.ndarray, rows_i: np.ndarray, rows_j: np.ndarray, block: int
) -> tuple[np.ndarray, ...]:
    """SDPA entries ``(matno, block, i, j, value)`` of ``sum_m F_m y_m - F_0`` for the rows
    ``A y + b`` placed at 1-based matrix positions ``(rows_i, rows_j)`` (``i <= j``)."""
    coo = sp.coo_matrix(A)
    coo.sum_duplicates()
    keep = coo.data != 0
    r, m, v = coo.row[keep], coo.col[keep], coo.data[keep]
    (r0,) = np.nonzero(b)
    matno = np.concatenate([m + 1, np.zeros(r0.size, dtype=np.int64)])
    rows = np.concatenate([r, r0])
    vals = np.concatenate([v, -b[r0]])  # F_0 = -b
    blk = np.full(rows.size, block, dtype=np.int64)
    return matno, blk, rows_i[rows], rows_j[rows], vals


def write_sdpa(relaxation_or_program: Relaxation | ConicProgram, path: str | os.PathLike) -> None:
    """Write the moment form in SDPA sparse format (``.dat-s``).

    SDPA's primal ``minimize sum_m c_m x_m  s.t.  sum_m F_m x_m - F_0 PSD`` with ``x = y``:
    one SDPA block per PSD block (``F_m`` from the column of ``y_m``, ``F_0 = -smat(b_k)``,
    upper triangle written), then one diagonal LP block (negative size) holding the
    inequalities followed by every equality as the pair ``A_eq y - b_eq >= 0`` and
    ``b_eq - A_eq y >= 0`` (exact and sparse; the file's problem then has no strictly
    feasible point, which infeasible-start interior point solvers such as SDPA accept).

    The constant ``c0`` is not part of SDPA's objective: the ``"`` comment header gives ``c0``,
    ``obj_scale`` and the sense, with ``bound = sign * obj_scale * (file optimum + c0)``
    (for a bare ConicProgram: ``sign = obj_scale = 1``). Numbers are written with ``repr``
    (shortest round-trip form), so the file reads back to the same doubles.

    Raises ``ValueError`` for anything but a Relaxation or ConicProgram, non-finite data, or a
    program without variables or constraints.
    """
    program, relaxation = _unpack(relaxation_or_program)
    n = program.n
    if n == 0:
        raise ValueError("the program has no variables: SDPA needs at least one")
    tri = program.triangle_offsets
    parts: list[tuple[np.ndarray, ...]] = []
    struct: list[int] = []
    for k, s in enumerate(int(s) for s in program.block_sizes):
        if s == 0:
            continue  # an empty PSD block constrains nothing (SDPA rejects size 0)
        i, j = lower_triangle(s)  # lower triangle, column by column: write as (j, i), j <= i
        struct.append(s)
        A_k = program.A_psd[tri[k] : tri[k + 1]]
        parts.append(_entries(A_k, program.b_psd[tri[k] : tri[k + 1]], j + 1, i + 1, len(struct)))
    A_lp, b_lp = _lp_rows(program)
    q, p = program.A_ineq.shape[0], program.A_eq.shape[0]
    if A_lp.shape[0]:
        struct.append(-A_lp.shape[0])
        d = np.arange(1, A_lp.shape[0] + 1)
        parts.append(_entries(A_lp, b_lp, d, d, len(struct)))
    if not struct:
        raise ValueError("the program has no constraints: nothing for SDPA to solve")
    matno, blk, ii, jj, vals = (np.concatenate(col) for col in zip(*parts))
    order = np.lexsort((jj, ii, blk, matno))
    sign = _sign(relaxation)
    scale = relaxation.obj_scale if relaxation is not None else 1.0
    npsd = len(struct) - bool(q + p)
    head = ['" moment relaxation exported by polyopt.write_sdpa']
    if relaxation is not None:
        head.append(
            f'" relaxation: {relaxation.kind}, order {relaxation.order}, '
            f"{relaxation.nvars} POP variables (scaled by relaxation.var_scale)"
        )
    head += [
        f'" sense = {relaxation.sense if relaxation is not None else "min"}',
        f'" sign = {int(sign):+d}',
        f'" obj_scale = {float(scale)!r}',
        f'" c0 = {float(program.c0)!r}',
        '" POP bound = sign * obj_scale * (SDPA primal optimum + c0)',
        f'" x_m (m = 1..{n}) = the moment of relaxation.moments[m] (the constant moment is 1)',
    ]
    if npsd:
        head.append(f'" blocks 1..{npsd}: the nonempty PSD blocks smat(A_k y + b_k), in order')
    if q + p:
        head.append(
            f'" block {len(struct)} (LP): rows 1..{q}: A_ineq y + b_ineq >= 0; '
            f"rows {q + 1}..{q + p}: A_eq y - b_eq >= 0; "
            f"rows {q + p + 1}..{q + 2 * p}: b_eq - A_eq y >= 0"
        )
    lines = head + [
        str(n),
        str(len(struct)),
        " ".join(str(s) for s in struct),
        " ".join(repr(float(v)) for v in program.c.tolist()),
    ]
    rows = zip(
        matno[order].tolist(),
        blk[order].tolist(),
        ii[order].tolist(),
        jj[order].tolist(),
        vals[order].tolist(),
    )
    lines.extend(f"{m} {b} {i} {j} {v!r}" for m, b, i, j, v in rows)
    with open(path, "w", encoding="ascii") as fh:
        fh.write("\n".join(lines))
        fh.write("\n")


# ---------------------------------------------------------------------------- cvxpy
def to_cvxpy(
    relaxation_or_program: Relaxation | ConicProgram,
) -> tuple[cvxpy.Problem, cvxpy.Variable]:
    """The moment form as ``(cvxpy.Problem, y)``, ready for ``problem.solve(solver=...)``.

    Constraints, in order: ``A_eq @ y == b_eq`` (if any), ``A_ineq @ y + b_ineq >= 0`` (if
    any), then one ``>> 0`` per PSD block, each a reshape of one sparse product
    ``F @ y + f`` (no loop over entries). The objective includes ``c0``; given a Relaxation
    it is also mapped to the polynomial problem's value: ``Minimize(obj_scale * (c @ y + c0))``
    for ``minimize`` and ``Maximize(-obj_scale * (c @ y + c0))`` for ``maximize``, so
    ``problem.value`` is the POP bound. A bare ConicProgram gives ``Minimize(c @ y + c0)``.

    Raises ``ValueError`` for anything but a Relaxation or ConicProgram, or non-finite data.
    """
    import cvxpy as cp

    program, relaxation = _unpack(relaxation_or_program)
    if program.n == 0:
        raise ValueError("the program has no variables")
    problem, y, *_ = moment_model(program)
    if relaxation is None:
        return problem, y
    value = program.c @ y + float(program.c0)
    cons = problem.constraints
    scale = float(relaxation.obj_scale)
    if relaxation.sense == "max":
        return cp.Problem(cp.Maximize(-scale * value), cons), y
    return cp.Problem(cp.Minimize(scale * value), cons), y
