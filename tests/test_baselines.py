"""LipSDP, SeqLip and CLEVER (lipschitz.baselines) against exact constants and closed forms.

Exact constants come from ``tests/enumeration.py`` (activation regions enumerated with LPs,
independent of lipschitz's bound code).
"""

from __future__ import annotations

import numpy as np
import pytest
from enumeration import exact_lipschitz, regions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

import lipschitz.baselines.extreme_value as bl
from lipschitz import Box, ReLUNetwork, random_network, upper_bound
from lipschitz.baselines import clever, fit_reverse_weibull, lipsdp, sdp, seqlip

NORMS = ("inf", "1", "2")
SETTINGS = settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
SOLVER_REL = 1e-6  # comparisons between two SDP solves


def naive_l2(net: ReLUNetwork, c: np.ndarray) -> float:
    """Product of the spectral norms, times ``||W_out^T c||_2``."""
    value = float(np.linalg.norm(net.weights[-1].T @ c))
    for W in net.weights[:-1]:
        value *= float(np.linalg.norm(W, 2))
    return value


def scale(norm: str, n: int) -> float:
    return float(np.sqrt(n)) if norm == "inf" else 1.0


def exact_all_norms(net, center, radius, c) -> dict[str, float]:
    """Exact constants for the three norms from one region enumeration."""
    grads, _ = regions(net, center, radius, c)
    return {
        "inf": float(np.abs(grads).sum(axis=1).max()),
        "1": float(np.abs(grads).max()),
        "2": float(np.linalg.norm(grads, axis=1).max()),
    }


def one_neuron(w, b: float, v: float) -> ReLUNetwork:
    """``f(x) = v relu(w . x + b)``: L2 constant ``|v| ||w||`` wherever the neuron can switch."""
    w = np.asarray(w, float)
    return ReLUNetwork([w[None, :], np.array([[v]])], [np.array([b]), np.zeros(1)])


# ---------------------------------------------------------------------- soundness vs exact

NETS = [((2, 3), 1, 1), ((3, 4), 2, 2), ((2, 4, 3), 2, 3), ((2, 2, 2, 2), 1, 4), ((1, 3, 2), 1, 5)]


@pytest.mark.parametrize("sizes, outputs, seed", NETS)
@pytest.mark.parametrize("where", ["global", "local"])
def test_upper_bounds_dominate_exact(sizes, outputs, seed, where):
    net = random_network(sizes, outputs=outputs, seed=seed)
    n = sizes[0]
    output = 0 if outputs == 1 else (0, 1)
    c = np.eye(outputs)[0] - (np.eye(outputs)[1] if outputs > 1 else 0)
    if where == "global":
        domain, center, radius = "global", np.zeros(n), 10.0
    else:
        center = np.linspace(-0.4, 0.5, n)
        domain, radius = Box(center, 0.3), 0.3
    exact = exact_all_norms(net, center, radius, c)
    for norm in NORMS:
        a = lipsdp(net, norm, domain, output)
        q = seqlip(net, norm, domain, output)
        tag = f"{sizes} seed {seed} {where} {norm}: exact {exact[norm]!r}"
        assert a.kind == "upper" and a.sound and a.status == "optimal", tag
        assert q.kind == "upper" and q.sound and q.status == "optimal", tag
        assert a.value >= exact[norm], f"{tag}, lipsdp {a.value!r}"
        assert q.value >= exact[norm], f"{tag}, seqlip {q.value!r}"
        # both are at most the product of the layers' spectral norms (scaled like them)
        cap = naive_l2(net, c) * scale(norm, n) * (1 + 1e-9)
        assert a.value <= cap * (1 + SOLVER_REL), tag
        assert q.value <= cap, tag
        assert a.norm == q.norm == norm
        for b in (a, q):
            parts = [b.neurons[k] for k in ("active", "inactive", "unstable")]
            assert tuple(sum(v) for v in zip(*parts)) == net.hidden_sizes


@st.composite
def cases(draw):
    sizes = draw(st.sampled_from([(2, 3), (3, 4), (1, 5), (2, 3, 2), (2, 2, 3), (1, 3, 2, 2)]))
    seed = draw(st.integers(0, 10_000))
    outputs = draw(st.integers(1, 2))
    norm = draw(st.sampled_from(NORMS))
    n = sizes[0]
    if draw(st.booleans()):
        return sizes, seed, outputs, norm, "global", np.zeros(n), 10.0
    center = np.array(draw(st.lists(st.floats(-2, 2), min_size=n, max_size=n)))
    radius = draw(st.floats(0.05, 1.5))
    return sizes, seed, outputs, norm, Box(center, radius), center, radius


