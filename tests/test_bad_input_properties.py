"""Property tests of bad input: POPs whose variables share a name raise; networks with
non-finite weights raise at every entry point (set at construction or later)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lipschitz
import polyopt as po

PROPERTY = settings(
    max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY
@given(
    n=st.integers(1, 3),
    where=st.sampled_from(["objective", "constraint", "both"]),
    coef=st.floats(-3, 3, allow_nan=False).filter(lambda c: abs(c) > 1e-3),
)
def test_pops_whose_variables_share_a_name_raise(n, where, coef):
    a = po.variables("x", n)
    b = po.variables("x", n)  # new variables, the same names
    objective = sum(v**2 for v in a) + (coef * b[0] if where != "constraint" else 0)
    constraints = [1 - a[0] ** 2 >= 0]
    if where != "objective":
        constraints.append(coef * b[-1] + 2 >= 0)
    with pytest.raises(ValueError, match="name"):
        po.Problem(minimize=objective, constraints=constraints).solve(order=1)


def _net(seed: int) -> lipschitz.ReLUNetwork:
    return lipschitz.random_network((3, 4), outputs=2, seed=seed)


ENTRY_POINTS = {
    "hr-2": lambda net: lipschitz.upper_bound(net, output=0),
    "hr-1": lambda net: lipschitz.upper_bound(net, order=1, output=0),
    "shor": lambda net: lipschitz.upper_bound(net, method="shor", output=0),
    "naive": lambda net: lipschitz.upper_bound(net, method="naive", output=0),
    "fastlip": lambda net: lipschitz.upper_bound(net, method="fastlip", output=0),
    "lower": lambda net: lipschitz.lower_bound(net, output=0, samples=50, starts=2),
    "exact": lambda net: lipschitz.exact(net, output=0),
    "liplp": lambda net: lipschitz.liplp(net, output=0),
    "lipopt": lambda net: lipschitz.lipopt(net, output=0),
    "lipsdp": lambda net: lipschitz.lipsdp(net, output=0),
    "seqlip": lambda net: lipschitz.seqlip(net, output=0),
    "clever": lambda net: lipschitz.clever(net, output=0),
    "compare": lambda net: lipschitz.compare(net, methods=["naive"], output=0),
    "pairwise": lambda net: lipschitz.pairwise_bounds(net, "global", executor="serial"),
    "attack": lambda net: lipschitz.attack(net, np.zeros((1, 3)), [0], eps=0.1),
    "certify": lambda net: lipschitz.certify(
        net, np.zeros((1, 3)), [0], eps=0.1, executor="serial"
    ),
}


@PROPERTY
@given(
    seed=st.integers(0, 50),
    which=st.sampled_from(["weights", "biases"]),
    layer=st.integers(0, 1),
    bad=st.sampled_from([np.nan, np.inf, -np.inf]),
)
def test_non_finite_parameters_raise_at_construction(seed, which, layer, bad):
    net = _net(seed)
    weights = [w.copy() for w in net.weights]
    biases = [b.copy() for b in net.biases]
    (weights if which == "weights" else biases)[layer].flat[0] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        lipschitz.ReLUNetwork(weights, biases)


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_parameters_set_later_raise_at_every_entry_point(entry, bad):
    net = _net(0)
    w = net.weights[1].copy()
    w[0, 0] = bad
    net.weights[1] = w  # the arrays are read-only; the list can still be reassigned
    with pytest.raises(ValueError, match="NaN or infinite"):
        ENTRY_POINTS[entry](net)
