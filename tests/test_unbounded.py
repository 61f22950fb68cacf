"""Unboundedness proved by a feasible ray (polyopt.unbounded)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import polyopt as po
from polyopt.unbounded import unbounded_ray


def _x(n=2):
    return po.variables("x", n)


@pytest.mark.parametrize(
    "make",
    [
        lambda x: (x[0], []),
        lambda x: (x[0] ** 3, []),
        lambda x: (x[0] * x[1], []),
        lambda x: (x[0] ** 2 - x[1], []),
        lambda x: (-x[0] * x[1], [x[0] >= 0, x[1] >= 0]),
        lambda x: (x[0] - x[1], [x[0] == 0]),
    ],
)
def test_trivially_unbounded_problems_say_unbounded(make):
    x = _x()
    f, cons = make(x)
    r = po.Problem(minimize=f, constraints=cons).solve()
    assert r.status == "unbounded" and r.bound == -np.inf and r.certified
    v = r.raw["unbounded_ray"]
    prob = r.problem
    # the ray really is feasible from some t on and the objective really diverges
    vals = []
    for t in (1e3, 1e4, 1e5):
        point = t * v.astype(float)
        assert all(
            c.poly.evaluate(point[None], prob.variables)[0] >= -1e-6
            if c.kind == "ineq"
            else abs(c.poly.evaluate(point[None], prob.variables)[0]) <= 1e-6
            for c in prob.constraints
        )
        vals.append(prob.objective.evaluate(point[None], prob.variables)[0])
    assert vals[0] > vals[1] > vals[2]


def test_maximize_unbounded_gives_plus_inf():
    x = _x()
    r = po.Problem(maximize=x[0] ** 2 + x[1]).solve()
    assert r.status == "unbounded" and r.bound == np.inf


def test_bounded_problems_are_not_flagged():
    x = _x()
    for f, cons in [
        (x[0] ** 2 + x[1] ** 2, []),
        (-x[0], [x[0] <= 3]),
        (x[0] + x[1], [1 - x[0] ** 2 - x[1] ** 2 >= 0]),
        (x[0] ** 4 - x[0] ** 2, []),
    ]:
        prob = po.Problem(minimize=f, constraints=cons)
        assert unbounded_ray(prob) is None
        assert prob.solve().status != "unbounded"


@settings(
    derandomize=True, max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    coeffs=st.lists(st.integers(-3, 3), min_size=6, max_size=6),
    box=st.booleans(),
)
def test_a_ray_is_only_found_when_the_objective_really_diverges(coeffs, box):
    x = _x()
    a, b, c, d, e, g = coeffs
    assume(any(coeffs))
    f = a * x[0] ** 2 + b * x[0] * x[1] + c * x[1] ** 2 + d * x[0] + e * x[1] + g * x[0] ** 3
    cons = [1 - x[0] ** 2 >= 0, 1 - x[1] ** 2 >= 0] if box else []
    prob = po.Problem(minimize=f, constraints=cons, variables=list(x))
    v = unbounded_ray(prob)
    if box:
        assert v is None  # a compact feasible set
    if v is not None:
        vals = [
            prob.objective.evaluate((t * v.astype(float))[None], prob.variables)[0]
            for t in (1e2, 1e4, 1e6)
        ]
        assert vals[2] < vals[1] < vals[0] and vals[2] < -1e3
