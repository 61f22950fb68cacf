"""The LP hierarchy of Krivine-Stengle / Handelman type (as in LipOpt).

Every variable needs bounds implied by the constraints (:meth:`polyopt.model.Problem.
variable_box`, valid in exact arithmetic). The relaxation works in the variables
``z_i = (x_i - c_i) / s_i`` (floats ``c_i``, ``s_i`` with the box inside ``z in [-1, 1]``; a box
that does not contain the origin is centered, see :func:`polyopt.lp_certificate.centering`),
so that narrow or offset boxes keep every coefficient of order one. The generators, all in
``[0, 1]`` on the feasible set, are ``h_i = (z_i - zl_i) / (zu_i - zl_i)`` for each box
``[zl_i, zu_i]`` and ``h = g / T`` for each other inequality ``g >= 0`` (``T`` an exact
interval upper bound of ``g`` on the box), with their complements ``1 - h``. The degree-``k``
relaxation certifies ``f - lambda`` as a nonnegative combination of products of generators of
total polynomial degree ``<= k`` (plus free multiples of the equalities). Its dual, built
here, is the pseudo-moment LP ``min L_y(f)`` s.t. ``L_y(P) >= 0`` for every product ``P``,
``L_y(h m) = 0``, ``y_0 = 1``. With cliques (``sparsity="correlative"`` or caller cliques)
only products whose variables lie in one clique are used, as in LipOpt's sparse version.

The polynomials are transformed in exact rational arithmetic and rounded once to build the
LP; the exact generators, products and equalities are kept (``info["certificate"]``) so that
:mod:`polyopt.lp_certificate` proves the reported bound for the problem as given. The
pseudo-moments are those of the centered variables ``z`` (``var_scale`` holds ``s``,
``info["center"]`` holds ``c``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction

import numpy as np

from ..lp_certificate import (
    ExactPoly,
    LPCertificateData,
    affine_substitute,
    centering,
    exact_polynomial,
    interval_bounds,
    power_of_two_near,
)
from ..model import Problem
from ..monomials import basis_codes, code_products
from ..structure import build_structure
from ..time_limit import check_time
from .assemble import EqualityFamily, ScaledProblem, Term, finish


def _product(a: Term, b: Term, width: int) -> Term:
    ta, tb = a.codes.shape[0], b.codes.shape[0]
    codes = code_products(np.repeat(a.codes, tb, axis=0), np.tile(b.codes, (ta, 1)), width, a.nvars)
    return Term(codes, np.outer(a.coeffs, b.coeffs).ravel(), a.nvars)


def _term(poly: ExactPoly, nvars: int, width: int, scale: Fraction = Fraction(1)) -> Term:
    """The float rounding of ``poly / scale`` as coded terms."""
    keys = list(poly)
    codes = np.full((len(keys), width), nvars, dtype=np.int64)
    for r, exps in enumerate(keys):
        row = [i for i, d in enumerate(exps) for _ in range(d)]
        codes[r, : len(row)] = row
    coeffs = np.array([float(poly[e] / scale) for e in keys], dtype=float)
    if not np.all(np.isfinite(coeffs)):
        raise ValueError("a coefficient of the LP relaxation overflows the float range")
    return Term(codes, coeffs, nvars)


def _degree(poly: ExactPoly) -> int:
    return max((sum(e) for e in poly), default=0)


def _support(poly: ExactPoly) -> set[int]:
    return {i for e in poly for i, d in enumerate(e) if d}


def _unit(poly: ExactPoly) -> Fraction:
    """A power of two near the largest coefficient of ``poly`` (exact normalizer)."""
    big = max((abs(v) for v in poly.values()), default=Fraction(0))
    return Fraction(power_of_two_near(float(big))) if big else Fraction(1)


def lp_relaxation(
    problem: Problem,
    degree: int | None = None,
    cliques: Sequence[Iterable[int | str]] | None = None,
    sparse: bool = False,
    chordal: str = "min_degree",
    max_products: int = 2_000_000,
    scale: bool = True,
):
    """Build the degree-``degree`` LP relaxation (default: the objective's degree).

    Parameters
    ----------
    problem
        A problem whose constraints bound every variable.
    degree
        The largest total degree of the products (at least the objective's degree).
    cliques, sparse, chordal
        ``sparse=True`` (or caller ``cliques``) restricts products to cliques of the
        correlative sparsity pattern (``chordal``: the chordal extension heuristic).
    max_products
        Refuse to build more products than this.
    scale
        Scale every variable into ``[-1, 1]``, centering boxes away from the origin
        (recommended); ``False`` keeps the original variables.

    Returns
    -------
    Relaxation
        The LP, with ``info["certificate"]`` (:class:`~polyopt.lp_certificate.
        LPCertificateData`) for the exact certificate of its bound.
    """
    fdeg = problem.objective.degree
    k = fdeg if degree is None else degree
    if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
        raise ValueError(f"degree must be a positive integer, got {degree!r}")
    k = int(k)
    if k < fdeg:
        raise ValueError(f"degree {k} is below the objective's degree {fdeg}")
    lo, hi = problem.variable_box()
    unbounded = [v.name for v, a, b in zip(problem.variables, lo, hi) if not np.isfinite(a - b)]
    if unbounded:
        raise ValueError(
            f"the LP hierarchy needs every variable bounded by the constraints; no bounds for "
            f"{unbounded[:5]} (add constraints such as 'x >= l' and 'x <= u')"
        )
    for kind, polys in (("equality", problem.equalities), ("inequality", problem.inequalities)):
        for e, h in enumerate(polys):
            if h.degree > k:  # checked here: coding at width k would fail with a cryptic error
                raise ValueError(f"degree {k} is below the degree of {kind} {e} ({h.degree})")
    vars_ = problem.variables
    n = len(vars_)
    elo = [Fraction(float(v)) for v in lo]
    ehi = [Fraction(float(v)) for v in hi]
    for i in range(n):
        if elo[i] > ehi[i]:
            raise ValueError(f"variable {vars_[i].name} has an empty box")
    cs = [centering(elo[i], ehi[i], scale) for i in range(n)]
    center = [Fraction(c) for c, _ in cs]
    step = [Fraction(s) for _, s in cs]
    zl = [(elo[i] - center[i]) / step[i] for i in range(n)]
    zu = [(ehi[i] - center[i]) / step[i] for i in range(n)]
    radius = [max(abs(a), abs(b)) for a, b in zip(zl, zu)]

    def transform(p) -> ExactPoly:
        return affine_substitute(exact_polynomial(p, vars_), center, step)

    # objective (minimization) over a power of two: exact, and exactly undone in the result
    fz = transform(problem.min_objective())
    zero = (0,) * n
    nonconst = {e: v for e, v in fz.items() if e != zero}
    obj_scale = float(_unit(nonconst))
    fexact = {e: v / Fraction(obj_scale) for e, v in fz.items()}
    objective = _term(nonconst, n, k, Fraction(obj_scale))
    constant = float(fexact.get(zero, Fraction(0)))

    one = Term(np.full((1, k), n, dtype=np.int64), np.ones(1), n)
    factors: list[ExactPoly] = []
    implied: list[ExactPoly] = []  # fixed variables and inequalities that can only be tight
    for i in range(n):
        ei = tuple(int(j == i) for j in range(n))
        if zl[i] == zu[i]:  # a fixed variable: z_i - zl_i = 0
            implied.append({e: v for e, v in ((ei, Fraction(1)), (zero, -zl[i])) if v})
            continue
        w = zu[i] - zl[i]
        factors.append({e: v for e, v in ((ei, 1 / w), (zero, -zl[i] / w)) if v})
    for g in problem.inequalities:
        gz = transform(g)
        if _degree(gz) == 0 or (_degree(gz) == 1 and len(_support(gz)) == 1):
            continue  # constants, and single-variable bounds already in the box factors
        top = interval_bounds(gz, zl, zu)[1]
        if top <= 0:  # g <= 0 on the whole box, so g >= 0 means g = 0 on the feasible set
            implied.append({e: v / _unit(gz) for e, v in gz.items()})
            continue
        factors.append({e: v / top for e, v in gz.items()})
    comps = []
    for f in factors:
        c = {e: -v for e, v in f.items()}
        c[zero] = c.get(zero, Fraction(0)) + 1
        comps.append({e: v for e, v in c.items() if v})
    pieces_exact = factors + comps
    pieces = [_term(p, n, k) for p in pieces_exact]
    degs = [_degree(p) for p in pieces_exact]
    supp = [_support(p) for p in pieces_exact]
    allowed = None
    info: dict = {"factors": len(factors), "center": np.array([float(c) for c in center])}
    if sparse or cliques is not None:
        structure = build_structure(problem, cliques, chordal)
        allowed = [set(c) for c in structure.cliques]
        info["cliques"] = structure.cliques

    def fits(s: set[int]) -> bool:
        return allowed is None or any(s <= c for c in allowed)

    rows: list[tuple[str, Term]] = []
    row_pieces: list[tuple[int, ...]] = []
    level = [((), one, 0, set())]
    count = 0
    while level:
        nxt = []
        for idx, term, deg, s in level:
            start = idx[-1] if idx else 0
            for j in range(start, len(pieces)):
                d2 = deg + degs[j]
                if d2 > k:
                    continue
                s2 = s | supp[j]
                if not fits(s2):
                    continue
                if count % 256 == 0:
                    check_time()
                prod = _product(term, pieces[j], k)
                nxt.append((idx + (j,), prod, d2, s2))
                rows.append((f"P{idx + (j,)}", prod))
                row_pieces.append(idx + (j,))
                count += 1
                if count > max_products:
                    raise ValueError(
                        f"more than {max_products} products at degree {k}: lower the degree "
                        "or use sparse=True / cliques"
                    )
        level = nxt
    eqs = []
    eq_exact: list[ExactPoly] = []
    equalities = [transform(h) for h in problem.equalities]
    equalities = [{e: v / _unit(h) for e, v in h.items()} for h in equalities] + implied
    for e, h in enumerate(equalities):
        hd = _degree(h)
        if allowed is None:
            mult = basis_codes(np.arange(n), k - hd, k, n) if k >= hd else None
        else:
            hs = _support(h)
            home = [c for c in allowed if hs <= c]
            clique = sorted(home[0]) if home else sorted(hs)
            mult = basis_codes(np.array(clique), k - hd, k, n) if k >= hd else None
        if mult is None:
            raise ValueError(f"degree {k} is below the degree of equality {e}")
        eqs.append(EqualityFamily(f"equality h{e}", mult, _term(h, n, k)))
        for row in mult:
            m = [0] * n
            for v in row[row != n]:
                m[int(v)] += 1
            eq_exact.append({tuple(a + b for a, b in zip(m, ex)): v for ex, v in h.items()})
    info["products"] = len(rows)
    info["certificate"] = LPCertificateData(
        nvars=n,
        objective=fexact,
        pieces=pieces_exact,
        rows=row_pieces,
        equalities=eq_exact,
        radius=radius,
        obj_scale=obj_scale,
    )
    sc = ScaledProblem(
        variables=vars_,
        width=k,
        objective=objective,
        constant=constant,
        obj_scale=obj_scale,
        inequalities=[],
        equalities=[],
        var_scale=np.array([float(s) for s in step]),
        bounded=np.array([r <= 1 for r in radius], dtype=bool),
    )
    return finish(sc, k, "lp", problem.sense, [], rows, eqs, info)
