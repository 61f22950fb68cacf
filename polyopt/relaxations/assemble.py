"""Assemble moment relaxations into a :class:`~polyopt.conic.ConicProgram` in one sparse pass.

Every relaxation (dense, sparse, nearly sparse) is a list of localizing blocks
``M_B(g y)`` (``g = 1`` for moment matrices), scalar rows ``L_y(g) >= 0`` and equality rows
``L_y(h * m) = 0``; this module turns such a list into sparse matrices without a Python loop
per moment entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..algebra import Polynomial, Variable
from ..conic import ConicProgram
from ..model import Problem
from ..monomials import MomentIndex, lower_triangle


@dataclass
class Term:
    """A polynomial as arrays: exponent rows over the problem's variables, coefficients."""

    exps: np.ndarray
    coeffs: np.ndarray

    @classmethod
    def of(cls, poly: Polynomial, variables: tuple[Variable, ...]) -> Term:
        return cls(poly.aligned(variables), np.asarray(poly.coefficients, dtype=float))

    @property
    def degree(self) -> int:
        return int(self.exps.sum(axis=1).max()) if self.exps.shape[0] else 0


ONE = None  # marker: the constant polynomial 1 (moment matrix)


@dataclass
class LocalizingBlock:
    """The PSD block ``M_B(g y)``: entries ``L_y(g * b_i * b_j)`` over a monomial basis ``B``."""

    name: str
    basis: np.ndarray
    g: Term | None = None


@dataclass
class EqualityFamily:
    """Rows ``L_y(h * m) = 0`` for every monomial ``m`` of ``multipliers``."""

    name: str
    multipliers: np.ndarray
    h: Term


@dataclass
class Relaxation:
    """A built relaxation: the conic program, the moment monomials and how to undo scaling."""

    program: ConicProgram
    moments: np.ndarray  # exponent rows of y (row 0 = the monomial 1, not a variable)
    variables: tuple[Variable, ...]
    order: int
    kind: str
    var_scale: np.ndarray  # x = var_scale * x_scaled
    obj_scale: float  # objective = obj_scale * scaled objective
    sense: str
    moment_bounds: np.ndarray  # |y_alpha| <= moment_bounds[alpha] for scaled y (inf unknown)
    info: dict = field(default_factory=dict)

    def basis_index(self, basis: np.ndarray) -> np.ndarray:
        """Moment indices of the exponent rows ``basis`` (-1 where absent)."""
        from ..monomials import pack

        keys = pack(np.vstack([self.moments, basis]))
        table = {k.tobytes(): i for i, k in enumerate(keys[: self.moments.shape[0]])}
        return np.array([table.get(k.tobytes(), -1) for k in keys[self.moments.shape[0] :]])


@dataclass
class ScaledProblem:
    """A problem's polynomials after variable scaling and coefficient normalization."""

    variables: tuple[Variable, ...]
    objective: Term  # scaled, normalized, without constant term
    constant: float  # constant term of the scaled normalized objective
    obj_scale: float
    inequalities: list[Term]
    equalities: list[Term]
    var_scale: np.ndarray
    bounded: np.ndarray  # True where |x_scaled_i| <= 1 is implied by the constraints


def _normalized(term: Term) -> Term:
    big = float(np.max(np.abs(term.coeffs))) if term.coeffs.size else 0.0
    if big == 0 or not np.isfinite(big):
        return term
    return Term(term.exps, term.coeffs / big)


def scale_problem(problem: Problem, scale_variables: bool = True) -> ScaledProblem:
    """Scale ``x = r * x'`` with ``r`` the variable bounds the constraints imply, and
    normalize every polynomial by its largest coefficient (the objective's scale is kept)."""
    vars_ = problem.variables
    bounds = problem.variable_bounds()
    finite = np.isfinite(bounds) & (bounds > 0)
    r = np.where(finite & scale_variables, bounds, 1.0)
    factors = {v.id: float(s) for v, s in zip(vars_, r)}
    f = problem.min_objective().substitute_scaling(factors)
    fterm = Term.of(f, vars_)
    is_const = fterm.exps.sum(axis=1) == 0
    constant = float(fterm.coeffs[is_const].sum())
    nonconst = Term(fterm.exps[~is_const], fterm.coeffs[~is_const])
    obj_scale = float(np.max(np.abs(nonconst.coeffs))) if nonconst.coeffs.size else 1.0
    objective = Term(nonconst.exps, nonconst.coeffs / obj_scale)
    ineqs = [
        _normalized(Term.of(g.substitute_scaling(factors), vars_)) for g in problem.inequalities
    ]
    eqs = [_normalized(Term.of(h.substitute_scaling(factors), vars_)) for h in problem.equalities]
    bounded = finite if scale_variables else finite & (bounds <= 1.0)
    return ScaledProblem(vars_, objective, constant / obj_scale, obj_scale, ineqs, eqs, r, bounded)


