"""Cases where a careless pipeline reports a bound that is not one."""

from __future__ import annotations

import numpy as np
import pytest

import polyopt as po


@pytest.mark.parametrize("sense", ["min", "max"])
def test_one_sided_bound_far_from_the_origin(sense):
    # min x^2 s.t. x >= 1e5 is 1e10 at x = 1e5 (by hand); unscaled, solvers call it infeasible
    x = po.variables("x")
    f = x**2 if sense == "min" else -(x**2)
    kw = {"minimize": f} if sense == "min" else {"maximize": f}
    for order in (1, 2):
        r = po.Problem(**kw, constraints=[x >= 1e5]).solve(order=order)
        assert r.status == "optimal"
        if sense == "min":
            assert 1e10 * (1 - 1e-6) <= r.bound <= 1e10
        else:
            assert -1e10 <= r.bound <= -1e10 * (1 - 1e-6)


def test_refuted_certificate_reports_no_bound():
    # Motzkin: the order-3 relaxation is unbounded; whatever the solver says, no finite
    # "optimal" number may come back
    a, b = po.variables("a"), po.variables("b")
    motzkin = a**4 * b**2 + a**2 * b**4 - 3 * a**2 * b**2 + 1
    for form in ("moment", "gram"):
        r = po.Problem(minimize=motzkin).solve(order=3, solver="clarabel", form=form)
        assert not (r.status == "optimal" and np.isfinite(r.bound))
        assert not r.certified


def test_uncertified_bound_is_below_the_dual_value():
    # unconstrained: no certificate, the bound is the dual value minus the certificate error
    x = po.variables("x", 2)
    f = (x[0] ** 2 - 1) ** 2 + (x[0] - x[1]) ** 2 + x[0] * x[1]  # min 0.609375 (multistart)
    r = po.Problem(minimize=f).solve(order=2)
    assert r.status == "optimal" and not r.certified and r.sound_bound is None
    assert r.bound <= r.dual_value
    assert r.bound == pytest.approx(0.609375, abs=1e-6)


def test_iteration_limit_without_certificate_is_nan():
    x = po.variables("x", 2)
    f = (x[0] ** 2 - 1) ** 2 + (x[0] - x[1]) ** 2 + x[0] * x[1]
    r = po.Problem(minimize=f).solve(order=2, solver="scs", max_iters=3)
    assert r.status in ("iteration_limit", "inaccurate", "solver_error")
    if r.status == "iteration_limit":
        assert np.isnan(r.bound)


def test_infeasibility_is_certified_only_with_a_proof():
    a, b = po.variables("a"), po.variables("b")
    # x^2 + y^2 <= 1 and x >= 2 cannot both hold (by hand); the box makes the ray checkable
    boxed = po.Problem(minimize=a + b, constraints=[a**2 + b**2 <= 1, a >= 2])
    for form in ("gram", "moment"):
        r = boxed.solve(order=2, solver="clarabel", form=form)
        assert r.status == "infeasible" and r.bound == np.inf
        assert r.certified and r.sound_bound == np.inf
    # a*b = 1e6 is feasible (a = b = 1000): whatever the solver says, no certificate exists
    r = po.Problem(minimize=a**2 + b**2, constraints=[a * b == 1e6]).solve(order=2)
    assert not r.certified
    if r.status == "optimal":
        assert r.bound <= 2e6


# ----------------------------------------------------------------- implied bounds, scale
def _scs_case(linear_x3: bool):
    x1, x2, x3 = po.variables("x", 3)
    f = (
        -0.8089683414117623 * x2**2
        + 0.45776713720734846 * x1 * x3
        - 0.022062138533413777 * x1 * x2
        - 2.0296506034256803 * x1**2
        + 0.08532528657192757 * x3
        + 0.3759420964043955 * x2
        + 0.8197299036599044
    )
    # x3's bound comes from a quadratic with a linear term; with x2^2 (= 1) in front of the
    # linear term the constraint is the same set but no longer separable
    lin = 1.2126177850740274 * (x3 if linear_x3 else x2**2 * x3)
    cons = [
        x1 + 166.5927641823088 >= 0,
        -x1 + 2906.6571767053388 >= 0,
        x2**2 - 1 == 0,
        -(x3**2) - lin + 0.8410509414233163 >= 0,
        0.7791893259444502 * x2 * x3
        + 1.932279225039262 * x1 * x3
        + 0.2562909279976057 * x2
        + 846.9715750409596
        >= 0,
    ]
    prob = po.Problem(maximize=f, constraints=cons)
    point = [-0.19778667, 1.0, -1.7056]  # feasible: every constraint checked exactly below
    return prob, point


def _exact_value(poly, point, variables):
    from fractions import Fraction

    vals = {v.id: Fraction(float(p)) for v, p in zip(variables, point)}
    total = Fraction(0)
    for coef, exps in zip(poly.coefficients, poly.exponents):
        term = Fraction(float(coef))
        for v, e in zip(poly.variables, exps):
            term *= vals[v.id] ** int(e)
        total += term
    return total


