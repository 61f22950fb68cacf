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