@SETTINGS
@given(cases())
def test_upper_bounds_dominate_exact_property(case):
    sizes, seed, outputs, norm, domain, center, radius = case
    net = random_network(sizes, outputs=outputs, seed=seed)
    c = np.arange(1.0, outputs + 1.0) * (-1.0) ** np.arange(outputs)
    exact = exact_lipschitz(net, center, radius, c, norm)
    local = lipsdp(net, norm, domain, c)
    glob = lipsdp(net, norm, domain, c, local=False)
    seq = seqlip(net, norm, domain, c)
    seq_glob = seqlip(net, norm, domain, c, local=False)
    tag = f"{sizes} seed {seed} {domain!r} {norm}: exact {exact!r}"
    for b in (local, glob, seq, seq_glob):
        assert b.sound and b.value >= exact, f"{tag}: {b!r}"
    # fixing the stable neurons can only tighten the bounds
    assert local.value <= glob.value * (1 + SOLVER_REL) + 1e-9, tag
    assert seq.value <= seq_glob.value * (1 + 1e-9), tag


# ---------------------------------------------------------------------- LipSDP closed forms


@pytest.mark.parametrize("norm", NORMS)
def test_lipsdp_exact_on_one_neuron(norm):
    """For ``v relu(w . x + b)`` LipSDP's optimum is ``rho = v^2 ||w||^2`` (at ``t = v^2``)."""
    w, v = np.array([0.6, -1.7, 0.3]), -2.5
    net = one_neuron(w, 0.2, v)
    expected = abs(v) * np.linalg.norm(w)
    for local in (True, False):
        b = lipsdp(net, norm, "global", local=local)
        assert b.info["l2"] == pytest.approx(expected, rel=1e-6)
        assert b.info["l2"] >= expected
        assert b.value == pytest.approx(expected * scale(norm, 3), rel=1e-6)
        assert b.info["scale"] == scale(norm, 3)


def test_lipsdp_local_on_stable_active_network_is_the_linear_map():
    """All neurons active on the box: ``c . f`` is linear there, with gradient
    ``W_1^T W_2^T W_out^T c``; LipSDP (local) returns its norm, the global LipSDP more."""
    rng = np.random.default_rng(5)
    W1, W2, W3 = rng.normal(size=(3, 2)), rng.normal(size=(2, 3)), rng.normal(size=(1, 2))
    b1 = np.abs(W1).sum(axis=1) + 1.0  # > |W1 x| on the box |x| <= 0.3
    b2 = np.abs(W2) @ (np.abs(W1) @ np.full(2, 0.3) + b1) + 1.0
    net = ReLUNetwork([W1, W2, W3], [b1, b2, np.zeros(1)])
    box = Box(np.zeros(2), 0.3)
    g = W1.T @ W2.T @ W3[0]
    b = lipsdp(net, "2", box)
    assert b.neurons["active"] == [3, 2]
    assert b.info["exact"] and b.sizes["multipliers"] == 0  # no SDP needed
    assert b.value == pytest.approx(np.linalg.norm(g), rel=1e-11)
    assert b.value >= np.linalg.norm(g)
    assert lipsdp(net, "inf", box).value == pytest.approx(np.sqrt(2) * np.linalg.norm(g))
    assert lipsdp(net, "2", box, local=False).value > 1.001 * np.linalg.norm(g)
    assert seqlip(net, "2", box).value >= np.linalg.norm(g)


def test_lipsdp_certificate_is_an_independent_valid_lmi():
    """Rebuild ``[A; B]^T Q [A; B] + blkdiag(-rho I, 0, w w^T)`` from the reported multipliers
    (original units) and check it is negative semidefinite, and that rho is tight for them."""
    net = random_network((3, 4, 3), outputs=2, seed=7)
    c = np.array([1.0, -1.0])
    b = lipsdp(net, "2", "global", (0, 1), local=False)
    rho, t = b.info["rho"], np.concatenate(b.info["multipliers"])
    assert np.all(t >= 0) and b.value == pytest.approx(np.sqrt(rho), rel=1e-11)
    n0, (n1, n2) = 3, net.hidden_sizes
    d = n0 + n1 + n2
    A = np.zeros((n1 + n2, d))
    A[:n1, :n0] = net.weights[0]
    A[n1:, n0 : n0 + n1] = net.weights[1]
    B = np.hstack([np.zeros((n1 + n2, n0)), np.eye(n1 + n2)])
    T = np.diag(t)
    Q = np.block([[np.zeros_like(T), T], [T, -2 * T]])  # slopes in [0, 1]
    AB = np.vstack([A, B])
    w = net.weights[-1].T @ c

    def lmi(r: float) -> np.ndarray:
        M = AB.T @ Q @ AB
        M[:n0, :n0] -= r * np.eye(n0)
        M[n0 + n1 :, n0 + n1 :] += np.outer(w, w)
        return M

    M = lmi(rho)
    assert np.linalg.eigvalsh(M)[-1] <= 1e-10 * np.linalg.norm(M)
    assert np.linalg.eigvalsh(lmi(rho * (1 - 1e-4)))[-1] > 0
    assert b.info["rho_solver"] == pytest.approx(rho, rel=1e-4)


