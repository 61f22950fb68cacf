"""Dense requests settled by the correlative relaxation and a feasible point (polyopt.settle)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import polyopt as po
from polyopt.cli import main as cli_main
from polyopt.local_search import CompiledPolynomial, local_minimum
from polyopt.settle import correlative_is_smaller, settle_dense

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from instances import (  # noqa: E402
    broyden_tridiagonal,
    chained_singular,
    chained_wood,
    generalized_rosenbrock,
)

GRID = np.linspace(-1.0, 1.0, 401)


def chain_problem(seed: int, n: int = 10):
    """A random chain quartic on the box [-1, 1]^n, its pair terms as coefficient triples."""
    rng = np.random.default_rng(seed)
    x = po.variables("x", n)
    coef = rng.normal(size=(n - 1, 3))
    f = (
        sum(
            a * x[i] * x[i + 1] + b * x[i] ** 2 * x[i + 1] + c * x[i] + x[i] ** 4
            for i, (a, b, c) in enumerate(coef)
        )
        + x[n - 1] ** 4
    )
    box = [xi >= -1 for xi in x] + [xi <= 1 for xi in x]
    return po.Problem(minimize=f, constraints=box), coef


def chain_grid(coef: np.ndarray) -> float:
    """The minimum over a 401-point grid per variable, by dynamic programming along the chain
    (at least the true minimum)."""
    u, v = GRID[:, None], GRID[None, :]
    best = GRID**4  # the last variable's own term
    for a, b, c in coef[::-1]:
        pair = a * u * v + b * u**2 * v + c * u + u**4
        best = np.min(pair + best[None, :], axis=1)
    return float(best.min())


@pytest.mark.parametrize("family, n", [(chained_singular, 16), (generalized_rosenbrock, 20)])
def test_classic_dense_requests_reach_the_optimum(family, n):
    prob = family(n).problem  # optimum 0
    t = time.perf_counter()
    res = prob.solve(order=2)
    seconds = time.perf_counter() - t
    assert res.status == "optimal"
    assert res.raw["settled"]["requested"] == "dense"
    assert res.relaxation == "correlative"
    assert -1e-6 <= res.bound <= 1e-12
    point = res.minimizers()
    assert point.certified
    assert abs(prob.objective.evaluate(point[0], prob.variables)) <= 1e-6
    assert seconds < 10


def test_a_near_miss_is_solved_again_at_a_tighter_tolerance():
    """Chained Wood, 40 variables (optimum 1): at the default tolerance the correlative bound
    is 1.3e-6 below the optimum (Clarabel's Gram form overshoots, the certificate error is
    subtracted); solved again at tol 1e-12 it settles within 1e-6."""
    res = chained_wood(40).problem.solve(order=2)
    assert res.raw["settled"]["gap"] <= 1e-6
    assert 1 - 1e-6 <= res.bound <= 1 + 1e-12


def test_settled_bound_sandwiches_the_dense_value_and_a_grid_minimum():
    prob, coef = chain_problem(1)
    settled = prob.solve(order=2)
    dense = prob.solve(order=2, settle=False)
    assert settled.raw.get("settled") and "settled" not in dense.raw
    assert dense.relaxation == "dense" and dense.certified
    value = settled.raw["settled"]["value"]
    # correlative <= dense <= f* <= f(x) <= the grid minimum
    assert settled.certified and settled.bound <= dense.bound + 1e-7
    assert dense.bound <= value + 1e-7
    assert value <= chain_grid(coef) + 1e-12
    assert value - settled.bound <= 1e-6


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000))
def test_settled_or_dense_never_above_the_grid_minimum(seed):
    prob, coef = chain_problem(seed)
    res = prob.solve(order=2)
    grid = chain_grid(coef)
    assert res.status == "optimal"
    assert res.bound <= grid + 1e-7
    if res.raw.get("settled"):
        value = res.raw["settled"]["value"]
        assert value <= grid + 1e-12  # a feasible point at least as good as the grid's best
        assert value - res.bound <= 1e-6
    else:
        assert res.relaxation == "dense"


def test_maximization_is_settled_from_above():
    base = broyden_tridiagonal(12).problem
    prob = po.Problem(maximize=-base.objective, variables=list(base.variables))
    res = prob.solve(order=2)
    assert res.raw["settled"]["gap"] >= 0
    assert -1e-12 <= res.bound <= 1e-6  # an upper bound on max(-f) = 0


def test_loose_correlative_bound_is_not_settled():
    """A nonconvex chain QP on [-1, 1]^64 at order 1: Shor's bound stays far below the
    minimum (order 2 already lifts it by 2.5), so no feasible point attains it and the dense
    relaxation is solved as asked."""
    rng = np.random.default_rng(0)
    n = 64
    x = po.variables("x", n)
    f = sum(-(x[i] ** 2) + rng.normal() * x[i] for i in range(n)) + sum(
        rng.normal() * x[i] * x[i + 1] for i in range(n - 1)
    )
    prob = po.Problem(minimize=f, constraints=[1 - xi**2 >= 0 for xi in x])
    assert correlative_is_smaller(prob, 1)
    assert settle_dense(prob, 1, {}) is None
    res = prob.solve(order=1)
    assert res.relaxation == "dense" and "settled" not in res.raw
    tighter = prob.solve(order=2, sparsity="correlative")
    assert res.bound <= tighter.bound - 1.0  # loose indeed
    corners = np.sign(rng.normal(size=(2000, n)))
    assert res.bound <= float(np.min(f.evaluate(corners, x)))


def test_small_or_unstructured_problems_are_not_settled():
    small = generalized_rosenbrock(8).problem  # dense side 45: solved as it is
    assert not correlative_is_smaller(small, 2)
    x = po.variables("x", 12)
    coupled = po.Problem(minimize=sum(x) ** 2 + sum(xi**4 for xi in x))
    assert not correlative_is_smaller(coupled, 2)  # one clique holds every variable
    res = small.solve(order=2)
    assert res.relaxation == "dense" and "settled" not in res.raw


def test_cli_reports_the_settled_relaxation(tmp_path, capsys):
    path = tmp_path / "cs16.json"
    chained_singular(16).problem.to_json(str(path))
    assert cli_main(["solve", str(path), "--order", "2", "--json"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["relaxation"] == "correlative"
    assert record["settled"]["requested"] == "dense"
    assert record["minimizers_certified"]
    assert -1e-6 <= record["bound"] <= 1e-12


def test_cli_no_settle_solves_the_dense_relaxation(tmp_path, capsys):
    prob, _ = chain_problem(3)
    path = tmp_path / "chain.json"
    prob.to_json(str(path))
    assert cli_main(["solve", str(path), "--order", "2", "--json", "--no-settle"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["relaxation"] == "dense" and record["settled"] is None


def test_settled_result_round_trips_through_json():
    res = chained_singular(16).problem.solve(order=2)
    back = po.Result.from_json(res.to_json())
    assert back.raw["settled"]["value"] == res.raw["settled"]["value"]
    assert back.minimizers().certified


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    degree=st.integers(1, 4),
    nvars=st.integers(1, 5),
)
def test_compiled_gradient_matches_finite_differences(seed, degree, nvars):
    rng = np.random.default_rng(seed)
    x = po.variables("x", nvars)
    poly = (
        sum(
            rng.normal()
            * np.prod([x[j] for j in rng.integers(0, nvars, size=rng.integers(0, degree + 1))])
            for _ in range(6)
        )
        + x[0]
    )
    comp = CompiledPolynomial(poly, x)
    point = rng.uniform(-1.5, 1.5, nvars)
    value, grad = comp.value_and_gradient(point)
    assert value == pytest.approx(poly.evaluate(point, x), rel=1e-12, abs=1e-12)
    h = 1e-6
    numeric = [
        (comp.value(point + h * e) - comp.value(point - h * e)) / (2 * h) for e in np.eye(nvars)
    ]
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6)


def test_local_minimum_with_constraints_is_feasible():
    """min x + y on the unit circle: the minimum is -sqrt(2) at (-1, -1)/sqrt(2)."""
    x, y = po.variables("x", 2)
    prob = po.Problem(minimize=x + y, constraints=[x**2 + y**2 == 1])
    point = local_minimum(prob, np.array([0.3, -0.2]))
    assert point.feasible and point.method == "SLSQP"
    assert point.value == pytest.approx(-np.sqrt(2), abs=1e-8)
    assert point.value >= -np.sqrt(2) - 1e-7  # no feasible point below the minimum


def test_local_minimum_leaves_the_symmetric_saddle():
    """Generalized Rosenbrock has minimizers with x_1 = +1 and -1; their average x_1 = 0 is a
    saddle where a plain descent stays (value about 64 at n = 16)."""
    prob = generalized_rosenbrock(16).problem
    start = np.ones(16)
    start[0] = 0.0
    point = local_minimum(prob, start)
    assert point.feasible and abs(point.value) <= 1e-9


def test_settling_runs_under_a_time_limit():
    """With a time limit the correlative solve runs in a child process, within half of it."""
    res = chained_singular(16).problem.solve(order=2, time_limit=20)
    assert res.status == "optimal" and res.raw["settled"]["seconds"] < 10
    assert -1e-6 <= res.bound <= 1e-12
