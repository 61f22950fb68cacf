"""Variable bounds implied by the constraints, valid in exact arithmetic.

The certificates of :mod:`polyopt.certificate` need ``lo_i <= x_i <= hi_i`` at *every*
feasible point, so every bound here is rounded outward: a float computation gives a candidate,
widened by a rigorous bound on its rounding error, and snapped back to the plain float value
when an exact rational check shows that value already holds.

Recognized constraints (``g >= 0`` or ``h == 0``):

- linear, any number of variables: interval propagation (each variable bounded by the others'
  bounds, a few rounds), which also covers ``x >= 0`` together with ``x1 + x2 + x3 <= 4``;
- separable quadratics ``sum_i (a_i x_i^2 + b_i x_i) + c >= 0``: a variable with ``a_k < 0``
  lies between the roots of ``a_k x^2 + b_k x + C``, with ``C`` the constant plus the largest
  value the other terms can take (``b_i^2 / (-4 a_i)`` for ``a_i < 0``, the box otherwise);
  this covers ``(x - l)(u - x) >= 0``, balls and ellipsoids with centers;
- univariate equalities of any degree: the largest real root, checked with exact real-root
  counting (Sturm sequences, sympy).
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .model import Problem

U = 2.0**-53
"""Unit roundoff of IEEE double precision."""
TINY = 2.0**-1000
"""Absolute slack covering underflow in a handful of operations."""
ROUNDS = 4
"""Rounds of propagation through the linear constraints."""


def gamma(n: int) -> float:
    """``n u / (1 - n u)``: the relative error bound of ``n`` chained roundings."""
    return n * U / (1.0 - n * U)


def _down(x: float, mag: float, ops: int) -> float:
    """``x`` minus a rigorous bound on the rounding of ``ops`` operations of size ``mag``."""
    return float(x - (2.0 * gamma(ops + 2) * mag + TINY))


def _up(x: float, mag: float, ops: int) -> float:
    return float(x + (2.0 * gamma(ops + 2) * mag + TINY))


class _Form:
    """One constraint as ``sum_i (sq_i x_i^2 + lin_i x_i) + const`` over columns ``cols``."""

    __slots__ = ("cols", "sq", "lin", "const", "kind")

    def __init__(self, cols, sq, lin, const, kind) -> None:
        self.cols = cols
        self.sq = sq
        self.lin = lin
        self.const = const
        self.kind = kind


def _form(poly, positions: dict[int, int], kind: str) -> _Form | None:
    """The separable-quadratic form of a constraint, or None (cross terms, degree > 2)."""
    if poly.degree > 2 or len(poly.variables) == 0:
        return None
    codes = poly.codes
    co = np.asarray(poly.coefficients, dtype=float)
    deg = poly.term_degrees()
    nv = len(poly.variables)
    sq = np.zeros(nv)
    lin = np.zeros(nv)
    for row, d, a in zip(codes, deg, co):
        if d == 1:
            lin[int(row[0])] += a
        elif d == 2:
            if row[0] != row[1]:
                return None
            sq[int(row[0])] += a
    cols = np.array([positions[v.id] for v in poly.variables], dtype=np.int64)
    return _Form(cols, sq, lin, float(co[deg == 0].sum()), kind)


def _max_term(a: float, b: float, lo: float, hi: float) -> tuple[float, float]:
    """An upper bound of ``a x^2 + b x`` over ``[lo, hi]`` (may be inf) and its magnitude."""
    if a < 0:
        v = b * b / (-4.0 * a)
        cands = [v]
        if np.isfinite(lo) and np.isfinite(hi):
            cands += [a * lo * lo + b * lo, a * hi * hi + b * hi]
            xv = -b / (2.0 * a)
            if lo <= xv <= hi:  # the vertex is inside: its value is the max
                return _up(v, abs(v), 4), abs(v)
            m = max(cands[1:])
            return _up(m, abs(a * lo * lo) + abs(b * lo) + abs(a * hi * hi) + abs(b * hi), 4), abs(
                m
            )
        return _up(v, abs(v), 4), abs(v)
    # a >= 0: convex or linear, the max is at an end of the box
    if a == 0 and b == 0:
        return 0.0, 0.0
    if not (np.isfinite(lo) and np.isfinite(hi)):
        if a == 0 and b > 0 and np.isfinite(hi):
            return _up(b * hi, abs(b * hi), 1), abs(b * hi)
        if a == 0 and b < 0 and np.isfinite(lo):
            return _up(b * lo, abs(b * lo), 1), abs(b * lo)
        return np.inf, np.inf
    vals = [a * lo * lo + b * lo, a * hi * hi + b * hi]
    mag = abs(a * lo * lo) + abs(b * lo) + abs(a * hi * hi) + abs(b * hi)
    return _up(max(vals), mag, 4), mag


def _exact_quadratic(a: float, b: float, c: float, x: float) -> Fraction:
    fa, fb, fc, fx = Fraction(a), Fraction(b), Fraction(c), Fraction(x)
    return fa * fx * fx + fb * fx + fc


def _quadratic_interval(a: float, b: float, c: float) -> tuple[float, float] | None:
    """Endpoints ``[r1, r2]`` around the vertex with ``a x^2 + b x + c <= 0`` at both
    (``a < 0``), verified in exact arithmetic, so every solution of ``>= 0`` lies inside;
    None when that set is empty or the check fails."""
    disc = b * b - 4.0 * a * c
    if not np.isfinite(disc):
        return None
    if disc < 0:
        if Fraction(b) ** 2 - 4 * Fraction(a) * Fraction(c) < 0:
            return None  # no solution at all: nothing to say about the variable
        disc = 0.0
    s = math.sqrt(disc)
    xv = -b / (2.0 * a)
    half = s / (2.0 * abs(a))
    scale = abs(xv) + half + math.sqrt(abs(c / a)) + TINY
    fxv = Fraction(b) / (-2 * Fraction(a))
    for k in range(61):
        margin = 0.0 if k == 0 else scale * (1e-15 * 4.0**k) + TINY
        r1, r2 = xv - half - margin, xv + half + margin
        if not (np.isfinite(r1) and np.isfinite(r2)):
            return None
        if (
            Fraction(r1) < fxv < Fraction(r2)
            and _exact_quadratic(a, b, c, r1) <= 0
            and _exact_quadratic(a, b, c, r2) <= 0
        ):
            return r1, r2
    return None


@lru_cache(maxsize=256)
def _univariate_root_bound(coeffs: tuple[float, ...]) -> float:
    """``R`` with every real root of ``sum coeffs[k] x^k`` in ``[-R, R]`` (exact check); inf
    when unverifiable, nan when there is no real root."""
    import sympy

    x = sympy.Symbol("x")
    poly = sympy.Poly(
        sum(sympy.Rational(Fraction(c)) * x**k for k, c in enumerate(coeffs) if c != 0), x
    )
    if poly.degree() < 1:
        return np.inf
    if poly.count_roots() == 0:
        return np.nan
    roots = np.roots(np.array(coeffs[::-1], dtype=float))
    real = roots[np.abs(roots.imag) <= 1e-6 * (1 + np.abs(roots))].real
    est = float(np.max(np.abs(real))) if real.size else 1.0
    for k in range(8):
        R = est * (1.0 + 1e-9 * 10.0**k) + 1e-12 * 10.0**k
        fr = sympy.Rational(Fraction(R))
        if poly.count_roots(fr, None) == 0 and poly.count_roots(None, -fr) == 0:
            return R
    return np.inf


def implied_box(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds per variable implied by the constraints (``-inf`` / ``inf``
    when unknown), valid in exact arithmetic for every feasible point."""
    n = problem.nvars
    lo = np.full(n, -np.inf)
    hi = np.full(n, np.inf)
    positions = {v.id: k for k, v in enumerate(problem.variables)}
    forms: list[_Form] = []
    for c in problem.constraints:
        p = c.poly
        f = _form(p, positions, c.kind)
        if f is not None:
            forms.append(f)
        elif c.kind == "eq" and len(p.variables) == 1:
            deg = p.term_degrees()
            coeffs = np.zeros(p.degree + 1)
            np.add.at(coeffs, deg, p.coefficients)
            R = _univariate_root_bound(tuple(float(v) for v in coeffs))
            k = positions[p.variables[0].id]
            if np.isfinite(R):
                lo[k], hi[k] = max(lo[k], -R), min(hi[k], R)
    for _ in range(ROUNDS):
        changed = False
        for f in forms:
            signs = (1.0, -1.0) if f.kind == "eq" else (1.0,)
            for sgn in signs:
                changed |= _propagate(f, sgn, lo, hi)
        if not changed:
            break
    return lo, hi


