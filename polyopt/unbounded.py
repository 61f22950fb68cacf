"""Proofs that a problem is unbounded: a feasible ray along which the objective diverges.

Along ``x = t v`` every polynomial becomes a univariate polynomial in ``t`` whose coefficients
are exact (sums of the float coefficients times integer powers of ``v``, computed in
:class:`fractions.Fraction`). If the objective's leading coefficient is negative (for a
minimization), every inequality ``g >= 0`` has a positive leading coefficient (or is
identically 0) and every equality vanishes identically, then all ``t v`` with ``t`` large
enough are feasible and the objective tends to ``-inf``: the problem is unbounded, whatever
the relaxation says. Directions tried: the coordinate axes, pairs of axes, then seeded random
sign vectors; a float screen selects the candidates the exact test then proves.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import combinations

import numpy as np

from .algebra import Polynomial
from .model import Problem

MAX_PAIR_VARIABLES = 40
"""Pairs of axes are tried up to this many variables (``4 n (n - 1) / 2`` directions)."""
RANDOM_DIRECTIONS = 64


def _terms(poly: Polynomial, index: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Exponents over the problem's variables ``(terms, n)`` and coefficients."""
    E = np.zeros((poly.coefficients.size, len(index)), dtype=np.int64)
    local = poly.exponents
    for k, v in enumerate(poly.variables):
        E[:, index[v.id]] = local[:, k]
    return E, np.asarray(poly.coefficients, dtype=float)


def _float_coeffs(E: np.ndarray, c: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Coefficients of ``p(t v)`` by degree, in floating point (for screening)."""
    deg = E.sum(axis=1)
    vals = c * np.prod(np.where(E > 0, v[None, :] ** E, 1.0), axis=1)
    out = np.zeros(int(deg.max(initial=0)) + 1)
    np.add.at(out, deg, vals)
    return out


def _exact_coeffs(E: np.ndarray, c: np.ndarray, v: np.ndarray) -> list[Fraction]:
    """Coefficients of ``p(t v)`` by degree, exactly."""
    deg = E.sum(axis=1)
    out = [Fraction(0)] * (int(deg.max(initial=0)) + 1)
    vi = [int(x) for x in v]
    for row, coef in zip(E, c):
        m = 1
        for x, a in zip(vi, row):
            if a:
                m *= x ** int(a)
        if m:
            out[int(row.sum())] += Fraction(float(coef)) * m
    return out


def _leading(coeffs) -> tuple[int, object]:
    """``(degree, coefficient)`` of the highest nonzero coefficient, ``(-1, 0)`` if none."""
    for k in range(len(coeffs) - 1, -1, -1):
        if coeffs[k] != 0:
            return k, coeffs[k]
    return -1, 0


def _ray_ok(coeffs_f, kinds, exact: bool) -> bool:
    """Does the ray prove unboundedness (objective first, then the constraints)?"""
    k, a = _leading(coeffs_f[0])
    if k < 1 or not a < 0:
        return False
    for co, kind in zip(coeffs_f[1:], kinds):
        k, a = _leading(co)
        if kind == "eq":
            if k >= 0:
                return False
        elif k >= 0 and not a > 0:
            return False
    return True


def _screen_ok(coeffs_f, kinds) -> bool:
    """The float version of :func:`_ray_ok`, tolerant to rounding (candidates only)."""

    def cleaned(c):
        c = np.asarray(c, dtype=float)
        scale = np.abs(c).max(initial=0.0)
        return np.where(np.abs(c) <= 1e-9 * scale, 0.0, c)

    return _ray_ok([cleaned(c) for c in coeffs_f], kinds, exact=False)


def directions(n: int, seed: int = 0):
    """The directions tried, in order (integer vectors)."""
    eye = np.eye(n, dtype=np.int64)
    for i in range(n):
        yield eye[i]
        yield -eye[i]
    if n <= MAX_PAIR_VARIABLES:
        for i, j in combinations(range(n), 2):
            for si in (1, -1):
                for sj in (1, -1):
                    yield si * eye[i] + sj * eye[j]
    rng = np.random.default_rng(seed)
    for _ in range(RANDOM_DIRECTIONS):
        yield rng.integers(-1, 2, size=n)


def unbounded_ray(problem: Problem) -> np.ndarray | None:
    """An integer direction ``v`` proving ``problem`` unbounded (see the module docstring), or
    None when none of the directions tried does."""
    index = {v.id: k for k, v in enumerate(problem.variables)}
    n = len(index)
    polys = [problem.min_objective()] + [c.poly for c in problem.constraints]
    kinds = [c.kind for c in problem.constraints]
    terms = [_terms(p, index) for p in polys]
    for v in directions(n):
        if not np.any(v):
            continue
        vf = v.astype(float)
        if not _screen_ok([_float_coeffs(E, c, vf) for E, c in terms], kinds):
            continue
        if _ray_ok([_exact_coeffs(E, c, v) for E, c in terms], kinds, exact=True):
            return v.copy()
    return None
