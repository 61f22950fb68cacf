"""LipOpt (the Krivine-Stengle LP hierarchy on the relaxed gradient polynomial).

Reference values are independent of lipschitz.lipopt:

* exact Lipschitz constants by enumeration of activation regions (tests/enumeration.py);
* for one hidden layer and the l-inf input norm, the max of the multilinear polynomial
  ``p(t, u) = sum_ij a_ij t_i u_j`` (``a_ij = W_1[j, i] g_j``, ``g = W_out^T c``) over the box is
  attained at a vertex: ``max_{u in {0,1}^m} ||W_1^T diag(u) g||_1`` (brute force); at degree
  ``n + m`` the dense LP is exact for a multilinear polynomial (the vertex indicators
  ``prod h_i^{v_i} (1 - h_i)^{1 - v_i}`` are products of degree ``n + m`` summing to 1);
* explicit degree-2 certificates (see the tests) that bound the LP value by closed forms.
"""

from __future__ import annotations

import inspect
import itertools

import numpy as np
import pytest
from enumeration import exact_lipschitz

import polyopt as po
import polyopt.relaxations.lp as lp_module
from lipschitz import Box, ReLUNetwork, random_network, upper_bound
from lipschitz.lipopt import lipopt


def slack(v: float) -> float:
    return 1e-7 * (1.0 + abs(v))


def one_layer(seed: int = 0, n: int = 3, m: int = 4) -> ReLUNetwork:
    return random_network((n, m), seed=seed)


def two_layers(seed: int = 0) -> ReLUNetwork:
    return random_network((2, 3, 3), seed=seed)


def boxes(net: ReLUNetwork) -> list[tuple[np.ndarray, float]]:
    """The global box and a local one (radius 0.3 around a seeded point)."""
    n = net.input_dim
    center = np.random.default_rng(1).uniform(-1, 1, n)
    return [(np.zeros(n), 10.0), (center, 0.3)]


def vertex_max(net: ReLUNetwork, c: np.ndarray) -> float:
    """``max_u ||W_1^T diag(u) g||_1`` over ``u in {0, 1}^m`` (one hidden layer)."""
    W1, g = net.weights[0], net.weights[1].T @ c
    m = W1.shape[0]
    return max(
        float(np.abs(W1.T @ (np.array(u) * g)).sum()) for u in itertools.product((0, 1), repeat=m)
    )


def certificate_inf(net: ReLUNetwork, c: np.ndarray) -> float:
    """``sum_ij |W_1[j, i] g_j|``: ``M - p = sum |a_ij| u_j (1 - sign(a_ij) t_i) + sum |a_ij|
    (1 - u_j)`` is a degree-2 certificate (products of two box factors, each inside the clique
    of the term ``t_i u_j``), so LipOpt-2 <= M <= naive (one hidden layer, l-inf)."""
    return float(np.abs(net.weights[0] * (net.weights[1].T @ c)[:, None]).sum())


def certificate_l1(net: ReLUNetwork, c: np.ndarray) -> float:
    """``max_i sum_j |a_ij|``: with ``A_i = sum_j |a_ij|``, ``M - p = sum |a_ij| u_j (r_i -
    sign(a_ij) t_i) + sum |a_ij| r_i (1 - u_j) + sum (M - A_i) r_i + M (1 - sum r)`` has degree
    2, so LipOpt-2 <= M <= naive (one hidden layer, l1; the sparse cliques hold every r)."""
    a = np.abs(net.weights[0] * (net.weights[1].T @ c)[:, None])
    return float(a.sum(axis=0).max())


# --------------------------------------------------------------------------- soundness
@pytest.mark.parametrize("norm", ["inf", "1"])
@pytest.mark.parametrize("make", [one_layer, two_layers])
@pytest.mark.parametrize("seed", [0, 1])
def test_upper_bounds_the_exact_constant(make, norm, seed):
    net = make(seed)
    c = np.ones(1)
    for center, radius in boxes(net):
        exact = exact_lipschitz(net, center, radius, c, norm)
        b = lipopt(net, norm=norm, domain=(center, radius))
        assert b.status == "optimal" and b.sound and b.kind == "upper"
        assert b.method == f"lipopt-{net.depth + 1}"
        assert b.value >= exact - 1e-9 * (1 + exact), (b.value, exact)


