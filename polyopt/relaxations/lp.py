"""The LP hierarchy of Krivine-Stengle / Handelman type (as in LipOpt).

On a problem whose constraints bound the variables, every inequality ``g >= 0`` is normalized
to ``h = g / G`` with ``G`` an interval upper bound of ``g`` on the box, so ``0 <= h <= 1`` on
the feasible set; each variable's box ``[l_i, u_i]`` gives ``h = (x_i - l_i) / (u_i - l_i)``.
The degree-``k`` relaxation certifies ``f - lambda`` as a nonnegative combination of products
``prod_i h_i^a_i (1 - h_i)^b_i`` of total polynomial degree ``<= k`` (plus free multiples of
the equalities). Its dual, built here, is the pseudo-moment LP ``min L_y(f)`` s.t.
``L_y(P) >= 0`` for every product ``P``, ``L_y(h m) = 0``, ``y_0 = 1``. With cliques
(``sparsity="correlative"`` or caller cliques) only products whose variables lie in one
clique are used, as in LipOpt's sparse version.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ..model import Problem
from ..monomials import basis_codes, code_products
from ..structure import build_structure
from .assemble import EqualityFamily, Term, scale_problem
from .dense import finish


def interval_upper(term: Term, lo: np.ndarray, hi: np.ndarray) -> float:
    """An upper bound of the coded polynomial on the box ``[lo, hi]`` (interval arithmetic)."""
    n = term.nvars
    lo_s = np.concatenate([lo, [1.0]])
    hi_s = np.concatenate([hi, [1.0]])
    total = 0.0
    for row, c in zip(term.codes, term.coeffs):
        a, b = 1.0, 1.0
        for v in row[row != n]:
            cands = (a * lo_s[v], a * hi_s[v], b * lo_s[v], b * hi_s[v])
            a, b = min(cands), max(cands)
        total += c * b if c > 0 else c * a
    return float(total)


def _product(a: Term, b: Term, width: int) -> Term:
    ta, tb = a.codes.shape[0], b.codes.shape[0]
    codes = code_products(np.repeat(a.codes, tb, axis=0), np.tile(b.codes, (ta, 1)), width, a.nvars)
    return Term(codes, np.outer(a.coeffs, b.coeffs).ravel(), a.nvars)


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

    ``sparse=True`` (or ``cliques``) restricts products to cliques of the correlative
    sparsity pattern.
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
    sc = scale_problem(problem, k, scale)
    n = sc.nvars
    lo_s, hi_s = lo / sc.var_scale, hi / sc.var_scale
    one = Term(np.full((1, k), n, dtype=np.int64), np.ones(1), n)
    # normalized factors h in [0, 1]: variable boxes, then the inequalities
    factors: list[Term] = []
    implied_eqs: list[Term] = []  # fixed variables and inequalities that can only be tight
    for i in range(n):
        w = hi_s[i] - lo_s[i]
        codes = np.full((2, k), n, dtype=np.int64)
        codes[0, 0] = i
        if w < 0:
            raise ValueError(f"variable {problem.variables[i].name} has an empty box")
        if w == 0:  # a fixed variable: x_i - l_i = 0
            implied_eqs.append(Term(codes, np.array([1.0, -lo_s[i]]), n))
            continue
        factors.append(Term(codes, np.array([1.0 / w, -lo_s[i] / w]), n))
    for g in sc.inequalities:
        if g.degree == 0 or (g.degree == 1 and g.support.size == 1):
            continue  # constants, and single-variable bounds already in the box factors
        top = interval_upper(g, lo_s, hi_s)
        if top <= 0:  # g <= 0 on the whole box, so g >= 0 means g = 0 on the feasible set
            implied_eqs.append(g)
            continue
        factors.append(Term(g.codes, g.coeffs / top, n))
    comps = [
        Term(np.vstack([f.codes, one.codes]), np.concatenate([-f.coeffs, [1.0]]), n)
        for f in factors
    ]
    pieces = factors + comps
    degs = [p.degree for p in pieces]
    supp = [set(p.support.tolist()) for p in pieces]
    allowed = None
    info: dict = {"factors": len(factors)}
    if sparse or cliques is not None:
        structure = build_structure(problem, cliques, chordal)
        allowed = [set(c) for c in structure.cliques]
        info["cliques"] = structure.cliques

    def fits(s: set[int]) -> bool:
        return allowed is None or any(s <= c for c in allowed)

    rows: list[tuple[str, Term]] = []
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
                prod = _product(term, pieces[j], k)
                nxt.append((idx + (j,), prod, d2, s2))
                rows.append((f"P{idx + (j,)}", prod))
                count += 1
                if count > max_products:
                    raise ValueError(
                        f"more than {max_products} products at degree {k}: lower the degree "
                        "or use sparse=True / cliques"
                    )
        level = nxt
    eqs = []
    for e, h in enumerate(list(sc.equalities) + implied_eqs):
        if allowed is None:
            mult = basis_codes(np.arange(n), k - h.degree, k, n) if k >= h.degree else None
        else:
            hs = set(h.support.tolist())
            home = [c for c in allowed if hs <= c]
            clique = sorted(home[0]) if home else sorted(hs)
            mult = basis_codes(np.array(clique), k - h.degree, k, n) if k >= h.degree else None
        if mult is None:
            raise ValueError(f"degree {k} is below the degree of equality {e}")
        eqs.append(EqualityFamily(f"equality h{e}", mult, h))
    info["products"] = len(rows)
    return finish(sc, k, "lp", problem.sense, [], rows, eqs, info)
