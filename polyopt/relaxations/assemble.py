"""Assemble moment relaxations into a :class:`~polyopt.conic.ConicProgram` in one sparse pass.

Every relaxation (dense, sparse, nearly sparse) is a list of localizing blocks
``M_B(g y)`` (``g = 1`` for moment matrices), scalar rows ``L_y(g) >= 0`` and equality rows
``L_y(h * m) = 0``; this module turns such a list into sparse matrices without a Python loop
per moment entry. Monomials travel as codes (sorted rows of variable positions, see
:mod:`polyopt.monomials`), so the cost does not grow with the number of variables.

It also holds what every hierarchy (:mod:`~polyopt.relaxations.dense`,
:mod:`~polyopt.relaxations.sparse`, :mod:`~polyopt.relaxations.lp`) shares: the order check
(:func:`minimal_order`, :func:`check_order`) and :func:`finish`, which assembles the blocks
into a :class:`Relaxation` carrying the problem's scaling.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..algebra import Polynomial, Variable
from ..conic import ConicProgram, FactoredRows
from ..model import Problem
from ..monomials import (
    MomentIndex,
    code_degrees,
    code_products,
    exponents_from_codes,
    lower_triangle,
)
from ..time_limit import check_time


@dataclass
class Term:
    """A polynomial as arrays: monomial codes (width ``W``) and coefficients."""

    codes: np.ndarray
    coeffs: np.ndarray
    nvars: int

    @classmethod
    def of(cls, poly: Polynomial, positions: dict[int, int], width: int, nvars: int) -> Term:
        """Codes of ``poly`` with variable ids mapped to global ``positions``."""
        cols = np.array([positions[v.id] for v in poly.variables] + [nvars], dtype=np.int64)
        codes = cols[poly.codes]
        if codes.shape[1] > width:
            raise ValueError(f"a monomial of degree {codes.shape[1]} exceeds the width {width}")
        pad = np.full((codes.shape[0], width - codes.shape[1]), nvars, dtype=np.int64)
        codes = np.sort(np.concatenate([codes, pad], axis=1), axis=1)
        return cls(codes, np.asarray(poly.coefficients, dtype=float), nvars)

    @property
    def degree(self) -> int:
        return int(code_degrees(self.codes, self.nvars).max()) if self.codes.shape[0] else 0

    @property
    def support(self) -> np.ndarray:
        """Variable positions that occur."""
        u = np.unique(self.codes)
        return u[u != self.nvars]


def square_variable(h: Term) -> int | None:
    """``v`` when ``h = a v^2 + b v + c`` with ``a != 0`` (one variable), else None."""
    n = h.nvars
    used = np.unique(h.codes)
    used = used[used != n]
    if used.size != 1 or h.degree != 2:
        return None
    return int(used[0])


def square_rules(equalities: list[Term]) -> dict[int, tuple[float, float]]:
    """``{v: (b, c)}`` for the equalities ``v^2 = b v + c`` among ``equalities``."""
    rules: dict[int, tuple[float, float]] = {}
    for h in equalities:
        v = square_variable(h)
        if v is None or v in rules:
            continue
        deg = (h.codes == v).sum(axis=1)
        a = float(h.coeffs[deg == 2].sum())
        b = float(h.coeffs[deg == 1].sum())
        c = float(h.coeffs[deg == 0].sum())
        rules[v] = (-b / a, -c / a)
    return rules


def reduce_codes(
    codes: np.ndarray, rules: dict[int, tuple[float, float]], nvars: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rewrite monomials modulo ``v^2 = b v + c``: ``(codes', source row, factor)``.

    Codes are sorted rows, so a square shows as two equal neighbours; each pass rewrites the
    first square of every row into its ``b v`` and ``c`` terms until none is left."""
    is_rule = np.zeros(nvars + 1, dtype=bool)
    bs, cs = np.zeros(nvars + 1), np.zeros(nvars + 1)
    for v, (b, c) in rules.items():
        is_rule[v], bs[v], cs[v] = True, b, c
    src = np.arange(codes.shape[0])
    fac = np.ones(codes.shape[0])
    while codes.shape[1] > 1:
        dup = (codes[:, 1:] == codes[:, :-1]) & is_rule[codes[:, 1:]]
        hit = np.flatnonzero(dup.any(axis=1))
        if hit.size == 0:
            break
        k = np.argmax(dup[hit], axis=1)
        v = codes[hit, k]
        one = codes[hit].copy()
        one[np.arange(hit.size), k] = nvars
        none = one.copy()
        none[np.arange(hit.size), k + 1] = nvars
        rest = np.ones(codes.shape[0], dtype=bool)
        rest[hit] = False
        codes = np.concatenate([codes[rest], np.sort(one, axis=1), np.sort(none, axis=1)])
        src = np.concatenate([src[rest], src[hit], src[hit]])
        fac = np.concatenate([fac[rest], fac[hit] * bs[v], fac[hit] * cs[v]])
        nz = fac != 0
        codes, src, fac = codes[nz], src[nz], fac[nz]
    return codes, src, fac


