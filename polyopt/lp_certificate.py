"""Exact-arithmetic certificates for the LP hierarchy (``method="lp"``).

The LP relaxation (:mod:`polyopt.relaxations.lp`) is solved in floating point: its rows are
float roundings of products of generators, and the solver's multipliers satisfy its own
equations only up to tolerances. The bound reported as certified is instead proved here, in
rational arithmetic, for the problem exactly as given (its float coefficients read as the
rationals they are).

Soundness argument
------------------
The relaxation works in the variables ``z = (x - c) / s`` (``c``, ``s`` floats, so the map is
an exact rational bijection). :meth:`polyopt.model.Problem.variable_box` bounds every
variable in exact arithmetic (:mod:`polyopt.implied_bounds`), so every feasible ``x`` lies in
a rational box, and ``z`` in ``[zl, zu]``. Every generator ``q_j``
(the box factors ``(z_i - zl_i) / (zu_i - zl_i)`` and their complements, each inequality
``g(c + s z) / T`` with ``T`` an exact interval upper bound of it on the box, and ``1`` minus
it) is kept as an exact polynomial with rational coefficients, nonnegative at every feasible
point by construction; every equality ``h(c + s z)`` (times a power of two) and every implied
equality (a fixed variable, or an inequality ``g >= 0`` whose exact upper bound on the box is
``<= 0``) vanishes at every feasible point. Let ``P_k`` be the exact product polynomials behind
the LP's rows ``k`` and ``E_e = m_e h_e`` the exact equality-row polynomials. From the
solver's multipliers, ``lambda = max(z, 0)`` and ``mu`` (floats, so rationals), the residual

    R = F - sum_k lambda_k P_k - sum_e mu_e E_e

(``F`` the objective of the minimization in ``z``, divided by a power of two) is computed
exactly. At a feasible point ``F(z) = sum lambda_k P_k(z) + 0 + R(z) >= R(z) >= R_0 -
sum_{alpha != 0} |R_alpha| max_box |z^alpha|``, and this rational number, rounded down to a
float, is the certified bound (and stays below it when the caller multiplies it by that
power of two to return to the problem's units). The float LP only supplies the multipliers:
nothing in the argument depends on how the rows were rounded,
on the LP solver's accuracy or on its tolerances: a poor solve only gives a poorer bound.

Infeasibility is certified the same way: a Farkas multiplier ``(lambda >= 0, mu)`` with
``S = sum lambda_k P_k + sum mu_e E_e`` proves the problem infeasible when the exact upper
bound ``S_0 + sum |S_alpha| max_box |z^alpha|`` of ``S`` on the box is negative, since ``S >= 0``
at every feasible point.
"""

from __future__ import annotations

import logging
import math
import sys
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from .algebra import Polynomial

log = logging.getLogger("polyopt")

Exps = tuple[int, ...]
ExactPoly = dict[Exps, Fraction]


# --------------------------------------------------------------------------- exact polynomials
def exact_polynomial(poly: Polynomial, variables) -> ExactPoly:
    """``poly`` as ``{exponent tuple: Fraction}`` over ``variables`` (coefficients exact)."""
    out: ExactPoly = {}
    for row, c in zip(poly.aligned(variables), poly.coefficients):
        key = tuple(int(e) for e in row)
        out[key] = out.get(key, Fraction(0)) + Fraction(float(c))
    return {k: v for k, v in out.items() if v != 0}


def poly_mul(a: ExactPoly, b: ExactPoly) -> ExactPoly:
    """The exact product of two polynomials."""
    out: ExactPoly = {}
    for ea, ca in a.items():
        for eb, cb in b.items():
            key = tuple(x + y for x, y in zip(ea, eb))
            out[key] = out.get(key, Fraction(0)) + ca * cb
    return {k: v for k, v in out.items() if v != 0}


def poly_scale(a: ExactPoly, factor: Fraction) -> ExactPoly:
    """``factor * a``."""
    return {k: v * factor for k, v in a.items() if v * factor != 0}


def affine_substitute(poly: ExactPoly, center: list[Fraction], step: list[Fraction]) -> ExactPoly:
    """``p(c + s z)`` in exact arithmetic (``x_i = c_i + s_i z_i``)."""
    n = len(center)
    out: ExactPoly = {}
    cache: dict[tuple[int, int], list[Fraction]] = {}

    def power(i: int, d: int) -> list[Fraction]:  # coefficients of (c_i + s_i z_i)^d
        if (i, d) not in cache:
            cache[(i, d)] = [
                math.comb(d, j) * center[i] ** (d - j) * step[i] ** j for j in range(d + 1)
            ]
        return cache[(i, d)]

    for exps, coef in poly.items():
        terms: ExactPoly = {(0,) * n: coef}
        for i, d in enumerate(exps):
            if d == 0:
                continue
            nxt: ExactPoly = {}
            for key, v in terms.items():
                for j, pc in enumerate(power(i, d)):
                    if pc == 0:
                        continue
                    k2 = key[:i] + (j,) + key[i + 1 :]
                    nxt[k2] = nxt.get(k2, Fraction(0)) + v * pc
            terms = nxt
        for key, v in terms.items():
            out[key] = out.get(key, Fraction(0)) + v
    return {k: v for k, v in out.items() if v != 0}


