"""Correlative-sparse Lasserre relaxation and the nearly-sparse heuristic hierarchy HR-d.

Specification: Chen, Magron, Lasserre, Pauwels (NeurIPS 2020), section 3.2 (MomSpOpt-d) and
section 4 (MomNlySpOpt-d).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ..algebra import Polynomial
from ..model import Problem
from ..monomials import basis_codes, code_degrees, code_products
from ..structure import CliqueStructure, build_structure, supports
from .assemble import (
    EqualityFamily,
    FactoredEquality,
    LocalizingBlock,
    Relaxation,
    Term,
    check_order,
    finish,
    scale_problem,
)


def _with_balls(problem: Problem, cliques: list[tuple[int, ...]], radii) -> Problem:
    """The problem plus ``R_k^2 - sum_{i in I_k} x_i^2 >= 0`` per clique (assumption A4)."""
    k = len(cliques)
    if isinstance(radii, int | float):
        radii = [float(radii)] * k
    radii = list(radii)
    if len(radii) != k:
        raise ValueError(f"ball_radii needs one radius per clique ({k}), got {len(radii)}")
    extra = []
    for clique, r in zip(cliques, radii):
        if not np.isfinite(r) or r <= 0:
            raise ValueError(f"ball radii must be positive, got {r!r}")
        ball = r**2 - sum((problem.variables[v] ** 2 for v in clique), Polynomial.constant(0.0))
        extra.append(ball >= 0)
    return Problem(
        **{"minimize" if problem.sense == "min" else "maximize": problem.objective},
        constraints=list(problem.constraints) + extra,
        variables=problem.variables,
    )


def _clique_blocks(sc, structure: CliqueStructure, d: int, constraints: Iterable[int]):
    """Moment matrices per clique and localizing matrices / equality rows per constraint."""
    n, W = sc.nvars, sc.width
    blocks = [
        LocalizingBlock(f"moment matrix clique {k}", basis_codes(np.array(c), d, W, n))
        for k, c in enumerate(structure.cliques)
    ]
    eqs = []
    kinds = sc.kinds
    for i in constraints:
        k = structure.assignment[i]
        clique = np.array(structure.cliques[k])
        g: Term = sc.polys[i]
        if kinds[i] == "ineq":
            dg = d - (g.degree + 1) // 2
            blocks.append(
                LocalizingBlock(f"localizing c{i} clique {k}", basis_codes(clique, dg, W, n), g)
            )
        else:
            eqs.append(
                EqualityFamily(
                    f"equality c{i} clique {k}", basis_codes(clique, 2 * d - g.degree, W, n), g
                )
            )
    return blocks, eqs


class _Coded:
    """Scaled problem with its constraints in problem order (kinds and terms)."""

    def __init__(self, problem: Problem, width: int, scale: bool) -> None:
        sc = scale_problem(problem, width, scale)
        self.__dict__.update(sc.__dict__)
        self.nvars = sc.nvars
        self.kinds = [c.kind for c in problem.constraints]
        it_i, it_e = iter(sc.inequalities), iter(sc.equalities)
        self.polys = [next(it_i) if k == "ineq" else next(it_e) for k in self.kinds]


def correlative(
    problem: Problem,
    order: int | None = None,
    cliques: Sequence[Iterable[int | str]] | None = None,
    chordal: str = "min_degree",
    ball_radii: float | Sequence[float] | None = None,
    scale: bool = True,
) -> Relaxation:
    """The sparse Lasserre relaxation of order ``d`` (MomSpOpt-d).

    Moment matrices ``M_d(y, I_k)`` per clique ``I_k`` of a chordal extension of the
    correlative sparsity graph (or of the caller's ``cliques``), localizing matrices
    ``M_{d - w_i}(g_i y, I_k(i))`` in the clique each constraint is assigned to, equality rows
    in that clique. ``ball_radii`` adds ``R_k^2 - sum_{i in I_k} x_i^2 >= 0`` per clique: one
    radius for every clique, or a list with one radius per caller clique (``cliques=``).
    """
    d = check_order(problem, order)
    structure = build_structure(problem, cliques, chordal)
    if ball_radii is not None:
        if cliques is None and not isinstance(ball_radii, int | float):
            raise ValueError(
                "a list of ball radii needs the cliques it refers to: pass cliques= (one "
                "radius per given clique) or a single radius for every detected clique"
            )
        names = {v.name: k for k, v in enumerate(problem.variables)}
        given = (
            structure.cliques
            if cliques is None
            else [tuple(names[v] if isinstance(v, str) else int(v) for v in c) for c in cliques]
        )
        problem = _with_balls(problem, given, ball_radii)
        structure = build_structure(problem, structure.cliques, chordal)
    sc = _Coded(problem, 2 * d, scale)
    blocks, eqs = _clique_blocks(sc, structure, d, range(len(problem.constraints)))
    info = {"cliques": structure.cliques, "assignment": structure.assignment}
    return finish(sc, d, "correlative", problem.sense, blocks, equalities=eqs, info=info)


def detect_bad_constraints(problem: Problem) -> list[int]:
    """Constraints that break the sparsity pattern (documented rule).

    A constraint is a candidate when its support has more than ``max(2, 2 * median)``
    variables (median over all constraints' supports). Candidates whose support fits inside a
    maximal clique of the chordal graph built from the other constraints (and the objective
    terms of degree > 2) are kept as ordinary constraints.
    """
    _, cons = supports(problem)
    if not cons:
        return []
    sizes = np.array([c.size for c in cons])
    limit = max(2.0, 2.0 * float(np.median(sizes)))
    candidates = [k for k, s in enumerate(sizes) if s > limit]
    if not candidates:
        return []
    good = [k for k in range(len(cons)) if k not in set(candidates)]
    structure = build_structure(problem, None, "min_degree", good, objective_degree_over=2)
    cl = [set(c) for c in structure.cliques]
    return [k for k in candidates if not any(set(cons[k].tolist()) <= c for c in cl)]


def affine_pivots(
    sc, bad: Sequence[int], cliques: Sequence[Sequence[int]], objective: Term
) -> dict[int, int]:
    """Bad affine equalities ``h = c v + e(x) = 0`` whose variable ``v`` can leave ``M_1``.

    ``v`` (the pivot) must occur in no other bad constraint and share no clique with another
    pivot, and every objective term of degree <= 2 with ``v`` must lie in one of its cliques.
    Returns ``{constraint index: pivot position}``; among the candidates of a constraint the
    one with the largest coefficient is taken.
    """
    n = sc.nvars
    occurs = np.zeros(n, dtype=int)
    for b in bad:
        occurs[sc.polys[b].support] += 1
    in_cliques: dict[int, list[int]] = {}
    for k, c in enumerate(cliques):
        for v in c:
            in_cliques.setdefault(int(v), []).append(k)
    obj_vars = objective.codes[code_degrees(objective.codes, n) <= 2]
    taken_cliques: set[int] = set()
    pivots: dict[int, int] = {}
    for b in bad:
        h = sc.polys[b]
        if sc.kinds[b] != "eq" or h.degree > 1:
            continue
        linear = h.codes[:, 0] < n
        best, best_coef = -1, 0.0
        for v, coef in zip(h.codes[linear, 0], h.coeffs[linear]):
            v = int(v)
            homes = in_cliques.get(v, [])
            if occurs[v] != 1 or not homes or taken_cliques & set(homes):
                continue
            mates = set().union(*(cliques[k] for k in homes))
            with_v = obj_vars[(obj_vars == v).any(axis=1)]
            if not np.all(np.isin(with_v, list(mates) + [n])):
                continue
            if abs(coef) > abs(best_coef):
                best, best_coef = v, float(coef)
        if best >= 0:
            pivots[b] = best
            taken_cliques.update(in_cliques[best])
    return pivots


MAX_TERMS = 20_000_000
"""The most monomial terms the bad constraints of HR-d may expand into (the squares ``e^2`` of
eliminated pivots, the rows ``L(h m)`` of the other affine equalities); beyond it
:func:`nearly_sparse` raises instead of filling the memory (about 100 bytes per term)."""


def _pivot_square(h: Term, v: int) -> Term:
    """``h * (c v - e)`` for ``h = c v + e``: ``c^2 v^2 - e^2``, a polynomial in ``v^2`` and
    the other variables only."""
    n, W = h.nvars, h.codes.shape[1]
    at_v = h.codes[:, 0] == v
    c = float(h.coeffs[at_v].sum())
    e_codes, e_coeffs = h.codes[~at_v], h.coeffs[~at_v]
    i, j = np.triu_indices(e_codes.shape[0])
    codes = code_products(e_codes[i], e_codes[j], W, n)
    vv = code_products(h.codes[at_v][:1], h.codes[at_v][:1], W, n)
    return Term(
        np.concatenate([vv, codes]),
        np.concatenate([[c * c], -e_coeffs[i] * e_coeffs[j] * np.where(i == j, 1.0, 2.0)]),
        n,
    )


def _pivot_parts(h: Term, v: int) -> tuple[Term, Term]:
    """``(c^2 v^2, e)`` for ``h = c v + e``: the row ``L(c^2 v^2) - L(e^2) = 0`` of
    :func:`_pivot_square` with ``e`` kept apart (for a factored ``L(e^2)``)."""
    at_v = h.codes[:, 0] == v
    c = float(h.coeffs[at_v].sum())
    vv = code_products(h.codes[at_v][:1], h.codes[at_v][:1], h.codes.shape[1], h.nvars)
    return Term(vv, np.array([c * c]), h.nvars), Term(h.codes[~at_v], h.coeffs[~at_v], h.nvars)


def _bad_terms(sc, bad: list[int], pivots: dict[int, int], n: int, factored: bool) -> int:
    """How many terms the bad constraints expand into (see :data:`MAX_TERMS`)."""
    total = 0
    for b in bad:
        t = sc.polys[b].codes.shape[0]
        if b in pivots:
            total += 2 * t if factored else t * (t + 1) // 2
        elif sc.kinds[b] == "eq" and sc.polys[b].degree <= 1:
            total += (n + 1) * t
        else:
            total += t
    return total


def nearly_sparse(
    problem: Problem,
    order: int | None = None,
    cliques: Sequence[Iterable[int | str]] | None = None,
    bad: Sequence[int] | None = None,
    chordal: str = "min_degree",
    scale: bool = True,
    eliminate: bool = True,
    factored_squares: bool = True,
) -> Relaxation:
    """The heuristic hierarchy HR-d (MomNlySpOpt-d).

    ``M_1(y)`` on all variables, ``M_d(y, I_k)`` on the cliques of the sparsity pattern built
    without the bad constraints, ``M_{d - w_i}(g_i y, I_k(i))`` for the other constraints, and
    only ``L_y(g) >= 0`` (``= 0`` for equalities) for each bad constraint (for an affine
    equality ``h = 0``: ``L_y(h m) = 0`` for all ``m`` of degree <= 1, the rows Shor's
    relaxation has, equivalent to ``L_y(h^2) = 0`` given ``M_1 >= 0``). ``bad`` lists
    constraint indices; by default they are found by :func:`detect_bad_constraints`.
    Objective terms of degree <= 2 are covered by ``M_1``; higher-degree terms must lie in a
    clique.

    ``eliminate=True`` removes from ``M_1`` the pivot ``v`` of each bad affine equality
    ``h = c v + e = 0`` that :func:`affine_pivots` accepts (``z = W x + b`` in a network's
    LCEP) and keeps only ``L(h m) = 0`` for ``m`` in ``1`` and ``v``'s clique mates, plus
    ``L(c^2 v^2 - e^2) = 0``. This is the same relaxation: ``M_1`` with ``M_1 h = 0`` is
    ``T M_1' T^T`` for the smaller ``M_1'``, and these rows tie the clique blocks' moments of
    ``v`` to it. The moment matrix is smaller and, unlike ``L(h^2) = 0``, has an interior.
    With ``factored_squares`` (the default) ``L(e^2) = <f f^T, M_1'>`` stays a factored row
    (:class:`~polyopt.conic.FactoredRows`): ``O(p)`` data for ``e`` over ``p`` variables
    instead of ``O(p^2)`` monomial terms; solvers that do not take factored rows expand it.

    From order 2 on, moments are rewritten modulo the equalities ``v^2 = b v + c`` of the
    problem (binary and +-1 variables) and ``v^2`` leaves the block bases: valid identities
    on the feasible set, and blocks without the singular direction ``v^2 - b v - c``.
    """
    d = check_order(problem, order)
    ncons = len(problem.constraints)
    if bad is None:
        bad = detect_bad_constraints(problem)
    bad = sorted({int(b) for b in bad})
    if any(b < 0 or b >= ncons for b in bad):
        raise ValueError(f"bad constraint indices must lie in [0, {ncons})")
    for b in bad:
        if problem.constraints[b].poly.degree > 2:
            raise ValueError(
                f"bad constraint {b} has degree > 2: L_y(g) would use moments that only the "
                "clique blocks may contain; lift it to a quadratic constraint first"
            )
    good = [k for k in range(ncons) if k not in set(bad)]
    structure = build_structure(problem, cliques, chordal, good, objective_degree_over=2)
    sc = _Coded(problem, 2 * d, scale)
    n = sc.nvars
    blocks, eqs = _clique_blocks(sc, structure, d, good)
    pivots = affine_pivots(sc, bad, structure.cliques, sc.objective) if eliminate else {}
    terms = _bad_terms(sc, bad, pivots, n, factored_squares)
    if terms > MAX_TERMS:
        raise ValueError(
            f"HR-{d}: the {len(bad)} bad constraints expand into about {terms:,} terms "
            f"(~{terms * 100 / 2**30:.1f} GB), more than polyopt.relaxations.sparse.MAX_TERMS "
            f"= {MAX_TERMS:,}: use a first-order relaxation, fewer bad constraints, or raise "
            "the limit if the memory is there"
        )
    kept = np.setdiff1d(np.arange(n), list(pivots.values()))
    blocks.insert(0, LocalizingBlock("first-order moment matrix", basis_codes(kept, 1, 2 * d, n)))
    scalar = []
    factored: list[FactoredEquality] = []
    for b in bad:
        g = sc.polys[b]
        if b in pivots:
            v = pivots[b]
            # L(e^2) over M_1's basis stays factored when e has no other eliminated pivot
            factor = factored_squares and np.isin(_pivot_parts(g, v)[1].support, kept).all()
            mates = sorted({int(u) for c in structure.cliques if v in c for u in c if u != v})
            eqs.append(
                EqualityFamily(f"L(c{b} m) = 0", basis_codes(np.array(mates), 1, 2 * d, n), g)
            )
            name = f"L(c{b} (2 v - c{b})) = 0"
            if factor:
                vv, e = _pivot_parts(g, v)
                factored.append(FactoredEquality(name, vv, 0, e, -1.0))
            else:
                eqs.append(
                    EqualityFamily(
                        name, basis_codes(np.arange(0), 0, 2 * d, n), _pivot_square(g, v)
                    )
                )
        elif sc.kinds[b] == "ineq":
            scalar.append((f"L(c{b}) >= 0", g))
        elif problem.constraints[b].poly.degree <= 1:
            # an affine equality h = 0: L(h m) = 0 for every m of degree <= 1, all moments of
            # M_1 (Shor's localizing rows; with M_1 PSD the same as L(h^2) = 0)
            eqs.append(EqualityFamily(f"L(c{b} x) = 0", basis_codes(np.arange(n), 1, 2 * d, n), g))
        else:
            eqs.append(EqualityFamily(f"L(c{b}) = 0", basis_codes(np.arange(0), 0, 2 * d, n), g))
    info = {
        "cliques": structure.cliques,
        "assignment": structure.assignment,
        "bad": bad,
        "eliminated": sorted(pivots.values()),
    }
    return finish(
        sc,
        d,
        "nearly",
        problem.sense,
        blocks,
        scalar,
        eqs,
        info,
        reduce_squares=d >= 2,
        factored=factored,
    )


def resolve_sparsity(problem: Problem, order, sparsity, options: Mapping) -> Relaxation:
    """Dispatch ``sparsity="correlative" | "nearly"`` with their options."""
    if sparsity == "correlative":
        allowed = {"cliques", "chordal", "ball_radii", "scale"}
        bad = set(options) - allowed
        if bad:
            raise ValueError(f"unknown option(s) {sorted(bad)} for sparsity='correlative'")
        return correlative(problem, order, **options)
    allowed = {"cliques", "bad", "chordal", "scale", "eliminate", "factored_squares"}
    bad_opts = set(options) - allowed
    if bad_opts:
        raise ValueError(f"unknown option(s) {sorted(bad_opts)} for sparsity='nearly'")
    return nearly_sparse(problem, order, **options)