def test_lipsdp_other_solver_and_constant_function():
    net = random_network((2, 3), seed=2)
    clarabel = lipsdp(net, "2", output=0)
    scs = lipsdp(net, "2", output=0, solver="scs")
    assert scs.info["solver"] == "SCS" and clarabel.info["solver"] == "CLARABEL"
    exact = exact_lipschitz(net, np.zeros(2), 10.0, [1.0], "2")
    assert scs.sound and scs.value >= exact
    assert scs.value == pytest.approx(clarabel.value, rel=1e-2)
    zero = ReLUNetwork([np.ones((2, 2)), np.zeros((1, 2))], [np.zeros(2), np.ones(1)])
    b = lipsdp(zero, "inf")
    assert b.value == 0.0 and b.sound
    # the second layer is dead on the box: c . f is constant there
    W = [np.eye(2), np.ones((2, 2)), np.ones((1, 2))]
    dead = ReLUNetwork(W, [np.zeros(2), np.full(2, -100.0), np.zeros(1)])
    assert exact_lipschitz(dead, np.zeros(2), 1.0, [1.0], "2") == 0.0
    assert lipsdp(dead, "2", Box(np.zeros(2), 1.0)).value == 0.0
    assert seqlip(dead, "2", Box(np.zeros(2), 1.0)).value < 1e-12


def test_lipsdp_uncertified_is_flagged(monkeypatch):
    """When the eigenvalue check cannot pass (an absurd rounding margin), every retry fails
    and the solver's value comes back flagged: status "inaccurate", sound False."""
    net = random_network((2, 3), seed=1)
    good = lipsdp(net, "2", output=0)
    monkeypatch.setattr(sdp, "_eig_margin", lambda *args: 1e9)
    b = lipsdp(net, "2", output=0)
    assert b.status == "inaccurate" and b.sound is False and b.kind == "upper"
    assert len(b.info["attempts"]) == sdp.LIPSDP_SOLVES
    assert all(a["reason"] == "eigenvalue check failed" for a in b.info["attempts"])
    assert "multipliers" not in b.info
    assert b.value == pytest.approx(good.value, rel=1e-3)


# ---------------------------------------------------------------------- SeqLip closed forms


def test_seqlip_scalar_chain_is_the_product_of_norms():
    """With 1-D layers every matrix is its own singular value: SeqLip is ``|2 * 3 * 0.5|``,
    the product of the spectral norms, and also the exact constant (all neurons can be on)."""
    net = ReLUNetwork([[[2.0]], [[-3.0]], [[0.5]]], [[1.0], [4.0], [0.0]])
    b = seqlip(net, "1", output=0, local=False)
    assert b.value == pytest.approx(3.0, rel=1e-10) and b.value >= 3.0
    assert b.info["factors"] == pytest.approx([2 * np.sqrt(3), 0.5 * np.sqrt(3)], rel=1e-10)
    assert exact_lipschitz(net, [0.0], 10.0, [1.0], "1") == pytest.approx(3.0)


def test_seqlip_diagonal_example_by_hand():
    """``W1 = diag(3, 1)``, ``W2 = diag(2, 5)``, ``w = (1, 1)``: the factors are
    ``max(3 sqrt(2), sqrt(5))`` (layer 1) and ``sqrt(2 + 5)`` (layer 2), so SeqLip is
    ``sqrt(126)``, between the exact ``sqrt(6^2 + 5^2)`` and the naive ``3 * 5 * sqrt(2)``."""
    W = [np.diag([3.0, 1.0]), np.diag([2.0, 5.0]), np.array([[1.0, 1.0]])]
    net = ReLUNetwork(W, [np.zeros(2), np.zeros(2), np.zeros(1)])
    b = seqlip(net, "2", output=0)
    assert b.info["modes"] == ["exact", "exact"]
    assert b.info["factors"] == pytest.approx([3 * np.sqrt(2), np.sqrt(7)], rel=1e-10)
    assert b.value == pytest.approx(np.sqrt(126), rel=1e-10)
    exact = exact_lipschitz(net, np.zeros(2), 10.0, [1.0], "2")
    assert exact == pytest.approx(np.sqrt(61))
    assert exact < b.value < 15 * np.sqrt(2)
    assert seqlip(net, "inf", output=0).value == pytest.approx(np.sqrt(2 * 126), rel=1e-10)