def interval_bounds(
    poly: ExactPoly, lo: list[Fraction], hi: list[Fraction]
) -> tuple[Fraction, Fraction]:
    """Exact interval-arithmetic bounds ``(min, max)`` of ``poly`` on the box ``[lo, hi]``."""
    total_lo = total_hi = Fraction(0)
    for exps, coef in poly.items():
        a = b = Fraction(1)
        for i, d in enumerate(exps):
            if d == 0:
                continue
            ends = (lo[i] ** d, hi[i] ** d)
            m_lo, m_hi = min(ends), max(ends)
            if d % 2 == 0 and lo[i] < 0 < hi[i]:
                m_lo = Fraction(0)
            cands = (a * m_lo, a * m_hi, b * m_lo, b * m_hi)
            a, b = min(cands), max(cands)
        if coef > 0:
            total_lo += coef * a
            total_hi += coef * b
        else:
            total_lo += coef * b
            total_hi += coef * a
    return total_lo, total_hi


def magnitude_bound(poly: ExactPoly, radius: list[Fraction]) -> Fraction:
    """``sum_alpha |p_alpha| prod_i radius_i^alpha_i`` (bounds ``|p|`` on the box)."""
    total = Fraction(0)
    for exps, coef in poly.items():
        m = abs(coef)
        for i, d in enumerate(exps):
            if d:
                m *= radius[i] ** d
        total += m
    return total


def float_below(value: Fraction) -> float:
    """The largest float ``<= value`` (``-inf`` below the float range)."""
    if value < -Fraction(sys.float_info.max):
        return -math.inf
    f = float(min(value, Fraction(sys.float_info.max)))
    while Fraction(f) > value:
        f = math.nextafter(f, -math.inf)
    return f


def float_above(value: Fraction) -> float:
    """The smallest float ``>= value`` (``inf`` above the float range)."""
    if value > Fraction(sys.float_info.max):
        return math.inf
    f = float(max(value, -Fraction(sys.float_info.max)))
    while Fraction(f) < value:
        f = math.nextafter(f, math.inf)
    return f