def moment_bounds(moments: np.ndarray, bounded: np.ndarray) -> np.ndarray:
    """``|x^alpha| <= 1`` when every variable of ``alpha`` satisfies ``|x_i| <= 1``; else inf."""
    ok = ~(moments[:, ~bounded] > 0).any(axis=1)
    return np.where(ok, 1.0, np.inf)


def assemble(
    nvars: int,
    objective: Term,
    constant: float,
    blocks: list[LocalizingBlock],
    scalar_ineqs: list[tuple[str, Term]] | None = None,
    equalities: list[EqualityFamily] | None = None,
) -> tuple[ConicProgram, np.ndarray]:
    """Build the conic program; returns it with the moment exponent rows (row 0 = 1)."""
    scalar_ineqs = scalar_ineqs or []
    equalities = equalities or []
    chunks: list[np.ndarray] = []
    psd_rows: list[np.ndarray] = []
    psd_vals: list[np.ndarray] = []
    offset = 0
    sizes = []
    for blk in blocks:
        s = blk.basis.shape[0]
        i, j = lower_triangle(s)
        pair = blk.basis[i] + blk.basis[j]
        g = blk.g if blk.g is not None else Term(np.zeros((1, nvars), np.int64), np.ones(1))
        t = g.exps.shape[0]
        ent = (pair[:, None, :] + g.exps[None, :, :]).reshape(-1, nvars)
        chunks.append(ent)
        psd_rows.append(offset + np.repeat(np.arange(i.size), t))
        psd_vals.append(np.tile(g.coeffs, i.size))
        offset += i.size
        sizes.append(s)
    n_psd_chunks = len(chunks)
    for _, g in scalar_ineqs:
        chunks.append(g.exps)
    eq_rows: list[np.ndarray] = []
    eq_vals: list[np.ndarray] = []
    eq_offset = 0
    for fam in equalities:
        m = fam.multipliers.shape[0]
        t = fam.h.exps.shape[0]
        ent = (fam.multipliers[:, None, :] + fam.h.exps[None, :, :]).reshape(-1, nvars)
        chunks.append(ent)
        eq_rows.append(eq_offset + np.repeat(np.arange(m), t))
        eq_vals.append(np.tile(fam.h.coeffs, m))
        eq_offset += m
    chunks.append(objective.exps)
    index = MomentIndex(nvars, chunks)
    nmom = len(index)
    n = nmom - 1

    # objective moments must be constrained by some PSD block (else the relaxation is unbounded)
    covered = np.zeros(nmom, dtype=bool)
    for k in range(n_psd_chunks):
        covered[index.chunk(k)] = True
    obj_idx = index.chunk(len(chunks) - 1)
    loose = obj_idx[~covered[obj_idx]]
    if loose.size:
        bad = index.exponents[loose[:3]].tolist()
        raise ValueError(
            f"the objective uses {loose.size} monomial(s) (e.g. exponents {bad}) that no moment "
            "or localizing matrix contains, so the relaxation would be unbounded: raise the "
            "order or add a block that covers them"
        )

    def to_matrix(rows_list, vals_list, chunk_ids, nrows):
        if not rows_list:
            return sp.csr_matrix((nrows, n)), np.zeros(nrows)
        rows = np.concatenate(rows_list)
        vals = np.concatenate(vals_list)
        cols = np.concatenate([index.chunk(k) for k in chunk_ids])
        const = cols == 0
        b = np.bincount(rows[const], weights=vals[const], minlength=nrows)
        A = sp.csr_matrix((vals[~const], (rows[~const], cols[~const] - 1)), shape=(nrows, n))
        A.sum_duplicates()
        A.eliminate_zeros()
        return A, b

    A_psd, b_psd = to_matrix(psd_rows, psd_vals, range(n_psd_chunks), offset)
    q = len(scalar_ineqs)
    ineq_rows = [np.full(g.exps.shape[0], r) for r, (_, g) in enumerate(scalar_ineqs)]
    ineq_vals = [g.coeffs for _, g in scalar_ineqs]
    A_ineq, b_ineq = to_matrix(ineq_rows, ineq_vals, range(n_psd_chunks, n_psd_chunks + q), q)
    eq_start = n_psd_chunks + q
    A_eq, b_eq = to_matrix(eq_rows, eq_vals, range(eq_start, eq_start + len(equalities)), eq_offset)
    b_eq = -b_eq  # L(h m) = 0  <=>  A y = -const
    c = np.bincount(obj_idx, weights=objective.coeffs, minlength=nmom)
    program = ConicProgram(
        c=c[1:],
        c0=float(constant + c[0]),
        A_eq=A_eq,
        b_eq=b_eq,
        A_ineq=A_ineq,
        b_ineq=b_ineq,
        A_psd=A_psd,
        b_psd=b_psd,
        block_sizes=sizes,
        block_names=[b.name for b in blocks],
    )
    program.check()
    return program, index.exponents
