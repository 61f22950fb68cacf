"""The low-rank (Burer-Monteiro) backend: sound bounds against brute force, published SDP values
and the interior-point solvers, its options and its limits."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lipschitz as lp
import polyopt as po
from lipschitz.random_nets import random_network


def test_box_pop_matches_clarabel_and_stays_below_the_grid_minimum():
    x, y = po.variables("x"), po.variables("y")
    f = x**4 - 3 * x**2 * y + y**3 + x * y - 2 * x
    prob = po.Problem(minimize=f, constraints=[1 - x**2 >= 0, 1 - y**2 >= 0])
    axis = np.linspace(-1, 1, 801)
    pts = np.column_stack([m.ravel() for m in np.meshgrid(axis, axis, indexing="ij")])
    grid_min = float(f.evaluate(pts, (x, y)).min())
    for order in (2, 3):
        ref = prob.solve(order=order, solver="clarabel")
        r = prob.solve(order=order, solver="lowrank")
        assert r.solver == "lowrank" and r.form == "moment"
        assert r.certified
        assert r.bound <= grid_min + 1e-12
        assert r.bound == pytest.approx(ref.bound, abs=1e-4)


def test_max_cut_of_the_five_cycle_reaches_the_goemans_williamson_value():
    # Shor's relaxation of max-cut on C5: (5/2)(1 + cos(pi/5)) = 4.5225 (Goemans and
    # Williamson 1995); the maximum cut is 4 (brute force below)
    xs = po.variables("x", 5)
    edges = [(i, (i + 1) % 5) for i in range(5)]
    cut = po.polysum([(1 - xs[i] * xs[j]) / 2 for i, j in edges])
    prob = po.Problem(maximize=cut, constraints=[xi * xi - 1 == 0 for xi in xs])
    best = max(
        sum((1 - s[i] * s[j]) / 2 for i, j in edges) for s in itertools.product((-1, 1), repeat=5)
    )
    assert best == 4
    r = prob.solve(order=1, solver="lowrank")
    assert r.certified
    assert r.bound >= best
    assert r.bound == pytest.approx(2.5 * (1 + math.cos(math.pi / 5)), abs=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_lcep_shor_with_lowrank_agrees_with_sdpa_and_brackets_the_exact_constant(seed):
    # one hidden layer: the case the solver is built for (the lifted QCQP of deeper networks
    # converges slowly with it; interior point is the default there)
    net = random_network((6, 16), sparsity=None, seed=seed)
    exact = lp.exact(net, domain=lp.Box(np.zeros(6), 1.0)).value
    lower = lp.lower_bound(net, domain=lp.Box(np.zeros(6), 1.0), samples=2000).value
    ref = lp.upper_bound(net, method="shor", domain=lp.Box(np.zeros(6), 1.0), solver="sdpa")
    b = lp.upper_bound(net, method="shor", domain=lp.Box(np.zeros(6), 1.0), solver="lowrank")
    assert b.sound and b.status == "optimal" and b.info["solver"] == "lowrank"
    assert lower <= exact + 1e-9 <= b.value + 2e-9
    assert b.value == pytest.approx(ref.value, rel=1e-4)


def test_lowrank_bound_holds_on_a_banded_network():
    net = random_network((20, 20), sparsity=7, seed=3)
    dom = lp.Box(np.zeros(20), 10.0)
    b = lp.upper_bound(net, method="shor", domain=dom, solver="lowrank")
    search = lp.lower_bound(net, method="search", domain=dom)
    assert b.sound
    assert search.value <= b.value
    assert b.value <= lp.upper_bound(net, method="fastlip", domain=dom).value


def test_unknown_option_and_gram_form_are_rejected():
    x = po.variables("x")
    prob = po.Problem(minimize=x**2, constraints=[1 - x**2 >= 0])
    with pytest.raises(ValueError, match="unknown lowrank option"):
        prob.solve(order=1, solver="lowrank", solver_options={"rnak": 3})
    with pytest.raises(ValueError, match="moment form"):
        prob.solve(order=1, solver="lowrank", form="gram")


def test_an_iteration_limit_reports_its_status_and_never_an_invalid_bound():
    xs = po.variables("x", 6)
    f = po.polysum([xs[i] * xs[(i + 1) % 6] for i in range(6)]) + po.polysum(xs)
    prob = po.Problem(minimize=f, constraints=[1 - xi * xi >= 0 for xi in xs])
    exact = min(
        float(f.evaluate(np.array([s]), xs)[0]) for s in itertools.product((-1, 1), repeat=6)
    )
    r = prob.solve(order=1, solver="lowrank", max_iters=1)
    assert r.status in ("iteration_limit", "optimal")
    assert math.isnan(r.bound) or r.bound <= exact + 1e-9


def test_upper_bound_picks_lowrank_for_large_one_hidden_layer_shor(monkeypatch):
    from polyopt.backends import policy

    net = random_network((6, 16), sparsity=None, seed=0)
    dom = lp.Box(np.zeros(6), 1.0)
    ref = lp.upper_bound(net, method="shor", domain=dom, solver="sdpa", norm="2")
    monkeypatch.setattr(policy, "LOWRANK_MIN_SIDE", 20)
    b = lp.upper_bound(net, method="shor", domain=dom, norm="2")
    assert b.info["solver"] == "lowrank" and b.sound
    assert b.value == pytest.approx(ref.value, rel=1e-4)
    # the L-inf norm goes to the sign-program solver instead
    assert lp.upper_bound(net, method="shor", domain=dom).info["solver"] == "mixing"
    deep = random_network((6, 8, 8), sparsity=None, seed=0)
    assert lp.upper_bound(deep, method="hr", order=1, domain=dom).info["solver"] != "lowrank"


@settings(
    max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    st.sampled_from([(2, 4), (3, 6), (4, 8)]),
    st.integers(0, 10_000),
    st.sampled_from(["inf", "1", "2"]),
    st.floats(0.1, 3.0),
)
def test_lowrank_shor_is_never_below_the_exact_constant(sizes, seed, norm, radius):
    net = random_network(sizes, seed=seed)
    dom = lp.Box(np.full(sizes[0], 0.3), radius)
    if norm == "2":  # no MIP for L2: the region search's gradient is a lower bound
        exact = lp.lower_bound(net, method="search", norm=norm, domain=dom).value
    else:
        exact = lp.exact(net, norm=norm, domain=dom).value
    b = lp.upper_bound(net, method="shor", norm=norm, domain=dom, solver="lowrank")
    if b.sound:
        assert b.value >= exact * (1 - 1e-9) - 1e-12, (sizes, seed, norm, radius, b.value, exact)
    else:  # nothing certified: the value must say so
        assert math.isnan(b.value) or b.status != "optimal"
