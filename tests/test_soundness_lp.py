"""Soundness of the LP hierarchy (``method="lp"``): certified bounds hold in exact arithmetic.

Every reference value is a feasible point evaluated in exact rational arithmetic (the
polynomial's float coefficients and the point read as the rationals they are), or a closed
form (a monotone objective attains its extremes at the ends of its interval).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import polyopt as po
from polyopt.backends import SolverOptions, get_backend
from polyopt.conic import ConicProgram


def exact_value(poly: po.Polynomial, point, variables) -> Fraction:
    """``poly(point)`` in exact rational arithmetic."""
    xs = [Fraction(float(v)) for v in point]
    total = Fraction(0)
    for row, c in zip(poly.aligned(variables), poly.coefficients):
        term = Fraction(float(c))
        for x, e in zip(xs, row):
            term *= x ** int(e)
        total += term
    return total


def exactly_feasible(prob: po.Problem, point) -> bool:
    for c in prob.constraints:
        v = exact_value(c.poly, point, prob.variables)
        if (c.kind == "ineq" and v < 0) or (c.kind == "eq" and v != 0):
            return False
    return True


def assert_valid(r, prob: po.Problem, point) -> None:
    """The certified bound is on the right side of the exact objective at a feasible point."""
    assert exactly_feasible(prob, point)
    value = exact_value(prob.objective, point, prob.variables)
    assert r.certified and np.isfinite(r.bound)
    if prob.sense == "min":
        assert Fraction(r.bound) <= value, (r.bound, float(value))
    else:
        assert Fraction(r.bound) >= value, (r.bound, float(value))


# --------------------------------------------------------------------------- reproducers
def test_narrow_box_certified_bounds_are_on_the_right_side():
    x1, x2 = po.variables("x", 2)
    lo, hi = -0.36975137274608927, -0.3678380764671321
    f = (
        0.7876149197747652 * x1 * x2**3
        - 0.2801920129910769 * x1**2 * x2**2
        + 0.7051805518458778 * x1**2 * x2
        - 0.068891898082292 * x1 * x2
    )
    prob = po.Problem(minimize=f, constraints=[x1**2 - 1 == 0, x2 - lo >= 0, -x2 + hi >= 0])
    r = prob.solve(method="lp", degree=5)
    assert r.status == "optimal"
    for a in (-1.0, 1.0):
        for b in np.linspace(lo, hi, 7):
            assert_valid(r, prob, (a, float(b)))
    # and not far below: the minimum over a fine grid of the two segments
    grid = np.linspace(lo, hi, 2001)
    fmin = min(
        float(f.evaluate(np.column_stack([np.full_like(grid, a), grid]), (x1, x2)).min())
        for a in (-1.0, 1.0)
    )
    assert r.bound >= fmin - 1e-6


def test_narrow_box_maximum_of_an_increasing_polynomial():
    # all coefficients positive: increasing on y > 0, so the maximum is g(b) exactly
    y = po.variables("y")
    a, b = 0.11180200278576669, 0.11297147904144354
    g = 1.121509993771234 * y**4 + 1.2274319859361003 * y**3 + 0.861564535022596 * y**2
    g = g + 0.4495176091963612
    prob = po.Problem(maximize=g, constraints=[y - a >= 0, -y + b >= 0])
    gmax = exact_value(g, (b,), (y,))
    for degree in (4, 5, 6):
        r = prob.solve(method="lp", degree=degree)
        assert r.status == "optimal"
        assert_valid(r, prob, (b,))
        assert Fraction(r.bound) - gmax <= Fraction(1e-9)


def test_narrow_offset_box_is_not_reported_infeasible():
    # f' = -4 (0.7341) x^3 - 2 (2.1309) x - 0.8006 < 0 for x > 0: the minimum is f(u) exactly
    x = po.variables("x")
    lo, hi = 0.585956, 0.586415
    f = -0.7341 * x**4 - 2.1309 * x**2 - 0.8006 * x
    prob = po.Problem(minimize=f, constraints=[x - lo >= 0, hi - x >= 0])
    fmin = exact_value(f, (hi,), (x,))
    for degree in (4, 5, 6, 8):
        r = prob.solve(method="lp", degree=degree)
        assert r.status == "optimal", r.raw.get("message")
        assert_valid(r, prob, (hi,))
        assert fmin - Fraction(r.bound) <= Fraction(1e-8)


# --------------------------------------------------------------------------- statuses
def test_highs_model_error_is_a_solver_error_not_infeasible():
    # a coefficient beyond HiGHS's large_matrix_value (1e15): HiGHS answers "model error"
    # for the LP  min y  s.t.  y >= 0, 1e20 y <= 1e20, feasible with value 0
    A = sp.csr_matrix(np.array([[1.0], [-1e20]]))
    prog = ConicProgram(
        c=np.array([1.0]),
        c0=0.0,
        A_eq=sp.csr_matrix((0, 1)),
        b_eq=np.zeros(0),
        A_ineq=A,
        b_ineq=np.array([0.0, 1e20]),
        A_psd=sp.csr_matrix((0, 1)),
        b_psd=np.zeros(0),
        block_sizes=[],
    )
    res = get_backend("highs").solve(prog, "moment", SolverOptions(None, None, None, False, {}))
    assert res.status == "solver_error"
    assert "infeasible" not in str(res.raw["message"]).lower()
    assert res.raw["retried_without_presolve"]


def test_infeasibility_is_certified_in_exact_arithmetic():
    # x^2 - x - 1 >= 0 needs x >= (1 + sqrt 5) / 2 or x <= (1 - sqrt 5) / 2: none in [0, 1]
    x = po.variables("x")
    prob = po.Problem(minimize=x, constraints=[x >= 0, x <= 1, x**2 - x - 1 >= 0])
    r = prob.solve(method="lp", degree=2)
    assert r.status == "infeasible"
    assert r.raw["infeasibility_certified"]
    assert r.bound == math.inf and r.certified


def test_feasible_problem_is_never_certified_infeasible():
    # a point is feasible, so any "infeasible" status must come without a certificate
    x = po.variables("x")
    prob = po.Problem(minimize=x, constraints=[x >= 0, x <= 1, x**2 - x >= 0])  # x in {0, 1}
    r = prob.solve(method="lp", degree=4)
    assert r.status == "optimal"
    assert_valid(r, prob, (0.0,))
    assert_valid(r, prob, (1.0,))


# --------------------------------------------------------------------------- property
@st.composite
def narrow_pop(draw):
    """A random POP on a narrow or offset box, an LP degree, and candidate points."""
    n = draw(st.integers(1, 3))
    fdeg = draw(st.integers(1, 4))
    degree = draw(st.integers(max(2, fdeg), 5))
    centers = [draw(st.floats(-1e4, 1e4, allow_nan=False)) for _ in range(n)]
    widths = [10.0 ** draw(st.floats(-4, 3)) for _ in range(n)]
    x = po.variables("x", n)
    coef = st.builds(lambda m, neg: -m if neg else m, st.floats(1e-3, 3), st.booleans())
    f = po.Polynomial.constant(draw(coef))
    for _ in range(draw(st.integers(1, 6))):
        exps = [0] * n
        for _ in range(draw(st.integers(1, fdeg))):
            exps[draw(st.integers(0, n - 1))] += 1
        term = draw(coef)
        for xi, e in zip(x, exps):
            term = term * xi**e
        f = f + term
    assume(f.degree >= 1)
    lo = [c - w / 2 for c, w in zip(centers, widths)]
    hi = [c + w / 2 for c, w in zip(centers, widths)]
    cons = [x[i] >= lo[i] for i in range(n)] + [x[i] <= hi[i] for i in range(n)]
    if n >= 2 and draw(st.booleans()):  # a coupling constraint through the box center
        g = (x[0] - centers[0]) * (x[1] - centers[1]) + widths[0] * widths[1]
        cons.append(g >= 0)
    sense = draw(st.sampled_from(["min", "max"]))
    prob = po.Problem(**{"minimize" if sense == "min" else "maximize": f}, constraints=cons)
    seed = draw(st.integers(0, 2**32 - 1))
    return prob, degree, lo, hi, seed


def check_pop(prob, degree, lo, hi, seed) -> str:
    """Solve; assert soundness at sampled exactly-feasible points; return the status."""
    rng = np.random.default_rng(seed)
    n = len(lo)
    points = [tuple(lo), tuple(hi), tuple((a + b) / 2 for a, b in zip(lo, hi))]
    points += [tuple(rng.uniform(lo, hi)) for _ in range(8)]
    points += [tuple(rng.choice([lo[i], hi[i]]) for i in range(n)) for _ in range(4)]
    feasible = [p for p in points if exactly_feasible(prob, p)]
    assert feasible  # the box center is feasible by construction
    r = prob.solve(method="lp", degree=degree)
    if r.status == "infeasible":
        assert not r.certified and np.isnan(r.bound)  # feasible: no proof can exist
        return "false_infeasible"
    if not r.certified:
        assert np.isnan(r.bound) and r.status != "optimal"
        return r.status
    for p in feasible:
        assert_valid(r, prob, p)
    return r.status


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(narrow_pop())
def test_certified_bounds_hold_at_exact_feasible_points(case):
    assert check_pop(*case) == "optimal"


@pytest.mark.slow
@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(narrow_pop())
def test_certified_bounds_hold_at_exact_feasible_points_many(case):
    assert check_pop(*case) == "optimal"