def drop_squares(basis: np.ndarray, squares, nvars: int) -> np.ndarray:
    """``basis`` without the monomials divisible by ``v^2`` for ``v`` in ``squares``.

    With the equality rows ``L(h m) = 0`` of ``h = a v^2 + b v + c`` in place, the row of
    ``v^2 w`` in a moment or localizing matrix is a combination of the rows of ``v w`` and
    ``w``: dropping it gives the same PSD constraint, without the singular direction that
    leaves the relaxation no interior point."""
    if basis.shape[1] < 2 or not len(squares):
        return basis
    is_sq = np.zeros(nvars + 1, dtype=bool)
    is_sq[list(squares)] = True
    dup = (basis[:, 1:] == basis[:, :-1]) & is_sq[basis[:, 1:]]
    keep = ~dup.any(axis=1)
    return basis[keep]


@dataclass
class LocalizingBlock:
    """The PSD block ``M_B(g y)``: entries ``L_y(g * b_i * b_j)`` over basis codes ``B``."""

    name: str
    basis: np.ndarray
    g: Term | None = None


@dataclass
class EqualityFamily:
    """Rows ``L_y(h * m) = 0`` for every monomial code ``m`` of ``multipliers``."""

    name: str
    multipliers: np.ndarray
    h: Term


@dataclass
class FactoredEquality:
    """The row ``L_y(h) + coef * L_y(e^2) = 0``, with ``L_y(e^2) = <f f^T, M>`` kept factored:
    ``f`` holds the coefficients of the affine (or any) ``e`` over the basis of the PSD block
    ``block`` (an index into the block list), whose every monomial must be in that basis."""

    name: str
    h: Term
    block: int
    e: Term
    coef: float


@dataclass
class Relaxation:
    """A built relaxation: the conic program, the moment monomials and how to undo scaling."""

    program: ConicProgram
    moments: np.ndarray  # codes of y (row 0 = the monomial 1, not a variable)
    variables: tuple[Variable, ...]
    order: int
    kind: str
    var_scale: np.ndarray  # x = var_scale * x_scaled
    obj_scale: float  # objective = obj_scale * scaled objective
    sense: str
    moment_bounds: np.ndarray  # |y_alpha| <= moment_bounds[alpha] for scaled y (inf unknown)
    info: dict = field(default_factory=dict)

    @property
    def nvars(self) -> int:
        return len(self.variables)

    def exponents(self) -> np.ndarray:
        """Exponent rows ``(moments, nvars)`` of the moments (dense array: small problems)."""
        return exponents_from_codes(self.moments, self.nvars)


@dataclass
class ScaledProblem:
    """A problem's polynomials after variable scaling and coefficient normalization."""

    variables: tuple[Variable, ...]
    width: int
    objective: Term  # scaled, normalized, without constant term
    constant: float  # constant term of the scaled normalized objective
    obj_scale: float
    inequalities: list[Term]
    equalities: list[Term]
    var_scale: np.ndarray
    bounded: np.ndarray  # True where |x_scaled_i| <= 1 is implied by the constraints

    @property
    def nvars(self) -> int:
        return len(self.variables)


def _normalized(term: Term) -> Term:
    big = float(np.max(np.abs(term.coeffs))) if term.coeffs.size else 0.0
    if big == 0 or not np.isfinite(big):
        return term
    return Term(term.codes, term.coeffs / big, term.nvars)