def test_dense_and_sparse_are_both_sound():
    net = two_layers(2)
    exact = exact_lipschitz(net, np.zeros(2), 10.0, np.ones(1), "inf")
    for sparse in (True, False):
        b = lipopt(net, sparse=sparse)
        assert b.sound and b.value >= exact - 1e-9
        if not sparse:
            assert b.sizes["cliques"] == 1
            assert b.sizes["largest_clique"] == b.sizes["variables"]


# --------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("seed", [0, 1])
def test_vertex_maximum_is_reached_at_full_degree(seed):
    net = one_layer(seed, n=2, m=3)
    assert lipopt(net, degree=2).unstable == 3  # the brute force assumes every u free
    target = vertex_max(net, np.ones(1))
    b = lipopt(net, degree=5, sparse=False)  # degree n + m: exact for multilinear p
    assert abs(b.value - target) <= 1e-6 * (1 + target)
    assert b.value >= target - slack(target)


def test_vertex_maximum_bounds_every_degree():
    net = random_network((3, 10), seed=0)
    c = np.ones(1)
    assert lipopt(net, degree=2).unstable == 10
    target = vertex_max(net, c)
    values = []
    for k, sparse in ((2, True), (2, False), (3, True)):
        b = lipopt(net, degree=k, sparse=sparse)
        assert b.value >= target - slack(target), (k, sparse)
        values.append(b.value)
    assert values[2] < values[0] - 1e-3  # on this network degree 3 is tighter than degree 2