def _propagate(f: _Form, sgn: float, lo: np.ndarray, hi: np.ndarray) -> bool:
    """Tighten ``lo, hi`` from ``sgn * (form) >= 0``; True when a bound moved."""
    sq, lin, const = sgn * f.sq, sgn * f.lin, sgn * f.const
    cols = f.cols
    m = cols.size
    tops = np.empty(m)
    mags = np.empty(m)
    for i in range(m):
        tops[i], mags[i] = _max_term(sq[i], lin[i], lo[cols[i]], hi[cols[i]])
    inf_count = int(np.sum(~np.isfinite(tops)))
    finite_sum = float(np.sum(tops[np.isfinite(tops)]))
    mag_sum = float(np.sum(mags[np.isfinite(mags)])) + abs(const)
    changed = False
    for k in range(m):
        a, b = sq[k], lin[k]
        if a > 0 or (a == 0 and b == 0):
            continue
        if inf_count > 1 or (inf_count == 1 and np.isfinite(tops[k])):
            continue
        rest = finite_sum - (tops[k] if np.isfinite(tops[k]) else 0.0)
        # the others add at most `rest`: a x^2 + b x + C >= 0 with C an upper bound
        C = const if m == 1 else _up(const + rest, mag_sum, m + 2)
        j = cols[k]
        if a < 0:
            iv = _quadratic_interval(a, b, C)
            if iv is None:
                continue
            new_lo, new_hi = iv
        elif b > 0:  # b x >= -C
            q = -C / b
            new_lo, new_hi = float(np.nextafter(q, -np.inf)), np.inf
            if _exact_ok(b, C, q):
                new_lo = q
        else:  # b x >= -C with b < 0: x <= -C / b
            q = -C / b
            new_lo, new_hi = -np.inf, float(np.nextafter(q, np.inf))
            if _exact_ok(b, C, q):
                new_hi = q
        if new_lo > lo[j]:
            lo[j] = new_lo
            changed = True
        if new_hi < hi[j]:
            hi[j] = new_hi
            changed = True
    return changed


def _exact_ok(b: float, C: float, q: float) -> bool:
    """True when ``b q + C <= 0`` holds exactly: then ``q`` bounds the solutions of
    ``b x + C >= 0`` (from below for ``b > 0``, from above for ``b < 0``)."""
    return Fraction(b) * Fraction(q) + Fraction(C) <= 0
