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
    one = deg == 1
    np.add.at(lin, codes[one, 0], co[one])
    two = deg == 2
    if two.any():
        if np.any(codes[two, 0] != codes[two, 1]):
            return None
        np.add.at(sq, codes[two, 0], co[two])
    cols = np.array([positions[v.id] for v in poly.variables], dtype=np.int64)
    return _Form(cols, sq, lin, float(co[deg == 0].sum()), kind)


def _max_terms(
    a: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Upper bounds of ``a_i x^2 + b_i x`` over ``[lo_i, hi_i]`` (``inf`` when unbounded),
    rounded up, and the magnitudes of the terms they were computed from."""
    m = a.size
    top = np.full(m, np.inf)
    mag = np.full(m, np.inf)
    box = np.isfinite(lo) & np.isfinite(hi)
    with np.errstate(all="ignore"):
        ends_lo = a * lo * lo + b * lo
        ends_hi = a * hi * hi + b * hi
        end_mag = np.abs(a * lo * lo) + np.abs(b * lo) + np.abs(a * hi * hi) + np.abs(b * hi)
        ends = np.maximum(ends_lo, ends_hi)
        neg = a < 0
        vert = np.where(neg, b * b / (-4.0 * np.where(neg, a, -1.0)), np.inf)
        xv = np.where(neg, -b / (2.0 * np.where(neg, a, -1.0)), 0.0)
        inside = neg & box & (lo <= xv) & (xv <= hi)
        # concave: the vertex value (always valid), or the ends when the vertex is outside
        use_v = neg & ~(box & ~inside)
        top = np.where(use_v, vert, top)
        mag = np.where(use_v, np.abs(vert), mag)
        use_ends = box & ~use_v
        top = np.where(use_ends, ends, top)
        mag = np.where(use_ends, end_mag, mag)
        zero = (a == 0) & (b == 0)
        top = np.where(zero, 0.0, top)
        mag = np.where(zero, 0.0, mag)
        half = (a == 0) & ~box & ~zero
        up_side = half & (b > 0) & np.isfinite(hi)
        dn_side = half & (b < 0) & np.isfinite(lo)
        top = np.where(up_side, b * hi, np.where(dn_side, b * lo, top))
        mag = np.where(up_side, np.abs(b * hi), np.where(dn_side, np.abs(b * lo), mag))
        finite = np.isfinite(top) & np.isfinite(mag)
        top = np.where(finite, top + (2.0 * gamma(6) * mag + TINY), np.inf)
        mag = np.where(finite, mag, np.inf)
    top[zero] = 0.0
    mag[zero] = 0.0
    return top, mag


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
    tops, mags = _max_terms(sq, lin, lo[cols], hi[cols])
    fin = np.isfinite(tops)
    inf_count = int(m - fin.sum())
    if inf_count > 1:
        return False
    finite_sum = float(np.sum(tops[fin]))
    mag_sum = float(np.sum(mags[fin])) + abs(const)
    # the others add at most rest_k: a_k x^2 + b_k x + C_k >= 0 with C_k an upper bound
    rest = finite_sum - np.where(fin, tops, 0.0)
    ok = (sq < 0) | ((sq == 0) & (lin != 0))
    ok &= ~fin if inf_count == 1 else np.ones(m, dtype=bool)
    if not ok.any():
        return False
    if m == 1:
        C = np.array([const])
    else:
        C = const + rest + (2.0 * gamma(m + 4) * mag_sum + TINY)
    new_lo = np.full(m, -np.inf)
    new_hi = np.full(m, np.inf)
    with np.errstate(all="ignore"):
        q = np.where(lin != 0, -C / np.where(lin != 0, lin, 1.0), 0.0)
    up = ok & (sq == 0) & (lin > 0)
    dn = ok & (sq == 0) & (lin < 0)
    new_lo[up] = np.nextafter(q[up], -np.inf)
    new_hi[dn] = np.nextafter(q[dn], np.inf)
    if m == 1 and (up[0] or dn[0]) and _exact_ok(lin[0], C[0], q[0]):
        if up[0]:
            new_lo[0] = q[0]
        else:
            new_hi[0] = q[0]
    for k in np.flatnonzero(ok & (sq < 0)):
        iv = _quadratic_interval(float(sq[k]), float(lin[k]), float(C[k]))
        if iv is not None:
            new_lo[k], new_hi[k] = iv
    new_lo[~np.isfinite(new_lo)] = -np.inf
    new_hi[~np.isfinite(new_hi)] = np.inf
    old_lo, old_hi = lo[cols], hi[cols]
    moved = bool(np.any(new_lo > old_lo) or np.any(new_hi < old_hi))
    lo[cols] = np.maximum(old_lo, new_lo)
    hi[cols] = np.minimum(old_hi, new_hi)
    return moved


def _exact_ok(b: float, C: float, q: float) -> bool:
    """True when ``b q + C <= 0`` holds exactly: then ``q`` bounds the solutions of
    ``b x + C >= 0`` (from below for ``b > 0``, from above for ``b < 0``)."""
    return Fraction(b) * Fraction(q) + Fraction(C) <= 0
