"""The low-rank backend on pairs of logits (``f_i - f_r``) and its warm starts."""

from __future__ import annotations

import numpy as np
import pytest
from enumeration import exact_lipschitz, functional

import lipschitz as lp
from lipschitz.random_nets import random_network

DOMAIN = lp.Box(np.zeros(6), 1.0)


@pytest.fixture(scope="module")
def net():
    return random_network((6, 10), outputs=3, seed=4)


def shor(net, output, **kw):
    return lp.upper_bound(net, method="shor", domain=DOMAIN, output=output, **kw)


@pytest.mark.parametrize("pair", [(0, 1), (1, 2)])
def test_pair_bound_agrees_with_clarabel_and_covers_the_exact_constant(net, pair):
    exact = exact_lipschitz(net, DOMAIN.center, DOMAIN.radius, functional(pair, 3), "inf")
    ref = shor(net, pair, solver="clarabel")
    b = shor(net, pair, solver="lowrank")
    assert b.sound and b.status == "optimal" and b.info["solver"] == "lowrank"
    assert exact <= b.value + 1e-9
    assert b.value == pytest.approx(ref.value, rel=1e-4)


def test_warm_start_gives_the_same_bound_and_resumes_in_fewer_iterations(net):
    source = shor(net, (1, 2), solver="lowrank")
    cold = shor(net, (0, 1), solver="lowrank")
    warm = shor(net, (0, 1), solver="lowrank", solver_options={"warm_start": source.info["result"]})
    assert cold.sound and warm.sound and warm.status == "optimal"
    assert warm.value == pytest.approx(cold.value, rel=1e-4)
    # resuming from a solve of the same program: the backend's result and its state dict
    res = cold.info["result"].backend_result
    for previous in (res, res.raw["state"]):
        again = shor(net, (0, 1), solver="lowrank", solver_options={"warm_start": previous})
        assert again.sound and again.status == "optimal"
        assert again.value == pytest.approx(cold.value, rel=1e-4)
        assert again.info["iterations"] < cold.info["iterations"]


def test_warm_start_from_different_constraints_is_rejected(net):
    other = shor(random_network((6, 10), outputs=3, seed=5), (0, 1), solver="lowrank")
    with pytest.raises(ValueError, match="different constraints"):
        shor(net, (0, 1), solver="lowrank", solver_options={"warm_start": other.info["result"]})
    with pytest.raises(ValueError, match="warm_start needs a result"):
        shor(net, (0, 1), solver="lowrank", solver_options={"warm_start": {"theta": 1}})


def test_time_limit_holds_inside_the_inner_runs():
    # the limit is checked inside each L-BFGS run, not only between outer iterations; the
    # bound returned is still certified
    net = lp.random_network((80, 80), seed=0)
    b = lp.upper_bound(net, method="shor", solver="lowrank", time_limit=0.3)
    assert b.info["solve_seconds"] < 0.3 + 1.0
    assert b.status in ("time_limit", "optimal")
    if b.sound:
        assert b.value >= lp.lower_bound(net, samples=2000).value