def power_of_two_near(value: float) -> float:
    """A power of two ``2^e`` with ``value / 2^e`` in ``[1, 2)`` (1 for 0 or non-finite)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    return math.ldexp(1.0, math.frexp(value)[1] - 1)


# --------------------------------------------------------------------------- the box
def centering(lo: Fraction, hi: Fraction, scale: bool) -> tuple[float, float]:
    """Floats ``(c, s)`` with ``[lo, hi]`` inside ``[c - s, c + s]`` exactly (``s > 0``).

    A box that contains the origin is only scaled (``c = 0``, ``s = max(|lo|, |hi|)``: its
    width is at least ``s``, and a box ``[0, u]`` keeps the one-term factor ``x``); any other
    box is centered (``c`` its midpoint, ``s`` its half-width), so that a narrow box far from
    the origin does not make the products ill-conditioned."""
    if not scale:
        return 0.0, 1.0
    if lo == hi:
        return float(lo), 1.0
    c = 0.0 if lo <= 0 <= hi else float((lo + hi) / 2)
    fc = Fraction(c)
    return c, float_above(max(fc - lo, hi - fc))


# --------------------------------------------------------------------------- certificates
@dataclass
class LPCertificateData:
    """What the exact certificate needs, recorded when the LP relaxation is built.

    ``objective`` is the exact objective of the minimization in the relaxation's variables
    ``z`` divided by ``obj_scale`` (a power of two), constant term included; ``pieces`` the
    exact generators; ``rows[k]`` the indices of the pieces whose product is LP row ``k``;
    ``equalities[e]`` the exact polynomial of equality row ``e``; ``radius`` bounds ``|z_i|``
    on the exact box of the feasible set."""

    nvars: int
    objective: ExactPoly
    pieces: list[ExactPoly]
    rows: list[tuple[int, ...]]
    equalities: list[ExactPoly]
    radius: list[Fraction]
    obj_scale: float
    _cache: dict = field(default_factory=dict, repr=False)

    def product(self, idx: tuple[int, ...]) -> ExactPoly:
        """The exact product of the pieces ``idx`` (memoized by prefix)."""
        if idx not in self._cache:
            if len(idx) == 1:
                self._cache[idx] = self.pieces[idx[0]]
            else:
                self._cache[idx] = poly_mul(self.product(idx[:-1]), self.pieces[idx[-1]])
        return self._cache[idx]

    def residual(self, target: ExactPoly, lam: np.ndarray, mu: np.ndarray) -> ExactPoly:
        """``target - sum_k lam_k P_k - sum_e mu_e E_e`` in exact arithmetic."""
        acc: dict[Exps, Fraction] = dict(target)
        for k in np.flatnonzero(lam > 0):
            w = Fraction(float(lam[k]))
            for key, v in self.product(self.rows[k]).items():
                acc[key] = acc.get(key, Fraction(0)) - w * v
        for e in np.flatnonzero(mu != 0):
            w = Fraction(float(mu[e]))
            for key, v in self.equalities[e].items():
                acc[key] = acc.get(key, Fraction(0)) - w * v
        return acc

    def lower_bound(self, poly: ExactPoly) -> Fraction:
        """``p_0 - sum_{alpha != 0} |p_alpha| max_box |z^alpha|``: a lower bound of ``p``."""
        zero = (0,) * self.nvars
        const = poly.get(zero, Fraction(0))
        rest = {k: v for k, v in poly.items() if k != zero}
        return const - magnitude_bound(rest, self.radius)


def _multipliers(relax, res) -> tuple[np.ndarray, np.ndarray] | None:
    prog = relax.program
    q, p = prog.A_ineq.shape[0], prog.A_eq.shape[0]
    lam = np.zeros(q) if res.z is None else np.asarray(res.z, dtype=float)
    mu = np.zeros(p) if res.mu is None else np.asarray(res.mu, dtype=float)
    if lam.shape != (q,) or mu.shape != (p,):
        return None
    if not (np.all(np.isfinite(lam)) and np.all(np.isfinite(mu))):
        return None
    return np.maximum(lam, 0.0), mu


def certified_lower_bound(relax, res) -> float | None:
    """The exact-arithmetic lower bound of the scaled minimization (see the module docstring),
    as a float below it; None when the solver returned no finite multipliers."""
    data: LPCertificateData = relax.info["certificate"]
    mult = _multipliers(relax, res)
    if mult is None:
        return None
    lam, mu = mult
    value = data.lower_bound(data.residual(data.objective, lam, mu))
    bound = float_below(value)
    # the caller multiplies by obj_scale (a power of two: exact unless it under- or overflows)
    scale = Fraction(data.obj_scale)
    while math.isfinite(bound):
        product = bound * data.obj_scale
        if not math.isfinite(product):
            return -math.inf if product < 0 else None
        if Fraction(product) <= value * scale:
            break
        bound = math.nextafter(bound, -math.inf)
    return bound


def farkas_certificate(relax) -> bool:
    """Search a Farkas multiplier of the LP with HiGHS and check it in exact arithmetic.

    Solves ``A_ineq' lam + A_eq' mu = 0``, ``b_ineq . lam - b_eq . mu = -1``, ``lam >= 0``:
    then ``S = sum lam_k P_k + sum mu_e E_e`` is ``-1`` up to rounding. Returns True when the
    exact upper bound of ``S`` on the box is negative (no feasible point can exist)."""
    data: LPCertificateData = relax.info["certificate"]
    prog = relax.program
    q, p = prog.A_ineq.shape[0], prog.A_eq.shape[0]
    A = sp.vstack(
        [
            sp.hstack([prog.A_ineq.T, prog.A_eq.T]),
            sp.csr_matrix(np.concatenate([prog.b_ineq, -prog.b_eq])[None, :]),
        ],
        format="csc",
    )
    rhs = np.zeros(A.shape[0])
    rhs[-1] = -1.0
    bounds = [(0, None)] * q + [(None, None)] * p
    res = linprog(np.zeros(q + p), A_eq=A, b_eq=rhs, bounds=bounds, method="highs")
    if res.status != 0 or res.x is None or not np.all(np.isfinite(res.x)):
        return False
    lam, mu = np.maximum(res.x[:q], 0.0), res.x[q:]
    neg = data.residual({}, lam, mu)  # -S
    return data.lower_bound(neg) > 0


def lp_bounds(relax, res) -> tuple[float, float | None]:
    """``(bound, certified bound or None)`` of the scaled minimization for an LP relaxation.

    Optimal (or any status with finite multipliers): the exact certificate. Infeasible: ``+inf``
    when a Farkas certificate checks in exact arithmetic, else ``nan`` (nothing is proved).
    Unbounded: ``-inf`` (trivially valid). Anything else: ``nan``."""
    if res.status == "infeasible":
        proven = farkas_certificate(relax)
        res.raw["infeasibility_certified"] = proven
        if proven:
            return np.inf, np.inf
        res.raw["note"] = (
            "the LP solver reports the relaxation infeasible, but no Farkas certificate checks "
            "in exact arithmetic: nothing is proved (bound nan)"
        )
        log.warning(res.raw["note"])
        return np.nan, None
    if res.status == "unbounded":
        return -np.inf, None
    if res.status != "optimal":
        return np.nan, None
    bound = certified_lower_bound(relax, res)
    if bound is None:
        return np.nan, None
    res.raw["certificate_gap"] = float(res.dual_objective - bound)
    return bound, bound
