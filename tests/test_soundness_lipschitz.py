"""Upper bounds that claim soundness stay above the true Lipschitz constant under floating-point
cancellation, underflow and extreme scales; bad input is refused with a clear error."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from enumeration import regions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lipschitz as lp
from lipschitz.baselines import fastlip_bound, naive_bound
from lipschitz.spec import Box

# ---------------------------------------------------------------------- exact reference


def _exact_gradient(net, x, c) -> list[Fraction]:
    """The gradient of ``c . net`` at ``x`` in rational arithmetic (pattern included)."""
    a = [Fraction(float(v)) for v in x]
    masks = []
    for W, b in zip(net.weights[:-1], net.biases[:-1]):
        z = [
            sum((Fraction(float(w)) * v for w, v in zip(row, a)), Fraction(float(bj)))
            for row, bj in zip(W, b)
        ]
        masks.append([zj > 0 for zj in z])
        a = [max(zj, Fraction(0)) for zj in z]
    g = [
        sum(Fraction(float(W_ij)) * Fraction(float(ci)) for W_ij, ci in zip(col, c))
        for col in np.asarray(net.weights[-1]).T
    ]
    for k in range(net.depth - 1, -1, -1):
        g = [gj if on else Fraction(0) for gj, on in zip(g, masks[k])]
        W = np.asarray(net.weights[k])
        g = [
            sum(Fraction(float(W[j, i])) * g[j] for j in range(W.shape[0]))
            for i in range(W.shape[1])
        ]
    return g


def _dual(g: list[Fraction], norm: str) -> Fraction:
    """The dual norm, squared for the l2 norm (compared as squares)."""
    if norm == "inf":
        return sum((abs(v) for v in g), Fraction(0))
    if norm == "1":
        return max(abs(v) for v in g)
    return sum((v * v for v in g), Fraction(0))


def exact_constant(net, center, radius, c, norm) -> Fraction:
    """The Lipschitz constant by region enumeration, each region's gradient in rationals (the
    square of the constant for the l2 norm)."""
    _, points = regions(net, center, radius, c)
    return max(_dual(_exact_gradient(net, x, c), norm) for x in points)


def assert_above(value: float, truth: Fraction, norm: str, what: str) -> None:
    v = Fraction(float(value))
    assert np.isfinite(value), f"{what}: {value}"
    if norm == "2":
        assert v * v >= truth, f"{what}: {value} below the true constant {float(truth) ** 0.5}"
    else:
        assert v >= truth, f"{what}: {value} below the true constant {float(truth)}"


def sound_bounds(net, domain, norm, output=None):
    """Every upper bound that claims soundness, by name."""
    box = lp.Box(*domain)
    c = np.ones(1) if output is None else np.asarray(output, float)
    runs = {
        "fastlip": lambda: lp.upper_bound(net, method="fastlip", norm=norm, domain=domain),
        "naive": lambda: lp.upper_bound(net, method="naive", norm=norm, domain=domain),
        "shor": lambda: lp.upper_bound(net, method="shor", norm=norm, domain=domain),
        "hr-1": lambda: lp.upper_bound(net, method="hr", order=1, norm=norm, domain=domain),
        "hr-2": lambda: lp.upper_bound(net, method="hr", order=2, norm=norm, domain=domain),
        "lipsdp": lambda: lp.lipsdp(net, norm=norm, domain=domain),
    }
    if norm != "2":
        runs["lipopt"] = lambda: lp.lipopt(net, norm=norm, domain=domain)
    out = {}
    for name, fn in runs.items():
        r = fn()
        if r.sound:
            out[name] = r.value
    out["naive_bound"] = naive_bound(net, c, norm)
    out["fastlip_bound"] = fastlip_bound(net, box, c, norm)
    return out


# ---------------------------------------------------------------------- cancellation


def cancellation_net(order):
    """``f(x) = 1e3 (1e3 (1e3 x) - 1e3 (1e3 x) + 1) + 1e-3 (1e-3 (1e-3 x) + 1)`` on
    ``[0.5, 1.5]``: slope ``fl(1e-3)^3``, while its gradient sums ``1e9 + 1e-9 - 1e9``."""
    W1 = np.array([[1e3], [1e-3], [1e3]])[order]
    W2 = np.array([[1e3, 0.0, -1e3], [0.0, 1e-3, 0.0]])[:, order]
    W3 = np.array([[1e3, 1e-3]])
    return lp.ReLUNetwork([W1, W2, W3], [np.zeros(3), np.ones(2), np.zeros(1)])


@pytest.mark.parametrize("order", [[0, 1, 2], [1, 0, 2], [0, 2, 1]])
def test_cancellation_every_method_above_the_closed_form(order):
    net = cancellation_net(order)
    truth = Fraction(1e-3) ** 3  # the only path through the small weights; the others cancel
    assert exact_constant(net, [1.0], [0.5], np.ones(1), "inf") == truth
    for name, value in sound_bounds(net, ([1.0], 0.5), "inf").items():
        assert_above(value, truth, "inf", name)


# ---------------------------------------------------------------------- underflow


def tiny_net():
    """Weights 1e-200: the constant 1e-400 (plus a second path) is below the smallest float."""
    W1 = np.array([[1e-200], [2e-200]])
    W2 = np.array([[1e-200, 1e-200]])
    return lp.ReLUNetwork([W1, W2], [np.ones(2), np.zeros(1)])


def test_tiny_weights_do_not_round_to_a_zero_bound():
    net = tiny_net()
    dom = ([0.0], 1.0)
    values = sound_bounds(net, dom, "inf")
    for name in ("shor", "hr-1", "hr-2", "lipsdp", "lipopt", "naive_bound", "fastlip_bound"):
        assert values[name] > 0.0, name
    for norm in ("1", "2"):
        assert naive_bound(net, np.ones(1), norm) > 0.0
        assert fastlip_bound(net, lp.Box(*dom), np.ones(1), norm) > 0.0


@pytest.mark.parametrize("method", ["fastlip", "naive"])
def test_tiny_weights_closed_form_methods(method):
    r = lp.upper_bound(tiny_net(), method=method, domain=([0.0], 1.0))
    assert r.value > 0.0


def test_l2_dual_norm_of_tiny_vector():
    assert lp.dual_norm(np.array([3e-200, 4e-200]), "2") == pytest.approx(5e-200, rel=1e-15)


# ---------------------------------------------------------------------- extreme scales


def scaled_net(scale, seed=0):
    rng = np.random.default_rng(seed)
    sizes = (2, 3, 3, 1)
    Ws = [rng.normal(size=(sizes[i + 1], sizes[i])) * scale for i in range(3)]
    bs = [rng.normal(size=sizes[i + 1]) for i in range(3)]
    return lp.ReLUNetwork(Ws, bs)


def test_large_weights_give_sound_bounds():
    net = scaled_net(1e6)
    dom = (np.zeros(2), 1.0)
    truth = exact_constant(net, np.zeros(2), np.ones(2), np.ones(1), "inf")
    for name, value in sound_bounds(net, dom, "inf").items():
        assert_above(value, truth, "inf", name)


def test_huge_domain_is_refused_or_bounded():
    net = scaled_net(1.0)
    dom = (np.zeros(2), 1e200)
    for method in ("shor", "hr"):
        with pytest.raises(ValueError, match="overflow"):
            lp.upper_bound(net, method=method, domain=dom)
    lower = lp.lower_bound(net, domain=dom).value
    for value in (
        lp.upper_bound(net, method="fastlip", domain=dom).value,
        lp.lipsdp(net, domain=dom).value,
        lp.lipopt(net, domain=dom).value,
    ):
        assert np.isfinite(value) and value >= lower
    with pytest.raises(ValueError, match="overflow"):
        Box(np.full(2, 1e308), 1e308)


# ---------------------------------------------------------------------- bad input


def test_complex_weights_are_refused():
    W = np.ones((2, 2)) * (1 + 1e-3j)
    with pytest.raises(TypeError, match=r"weights\[0\] is complex"):
        lp.ReLUNetwork([W, np.ones((1, 2))], [np.zeros(2), np.zeros(1)])
    with pytest.raises(TypeError, match=r"biases\[1\] is complex"):
        lp.ReLUNetwork([np.ones((2, 2)), np.ones((1, 2))], [np.zeros(2), np.array([1j])])


def test_complex_torch_weights_are_refused():
    torch = pytest.importorskip("torch")
    lin = torch.nn.Linear(2, 2, dtype=torch.complex128)
    model = torch.nn.Sequential(lin, torch.nn.ReLU(), torch.nn.Linear(2, 1, dtype=torch.complex128))
    with pytest.raises(TypeError, match="complex"):
        lp.ReLUNetwork.from_torch(model)


def test_weights_are_read_only_and_checked_at_use():
    net = cancellation_net([0, 1, 2])
    with pytest.raises(ValueError, match="read-only"):
        net.weights[0][0, 0] = np.nan
    with pytest.raises(ValueError, match="read-only"):
        net.biases[1][0] = np.inf
    net.weights[1] = np.array([[1e3, np.nan, -1e3], [0.0, 1e-3, 0.0]])
    dom = ([1.0], 0.5)
    calls = [
        lambda: lp.upper_bound(net, method="fastlip", domain=dom),
        lambda: lp.upper_bound(net, method="naive", domain=dom),
        lambda: lp.upper_bound(net, method="shor", domain=dom),
        lambda: lp.lipsdp(net, domain=dom),
        lambda: lp.lipopt(net, domain=dom),
        lambda: naive_bound(net, np.ones(1), "inf"),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=r"weights\[1\] contains NaN"):
            call()


# ---------------------------------------------------------------------- property


@st.composite
def small_problems(draw):
    n = draw(st.integers(2, 3))
    hidden = draw(st.lists(st.integers(2, 4), min_size=1, max_size=2))
    sizes = (n, *hidden, 1)
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    exps = draw(st.lists(st.floats(-12.0, 6.0), min_size=len(sizes) - 1, max_size=len(sizes) - 1))
    Ws = [rng.normal(size=(sizes[k + 1], sizes[k])) * 10.0**e for k, e in enumerate(exps)]
    scale = 1.0
    bs = []
    for k, e in enumerate(exps):  # biases on the scale of the pre-activations
        scale *= 10.0**e
        bs.append(rng.normal(size=sizes[k + 1]) * scale * 0.5)
    center = rng.uniform(-1.0, 1.0, size=n)
    radius = float(rng.uniform(0.1, 2.0))
    norm = draw(st.sampled_from(["inf", "1", "2"]))
    return lp.ReLUNetwork(Ws, bs), center, radius, norm


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(small_problems())
def test_sound_bounds_never_below_the_exact_constant(problem):
    net, center, radius, norm = problem
    truth = exact_constant(net, center, np.full(center.size, radius), np.ones(1), norm)
    for name, value in sound_bounds(net, (center, radius), norm).items():
        assert_above(value, truth, norm, name)


@pytest.mark.parametrize("order", [True, 1.0, 2.0])
def test_hr_order_must_be_an_integer(order):
    net = cancellation_net([0, 1, 2])
    with pytest.raises(ValueError, match="order"):
        lp.upper_bound(net, method="hr", order=order, domain=([1.0], 0.5))