def scale_problem(problem: Problem, width: int, scale_variables: bool = True) -> ScaledProblem:
    """Scale ``x = r * x'`` with ``r`` the variable bounds the constraints imply, normalize
    every polynomial by its largest coefficient (the objective's scale is kept), and code the
    monomials with width ``width`` (the largest moment degree)."""
    vars_ = problem.variables
    n = len(vars_)
    positions = {v.id: k for k, v in enumerate(vars_)}
    lo, hi = problem.variable_box()
    bounds = np.maximum(np.abs(lo), np.abs(hi))
    finite = np.isfinite(bounds)
    # scaling needs only a magnitude estimate (a one-sided bound such as x >= 1e5 will do);
    # the "bounded" flag used for certification needs both sides
    ends = np.where(np.isfinite(lo), np.abs(lo), 0.0), np.where(np.isfinite(hi), np.abs(hi), 0.0)
    estimate = np.maximum(*ends)
    r = np.where((estimate > 0) & scale_variables, estimate, 1.0)
    factors = {v.id: float(s) for v, s in zip(vars_, r)}

    def term(p: Polynomial) -> Term:
        return Term.of(p.substitute_scaling(factors), positions, width, n)

    fterm = term(problem.min_objective())
    is_const = code_degrees(fterm.codes, n) == 0
    constant = float(fterm.coeffs[is_const].sum())
    obj_scale = float(np.max(np.abs(fterm.coeffs[~is_const]))) if (~is_const).any() else 1.0
    objective = Term(fterm.codes[~is_const], fterm.coeffs[~is_const] / obj_scale, n)
    ineqs = [_normalized(term(g)) for g in problem.inequalities]
    eqs = [_normalized(term(h)) for h in problem.equalities]
    bounded = finite & (bounds <= r)
    return ScaledProblem(
        vars_, width, objective, constant / obj_scale, obj_scale, ineqs, eqs, r, bounded
    )


def moment_bounds(codes: np.ndarray, bounded: np.ndarray) -> np.ndarray:
    """``|x^alpha| <= 1`` when every variable of ``alpha`` satisfies ``|x_i| <= 1``; else inf."""
    ok_var = np.concatenate([bounded, [True]])  # the sentinel is harmless
    ok = ok_var[codes].all(axis=1)
    return np.where(ok, 1.0, np.inf)