@pytest.mark.parametrize("norm", ["inf", "1"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_degree_two_is_below_its_certificate_and_the_naive_bound(norm, seed):
    net = one_layer(seed)
    c = np.ones(1)
    naive = upper_bound(net, method="naive", norm=norm).value
    cert = certificate_inf(net, c) if norm == "inf" else certificate_l1(net, c)
    assert cert <= naive * (1 + 1e-12)
    for sparse in (True, False):  # sparse: every certificate product lies in one clique
        b = lipopt(net, degree=2, norm=norm, sparse=sparse)
        assert b.value <= cert + slack(cert), (sparse, b.value, cert)
        assert b.value <= naive + slack(naive)


def test_hand_built_network_is_tight():
    # p = t1 u1 + t2 u2 - the exact constants are 2 (l-inf) and 1 (l1), and the degree-2
    # certificates above give exactly those values
    net = ReLUNetwork([np.eye(2), [[1.0, 1.0]]], [np.zeros(2), np.zeros(1)])
    for norm, expected in (("inf", 2.0), ("1", 1.0)):
        assert exact_lipschitz(net, np.zeros(2), 10.0, np.ones(1), norm) == pytest.approx(expected)
        b = lipopt(net, degree=2, norm=norm, sparse=False)
        assert expected - 1e-9 <= b.value <= expected + 1e-6


def test_all_stable_neurons_give_the_constant_gradient():
    W1 = np.array([[1.0, 2.0], [-1.0, 0.5], [0.3, -0.2]])
    b1 = np.array([5.0, -5.0, 4.0])  # on |x| <= 1: active, inactive, active
    W2 = np.array([[1.0, -2.0, 3.0]])
    net = ReLUNetwork([W1, W2], [b1, np.zeros(1)])
    grad = W1[[0, 2]].T @ np.array([1.0, 3.0])
    for norm, value in (("inf", np.abs(grad).sum()), ("1", np.abs(grad).max())):
        b = lipopt(net, norm=norm, domain=(np.zeros(2), 1.0))
        assert b.info["exact"] and b.unstable == 0 and b.sound
        assert b.neurons["active"] == [2] and b.neurons["inactive"] == [1]
        assert value <= b.value <= value * (1 + 1e-9)
        exact = exact_lipschitz(net, np.zeros(2), 1.0, np.ones(1), norm)
        assert b.value == pytest.approx(exact, rel=1e-9)


def test_the_polynomial_is_the_gradient_at_activation_patterns():
    net = random_network((3, 4, 3), outputs=2, seed=3)
    c = np.array([1.0, -0.5])
    b = lipopt(net, degree=3, output=c)
    prob = b.info["result"].problem
    names = [v.name for v in prob.variables]
    X = np.random.default_rng(0).uniform(-10, 10, (20, 3))
    for x in X:
        pattern = net.activation_pattern(x)
        grad = net.gradients(x, c)
        for i in range(3):
            point = np.zeros(len(names))
            for q, name in enumerate(names):
                if name.startswith("t"):
                    point[q] = float(int(name[1:]) == i + 1)
                else:
                    k, j = (int(s) for s in name[1:].split("_"))
                    point[q] = float(np.ravel(pattern[k - 1])[j - 1])
            value = prob.objective.evaluate(point, prob.variables)
            assert value == pytest.approx(grad[i], abs=1e-12)


# --------------------------------------------------------------------------- monotonicity
@pytest.mark.parametrize(
    "net,degrees",
    [(random_network((4, 8), seed=0), (2, 3, 4)), (two_layers(1), (3, 4))],
    ids=["one-layer", "two-layers"],
)
@pytest.mark.parametrize("sparse", [True, False])
def test_raising_the_degree_never_loosens(net, degrees, sparse):
    values = [lipopt(net, degree=k, sparse=sparse).value for k in degrees]
    for lo, hi in zip(values[1:], values):
        assert lo <= hi + slack(hi), values


@pytest.mark.parametrize("make", [one_layer, two_layers])
def test_a_local_box_fixes_neurons_and_tightens(make):
    # dense: substituting the fixed u into a global certificate gives a local one
    net = make(0)
    glob = lipopt(net, sparse=False)
    center = np.random.default_rng(5).uniform(-1, 1, net.input_dim)
    local = lipopt(net, domain=Box(center, 0.2), sparse=False)
    fixed = sum(local.neurons["active"]) + sum(local.neurons["inactive"])
    assert fixed > sum(glob.neurons["active"]) + sum(glob.neurons["inactive"])
    assert local.value <= glob.value + slack(glob.value)
    exact = exact_lipschitz(net, center, 0.2, np.ones(1), "inf")
    assert local.value >= exact - 1e-9


# --------------------------------------------------------------------------- inputs
def test_bad_inputs_raise():
    net = two_layers(0)
    with pytest.raises(TypeError, match="ReLUNetwork"):
        lipopt([np.eye(2)])
    with pytest.raises(ValueError, match="polyhedral"):
        lipopt(net, norm="2")
    with pytest.raises(ValueError, match="unknown norm"):
        lipopt(net, norm="3")
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(ValueError, match="positive integer"):
            lipopt(net, degree=bad)
    assert lipopt(net).unstable > 0 and max(lipopt(net).neurons["unstable"]) > 0
    with pytest.raises(ValueError, match="below the degree 3"):
        lipopt(net, degree=2)
    with pytest.raises(ValueError, match="dimension"):
        lipopt(net, domain=(np.zeros(3), 1.0))
    with pytest.raises(ValueError, match="out of range"):
        lipopt(net, output=4)
    with pytest.raises(TypeError, match="sparse"):
        lipopt(net, sparse="yes")


def test_too_many_products_is_a_clear_error(monkeypatch):
    sig = inspect.signature(lp_module.lp_relaxation)
    defaults = tuple(
        50 if name == "max_products" else p.default
        for name, p in sig.parameters.items()
        if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is not p.empty
    )
    monkeypatch.setattr(lp_module.lp_relaxation, "__defaults__", defaults)
    net = one_layer(0)
    with pytest.raises(
        ValueError, match=r"LipOpt-3 is too large.*dense.*lower degree or sparse=True"
    ):
        lipopt(net, degree=3, sparse=False)


def test_result_fields():
    net = random_network((3, 4), outputs=3, seed=4)
    b = lipopt(net, output=(0, 2), norm="l1")
    assert b.norm == "1" and b.method == "lipopt-2" and b.seconds > 0
    assert isinstance(b.info["result"], po.Result) and b.info["solver"] == "highs"
    assert b.info["result"].certified and b.value == b.info["result"].sound_bound
    assert b.sizes["products"] == b.sizes["lp_rows"] > 0
    assert b.sizes["variables"] == 3 + 3 + sum(b.neurons["unstable"])
    assert set(b.neurons) == {"active", "inactive", "unstable"}