@pytest.mark.parametrize("solver", ["scs", "clarabel", "sdpa", "arrow"])
def test_quadratic_with_linear_term_bounds_the_variable(solver):
    from fractions import Fraction

    prob, point = _scs_case(linear_x3=True)
    for c in prob.constraints:
        val = _exact_value(c.poly, point, prob.variables)
        assert val >= 0 if c.kind == "ineq" else val == 0
    truth = _exact_value(prob.objective, point, prob.variables)  # 0.3206 (max problem)
    r = prob.solve(order=2, solver=solver)
    assert r.certified and r.status in ("optimal", "inaccurate")
    assert Fraction(r.bound) >= truth


@pytest.mark.parametrize("solver", ["scs", "clarabel", "sdpa", "arrow"])
def test_uncertified_result_far_off_is_not_optimal(solver):
    # objective scale 1.7e7 (x1's range) against an optimum of about 0.3: the solvers' dual
    # values are meaningless at that scale and must not come back as "optimal"
    from fractions import Fraction

    prob, point = _scs_case(linear_x3=False)
    truth = _exact_value(prob.objective, point, prob.variables)
    r = prob.solve(order=2, solver=solver)
    assert not r.certified
    assert r.status != "optimal" or Fraction(r.bound) >= truth


def test_gloptipoly_example_is_certified():
    # GloptiPoly 3 manual: x >= 0 with linear constraints bounding every variable; the
    # optimum is -4 at (0.5, 0, 3), the order-2 relaxation -5.6923 (published)
    x = po.variables("x", 3)
    g = (
        24
        - 20 * x[0]
        + 9 * x[1]
        - 13 * x[2]
        + 4 * x[0] ** 2
        - 4 * x[0] * x[1]
        + 4 * x[0] * x[2]
        + 2 * x[1] ** 2
        - 2 * x[1] * x[2]
        + 2 * x[2] ** 2
    )
    cons = [x[0] >= 0, x[1] >= 0, x[2] >= 0, x[0] <= 2, x[2] <= 3]
    cons += [x[0] + x[1] + x[2] <= 4, 3 * x[1] + x[2] <= 6, g >= 0]
    prob = po.Problem(minimize=-2 * x[0] + x[1] - x[2], constraints=cons)
    r = prob.solve(order=2)
    assert r.certified and r.status == "optimal"
    assert r.bound <= -4 and r.bound == pytest.approx(-5.6923, abs=1e-4)
    r = prob.solve(order=4)
    assert r.certified and r.bound <= -4 and r.bound == pytest.approx(-4.0, abs=1e-4)


# ----------------------------------------------------------------- rigorous eigenvalues
def _exact_positive_definite(M) -> bool:
    """LDL^T in rational arithmetic: every pivot > 0."""
    from fractions import Fraction

    n = len(M)
    A = [[Fraction(M[i][j]) for j in range(n)] for i in range(n)]
    for k in range(n):
        if A[k][k] <= 0:
            return False
        for i in range(k + 1, n):
            f = A[i][k] / A[k][k]
            for j in range(k, n):
                A[i][j] -= f * A[k][j]
    return True


def test_psd_lower_bounds_hold_exactly():
    from polyopt.certificate import psd_lower_bounds

    rng = np.random.default_rng(0)
    blocks = []
    for _ in range(30):
        n = int(rng.integers(1, 7))
        B = rng.standard_normal((n, n)) * 10.0 ** rng.uniform(-8, 8)
        V = rng.standard_normal((n, max(n - 1, 1)))
        blocks.append(B + B.T if rng.uniform() < 0.5 else V @ V.T)  # indefinite or singular
    lows = psd_lower_bounds(blocks)
    for X, t in zip(blocks, lows):
        lam = np.linalg.eigvalsh(X)[0]
        scale = np.abs(X).max()
        assert t <= lam and lam - t <= 1e-9 * scale + 1e-300
        # X - (t - tiny) I is positive definite in exact arithmetic
        from fractions import Fraction

        shifted = [
            [Fraction(float(X[i, j])) - (Fraction(t) if i == j else 0) for j in range(len(X))]
            for i in range(len(X))
        ]
        eps = Fraction(1, 10**30) * Fraction(float(scale))
        for i in range(len(X)):
            shifted[i][i] += eps
        assert _exact_positive_definite(shifted)
    # exact values: [[2, 1], [1, 2]] has eigenvalues 1 and 3; v v^T with integer v is singular
    t = psd_lower_bounds([np.array([[2.0, 1.0], [1.0, 2.0]]), np.outer([1.0, 2, 3], [1.0, 2, 3])])
    assert 1 - 1e-12 < t[0] <= 1 and -1e-12 < t[1] <= 0