def assemble(
    nvars: int,
    width: int,
    objective: Term,
    constant: float,
    blocks: list[LocalizingBlock],
    scalar_ineqs: list[tuple[str, Term]] | None = None,
    equalities: list[EqualityFamily] | None = None,
    squares: dict[int, tuple[float, float]] | None = None,
    factored: list[FactoredEquality] | None = None,
) -> tuple[ConicProgram, np.ndarray]:
    """Build the conic program; returns it with the moment codes (row 0 = the monomial 1).

    ``squares`` (``{v: (b, c)}`` for equalities ``v^2 = b v + c`` of the problem, such as
    binary or +-1 variables) rewrites every moment modulo these identities, which hold on the
    feasible set, and leaves the monomials divisible by ``v^2`` out of the block bases.
    ``factored`` rows come after the equality families, their ``e^2`` parts kept factored
    (:class:`~polyopt.conic.FactoredRows`)."""
    scalar_ineqs = scalar_ineqs or []
    equalities = list(equalities or [])
    squares = squares or {}
    factored = factored or []
    one = np.full((1, width), nvars, dtype=np.int64)
    first_factored = sum(fam.multipliers.shape[0] for fam in equalities)
    equalities += [EqualityFamily(fe.name, one, fe.h) for fe in factored]
    bases: list[np.ndarray] = []
    chunks: list[np.ndarray] = []
    psd_rows: list[np.ndarray] = []
    psd_vals: list[np.ndarray] = []
    offset = 0
    sizes = []
    for blk in blocks:
        check_time()
        basis = drop_squares(blk.basis, squares, nvars) if squares else blk.basis
        bases.append(basis)
        s = basis.shape[0]
        i, j = lower_triangle(s)
        pair = code_products(basis[i], basis[j], width, nvars)
        if blk.g is None:
            ent, vals, t = pair, np.ones(i.size), 1
        else:
            t = blk.g.codes.shape[0]
            ent = code_products(
                np.repeat(pair, t, axis=0), np.tile(blk.g.codes, (i.size, 1)), width, nvars
            )
            vals = np.tile(blk.g.coeffs, i.size)
        chunks.append(ent)
        psd_rows.append(offset + np.repeat(np.arange(i.size), t))
        psd_vals.append(vals)
        offset += i.size
        sizes.append(s)
    n_psd_chunks = len(chunks)
    ineq_rows = [np.full(g.codes.shape[0], r) for r, (_, g) in enumerate(scalar_ineqs)]
    ineq_vals = [g.coeffs for _, g in scalar_ineqs]
    for _, g in scalar_ineqs:
        chunks.append(g.codes)
    eq_rows: list[np.ndarray] = []
    eq_vals: list[np.ndarray] = []
    eq_offset = 0
    for fam in equalities:
        check_time()
        m = fam.multipliers.shape[0]
        t = fam.h.codes.shape[0]
        ent = code_products(
            np.repeat(fam.multipliers, t, axis=0), np.tile(fam.h.codes, (m, 1)), width, nvars
        )
        chunks.append(ent)
        eq_rows.append(eq_offset + np.repeat(np.arange(m), t))
        eq_vals.append(np.tile(fam.h.coeffs, m))
        eq_offset += m
    chunks.append(objective.codes)
    obj_coeffs = objective.coeffs
    if squares:
        q_ = len(scalar_ineqs)
        rows_vals = (
            list(zip(psd_rows, psd_vals))
            + list(zip(ineq_rows, ineq_vals))
            + list(zip(eq_rows, eq_vals))
            + [(np.zeros(obj_coeffs.size, dtype=int), obj_coeffs)]
        )
        # one pass over all chunks at once, then split back
        sizes_k = [c.shape[0] for c in chunks]
        which = np.repeat(np.arange(len(chunks)), sizes_k)
        codes_all, src, fac = reduce_codes(np.concatenate(chunks), squares, nvars)
        order = np.argsort(which[src], kind="stable")
        codes_all, src, fac = codes_all[order], src[order], fac[order]
        cuts = np.searchsorted(which[src], np.arange(1, len(chunks)))
        local = src - np.concatenate([[0], np.cumsum(sizes_k)[:-1]])[which[src]]
        for k, (idx, cod, f) in enumerate(
            zip(np.split(local, cuts), np.split(codes_all, cuts), np.split(fac, cuts))
        ):
            rows, vals = rows_vals[k]
            chunks[k] = cod
            rows_vals[k] = (rows[idx], vals[idx] * f)
        npc = n_psd_chunks
        psd_rows, psd_vals = map(list, zip(*rows_vals[:npc])) if npc else ([], [])
        ineq_rows = [r for r, _ in rows_vals[npc : npc + q_]]
        ineq_vals = [v for _, v in rows_vals[npc : npc + q_]]
        eq_rows = [r for r, _ in rows_vals[npc + q_ : -1]]
        eq_vals = [v for _, v in rows_vals[npc + q_ : -1]]
        obj_coeffs = rows_vals[-1][1]
    index = MomentIndex(nvars, width, chunks)
    nmom = len(index)
    n = nmom - 1

    # objective moments must appear in some block or row (else the relaxation is unbounded)
    covered = np.zeros(nmom, dtype=bool)
    for k in range(len(chunks) - 1):  # blocks, inequality rows and equality rows
        covered[index.chunk(k)] = True
    obj_idx = index.chunk(len(chunks) - 1)
    loose = obj_idx[~covered[obj_idx]]
    if loose.size:
        example = [int(v) for v in index.codes[loose[0]] if v != nvars]
        raise ValueError(
            f"the objective uses {loose.size} monomial(s) (e.g. the product of variables at "
            f"positions {example}) that no moment or localizing matrix contains, so the "
            "relaxation would be unbounded: raise the order, or use cliques / a sparsity "
            "pattern whose blocks cover every objective term"
        )

    row_l1: dict[str, np.ndarray] = {}

    def to_matrix(rows_list, vals_list, chunk_ids, nrows, name):
        if not rows_list:
            row_l1[name] = np.zeros(nrows)
            return sp.csr_matrix((nrows, n)), np.zeros(nrows)
        rows = np.concatenate(rows_list)
        vals = np.concatenate(vals_list)
        row_l1[name] = np.bincount(rows, weights=np.abs(vals), minlength=nrows)
        cols = np.concatenate([index.chunk(k) for k in chunk_ids])
        const = cols == 0
        b = np.bincount(rows[const], weights=vals[const], minlength=nrows)
        A = sp.csr_matrix((vals[~const], (rows[~const], cols[~const] - 1)), shape=(nrows, n))
        A.sum_duplicates()
        A.eliminate_zeros()
        return A, b

    A_psd, b_psd = to_matrix(psd_rows, psd_vals, range(n_psd_chunks), offset, "psd")
    q = len(scalar_ineqs)
    ineq_chunks = range(n_psd_chunks, n_psd_chunks + q)
    A_ineq, b_ineq = to_matrix(ineq_rows, ineq_vals, ineq_chunks, q, "ineq")
    eq_start = n_psd_chunks + q
    eq_chunks = range(eq_start, eq_start + len(equalities))
    A_eq, b_eq = to_matrix(eq_rows, eq_vals, eq_chunks, eq_offset, "eq")
    b_eq = -b_eq  # L(h m) = 0  <=>  A y = -const
    fr = _factored_rows(factored, bases, first_factored, width, nvars) if factored else None
    if fr is not None:
        row_l1["eq"] = row_l1["eq"] + np.bincount(
            fr.eq_row,
            np.abs(fr.coef) * np.asarray(abs(fr.F).sum(axis=1)).ravel() ** 2,
            minlength=eq_offset,
        )
    if squares:  # rows the rewriting made 0 = 0 (the defining equalities themselves)
        nonempty = (np.diff(A_eq.indptr) > 0) | (np.abs(b_eq) > 1e-12)
        if fr is not None:
            nonempty[fr.eq_row] = True
        A_eq, b_eq = A_eq[nonempty], b_eq[nonempty]
        row_l1["eq"] = row_l1["eq"][nonempty]
        if fr is not None:
            fr = fr.select(nonempty)
    c = np.bincount(obj_idx, weights=obj_coeffs, minlength=nmom)
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
        row_names=[name for name, _ in scalar_ineqs],
        row_l1=row_l1,
        factored=fr,
    )
    program.check()
    return program, index.codes