def test_seqlip_one_hidden_layer_is_max_over_patterns():
    """One hidden layer: SeqLip is ``max_sigma ||W_1^T diag(sigma) w||_2`` (brute force)."""
    net = random_network((3, 6), outputs=1, seed=11)
    w = net.weights[-1][0]
    best = max(
        np.linalg.norm(net.weights[0].T @ (np.array(bits) * w)) for bits in np.ndindex(*(2,) * 6)
    )
    assert seqlip(net, "2", local=False).value == pytest.approx(best, rel=1e-10)


def test_seqlip_greedy_flips_neurons():
    """``w = (1, -1)`` on two copies of ``relu(x)``: all ones cancel (norm 0), one flip gives 1."""
    net = ReLUNetwork([np.ones((2, 1)), np.array([[1.0, -1.0]])], [np.zeros(2), np.zeros(1)])
    greedy = seqlip(net, "2", exact_limit=0, local=False)
    exact = seqlip(net, "2", local=False)
    assert greedy.info["modes"] == ["greedy"] and exact.info["modes"] == ["exact"]
    assert greedy.value == pytest.approx(1.0, rel=1e-10)
    assert exact.value == pytest.approx(1.0, rel=1e-10)


def test_seqlip_greedy_is_flagged_and_below_exact_mode():
    net = random_network((3, 6, 5), outputs=2, seed=4)
    exact_mode = seqlip(net, "2", output=1)
    greedy = seqlip(net, "2", output=1, exact_limit=0)
    assert exact_mode.sound and exact_mode.kind == "upper"
    assert greedy.kind == "estimate" and not greedy.sound and greedy.status == "heuristic"
    assert greedy.info["modes"] == ["greedy", "greedy"] and "heuristic" in greedy.info["note"]
    assert greedy.value <= exact_mode.value * (1 + 1e-12)
    for g, e in zip(greedy.info["factors"], exact_mode.info["factors"]):
        assert g <= e * (1 + 1e-12)
    # a layer whose neurons are all stable is exact even with exact_limit=0
    stable = ReLUNetwork([np.eye(2), np.ones((1, 2))], [np.full(2, 5.0), np.zeros(1)])
    b = seqlip(stable, "2", Box(np.zeros(2), 0.5), exact_limit=0)
    assert b.sound and b.info["free_neurons"] == [0]
    assert b.value == pytest.approx(np.sqrt(2), rel=1e-10)


# ---------------------------------------------------------------------- CLEVER


def test_weibull_fit_recovers_a_known_location():
    for shape, loc, spread, size in [(3.0, 2.0, 1.0, 500), (1.5, 5.0, 0.3, 300)]:
        x = stats.weibull_max.rvs(shape, loc=loc, scale=spread, size=size, random_state=0)
        fit = fit_reverse_weibull(x)
        assert fit["pvalue"] > 0.01
        assert fit["loc"] >= x.max()
        assert fit["loc"] == pytest.approx(loc, rel=0.05)


def test_clever_on_a_1d_network():
    """``f(x) = 3 relu(x) - 5 relu(x - 1) + relu(x + 1)`` has slopes 0, 1, 4, -1: constant 4
    on ``[-3, 3]``; batches of 4 points often miss the slope-4 interval ``[0, 1]``."""
    W = [np.array([[1.0], [1.0], [1.0]]), np.array([[3.0, -5.0, 1.0]])]
    net = ReLUNetwork(W, [np.array([0.0, -1.0, 1.0]), np.array([0.5])])
    box = Box([0.0], 3.0)
    b = clever(net, "inf", box, batches=200, batch_size=4, seed=1)
    assert b.kind == "estimate" and b.sound is False and b.method == "clever"
    assert "not a bound" in b.info["note"]
    observed = b.info["max_observed"]
    assert observed == pytest.approx(4.0)  # a sampled gradient: never above the constant
    assert observed <= b.value <= 1.2 * 4.0
    assert np.isfinite(b.info["pvalue"]) or b.status == "fallback"
    again = clever(net, "inf", box, batches=200, batch_size=4, seed=1)
    assert again.value == b.value and again.status == b.status
    # every batch maximum is a gradient norm: the value set is {0, 1, 4}
    maxima = bl.batch_maxima(net, box, np.ones(1), "inf", 100, 4, np.random.default_rng(0))
    assert set(np.unique(maxima)) <= {0.0, 1.0, 4.0} and 1.0 in maxima and 4.0 in maxima


def test_clever_uses_the_fit_or_falls_back(monkeypatch):
    net = random_network((2, 3), seed=0)
    x = stats.weibull_max.rvs(2.0, loc=3.0, scale=0.5, size=300, random_state=2)
    monkeypatch.setattr(bl, "batch_maxima", lambda *args: x)
    monkeypatch.setattr(bl, "fastlip_bound", lambda *args: np.inf)  # these maxima are synthetic
    b = clever(net, "2", batches=300)
    assert b.status == "optimal" and "fallback" not in b.info
    assert b.value == pytest.approx(b.info["location"]) and b.value >= x.max()
    assert b.value == pytest.approx(3.0, rel=0.05)
    # a location below the largest maximum is rejected in favour of that maximum
    monkeypatch.setattr(bl, "fit_reverse_weibull", lambda m: {"loc": 2.9, "pvalue": 0.5})
    b = clever(net, "2", batches=300)
    assert b.status == "fallback" and b.value == x.max() and "below" in b.info["fallback"]
    monkeypatch.setattr(bl, "fit_reverse_weibull", lambda m: {"loc": 3.5, "pvalue": 1e-5})
    b = clever(net, "2", batches=300)
    assert b.status == "fallback" and b.value == x.max() and "p-value" in b.info["fallback"]


def test_clever_is_close_on_a_small_network():
    net = random_network((2, 4), seed=3)
    exact = exact_lipschitz(net, [0.1, -0.2], 0.5, [1.0], "1")
    b = clever(net, "1", Box([0.1, -0.2], 0.5), batches=40, batch_size=256, seed=0)
    assert b.info["max_observed"] <= exact * (1 + 1e-12)
    assert b.info["max_observed"] <= b.value <= 1.2 * exact
    assert b.neurons["unstable"] and b.seconds > 0


# ---------------------------------------------------------------------- bad input


def test_bad_inputs_raise():
    net = random_network((2, 3), outputs=2, seed=0)
    for f in (lipsdp, seqlip, clever):
        with pytest.raises(TypeError, match="ReLUNetwork"):
            f([np.eye(2)], output=0)
        with pytest.raises(ValueError, match="norm"):
            f(net, norm="3", output=0)
        with pytest.raises(ValueError, match="outputs"):
            f(net)  # two outputs, no functional chosen
        with pytest.raises(ValueError, match="dimension"):
            f(net, domain=Box(np.zeros(3), 1.0), output=0)
    with pytest.raises(ValueError, match="solver"):
        lipsdp(net, output=0, solver="gurobi-ish")
    with pytest.raises(ValueError, match="solver"):
        lipsdp(net, output=0, solver="OSQP")  # installed but no SDP
    with pytest.raises(TypeError, match="solver"):
        lipsdp(net, output=0, solver=3)
    with pytest.raises(TypeError, match="local"):
        lipsdp(net, output=0, local="yes")
    with pytest.raises(TypeError, match="local"):
        seqlip(net, output=0, local=None)
    with pytest.raises(ValueError, match="exact_limit"):
        seqlip(net, output=0, exact_limit=-1)
    with pytest.raises(ValueError, match="exact_limit"):
        seqlip(net, output=0, exact_limit=40)
    with pytest.raises(TypeError, match="exact_limit"):
        seqlip(net, output=0, exact_limit=2.5)
    with pytest.raises(ValueError, match="batches"):
        clever(net, output=0, batches=0)
    with pytest.raises(ValueError, match="batch_size"):
        clever(net, output=0, batch_size=-3)
    with pytest.raises(TypeError, match="batches"):
        clever(net, output=0, batches=1.5)
    with pytest.raises(TypeError, match="seed"):
        clever(net, output=0, seed="a")


def test_clever_rejects_a_location_above_fastlip(monkeypatch):
    """A diverged fit (location above a valid upper bound) falls back to the observed max."""
    net = random_network((2, 3), seed=0)
    x = np.linspace(0.1, 0.2, 300)
    ceiling = upper_bound(net, method="fastlip", norm="2").value
    monkeypatch.setattr(bl, "batch_maxima", lambda *args: x)
    monkeypatch.setattr(bl, "fit_reverse_weibull", lambda m: {"loc": 2 * ceiling, "pvalue": 0.5})
    b = clever(net, "2", batches=300)
    assert b.status == "fallback" and b.value == x.max() and "FastLip" in b.info["fallback"]