def _factored_rows(
    factored: list[FactoredEquality], bases: list[np.ndarray], first: int, width: int, nvars: int
) -> FactoredRows:
    """The :class:`FactoredRows` of ``factored`` (equality rows from ``first`` on)."""
    side = max(b.shape[0] for b in bases)
    rows, cols, vals = [], [], []
    for r, fe in enumerate(factored):
        basis = bases[fe.block]
        where = {tuple(code): p for p, code in enumerate(basis.tolist())}
        codes = fe.e.codes
        if codes.shape[1] < width:
            pad = np.full((codes.shape[0], width - codes.shape[1]), nvars, dtype=np.int64)
            codes = np.sort(np.concatenate([codes, pad], axis=1), axis=1)
        pos = [where.get(tuple(code)) for code in codes[:, :width].tolist()]
        if any(p is None for p in pos):
            raise ValueError(f"{fe.name}: a monomial of e is not in the basis of its block")
        rows.append(np.full(len(pos), r))
        cols.append(np.asarray(pos, dtype=np.int64))
        vals.append(fe.e.coeffs)
    F = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(factored), side),
    )
    F.sum_duplicates()
    return FactoredRows(
        first + np.arange(len(factored)),
        np.array([fe.block for fe in factored]),
        F,
        np.array([fe.coef for fe in factored]),
    )


# ----------------------------------------------------------------- shared by every hierarchy
def minimal_order(problem: Problem) -> int:
    """Smallest valid order: ``max(ceil(deg f / 2), ceil(deg g_i / 2), ceil(deg h_j / 2), 1)``."""
    degs = [problem.objective.degree] + [c.poly.degree for c in problem.constraints]
    return max(1, max((d + 1) // 2 for d in degs))


def check_order(problem: Problem, order: int | None) -> int:
    """Validate ``order`` (default: :func:`minimal_order`)."""
    low = minimal_order(problem)
    if order is None:
        return low
    if not isinstance(order, int | np.integer) or isinstance(order, bool):
        raise TypeError(f"order must be an integer, got {order!r}")
    if order < low:
        raise ValueError(
            f"order {order} is too small for this problem: the smallest valid order is {low} "
            "(2*order must reach the degree of the objective and of every constraint)"
        )
    return int(order)


def finish(
    sc: ScaledProblem,
    order: int,
    kind: str,
    sense: str,
    blocks: list[LocalizingBlock],
    scalar_ineqs=None,
    equalities=None,
    info: dict | None = None,
    reduce_squares: bool = False,
    factored: list[FactoredEquality] | None = None,
) -> Relaxation:
    """Assemble blocks into a :class:`Relaxation` carrying the scaling of ``sc``.

    ``reduce_squares`` rewrites the moments modulo the problem's equalities ``v^2 = b v + c``
    (binary and +-1 variables; see :func:`assemble`)."""
    squares = square_rules(sc.equalities) if reduce_squares else None
    program, moments = assemble(
        sc.nvars,
        sc.width,
        sc.objective,
        sc.constant,
        blocks,
        scalar_ineqs,
        equalities,
        squares,
        factored,
    )
    return Relaxation(
        program=program,
        moments=moments,
        variables=sc.variables,
        order=order,
        kind=kind,
        var_scale=sc.var_scale,
        obj_scale=sc.obj_scale,
        sense=sense,
        moment_bounds=moment_bounds(moments, sc.bounded),
        info=info or {},
    )
