"""Lipschitz bounds of ReLU networks against exact constants by region enumeration.

The reference (``tests/enumeration.py``) enumerates the activation regions of tiny networks
with LPs and never calls lipschitz's bound code. Every lower bound must lie below it and every
upper bound (HR-2, HR-1, Shor, FastLip, naive) above it; HR-2 contains Shor's constraints, so
it is at least as tight.
"""

from __future__ import annotations

import numpy as np
import pytest
from enumeration import box_of, dual, exact_lipschitz, forward, functional, regions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import output_spec

import lipschitz
from lipschitz import Box, lower_bound, random_network, upper_bound

SETTINGS = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
NORMS = ("inf", "1", "2")
LOWER_SLACK = 1e-9
SDP_REL, SDP_ABS = 1e-6, 1e-7  # solver tolerance on an SDP upper bound
HR_SHOR_REL, HR_SHOR_ABS = 1e-5, 1e-6


# ---------------------------------------------------------------------- helpers


def gradients_at(net, X: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Chain-rule gradients of ``c . net`` at a batch ``X`` (ReLU'(z) = [z > 0]), plain numpy."""
    masks, a = [], np.atleast_2d(np.asarray(X, float))
    for W, b in zip(net.weights[:-1], net.biases[:-1]):
        z = a @ W.T + b
        masks.append((z > 0).astype(float))
        a = np.maximum(z, 0.0)
    g = np.broadcast_to(net.weights[-1].T @ c, a.shape)
    for W, m in zip(net.weights[-2::-1], masks[::-1]):
        g = (m * g) @ W
    return g


def gradient_at(net, x: np.ndarray, c: np.ndarray) -> np.ndarray:
    return gradients_at(net, x, c)[0]


def all_upper(net, **kw) -> dict[str, lipschitz.LipschitzBound]:
    return {
        "hr-2": upper_bound(net, order=2, **kw),
        "hr-1": upper_bound(net, order=1, **kw),
        "shor": upper_bound(net, method="shor", **kw),
        "fastlip": upper_bound(net, method="fastlip", **kw),
        "naive": upper_bound(net, method="naive", **kw),
    }


def check_bracket(net, exact: float, lower, uppers, tag: str) -> list[str]:
    """Every violated inequality between the bounds and the exact constant, as text."""
    bad = []
    if not lower.value <= exact + LOWER_SLACK:
        bad.append(f"lower {lower.value!r} > exact {exact!r}")
    for name, b in uppers.items():
        sdp = name in ("hr-2", "hr-1", "shor")
        slack = exact - (b.value * (1 + SDP_REL) + SDP_ABS if sdp else b.value)
        if not slack <= 0:  # also catches nan
            bad.append(f"{name} {b.value!r} < exact {exact!r} (status {b.status})")
    hr2, shor = uppers["hr-2"].value, uppers["shor"].value
    if not hr2 <= shor * (1 + HR_SHOR_REL) + HR_SHOR_ABS:
        bad.append(
            f"hr-2 {hr2!r} > shor {shor!r} (statuses {uppers['hr-2'].status}, "
            f"{uppers['shor'].status})"
        )
    return [f"{tag}: {msg}" for msg in bad]


def check_flags(uppers, tag: str) -> list[str]:
    """Every SDP result that failed (status neither "optimal" nor "inaccurate") or whose value
    is not certified (an "inaccurate" solve still yields a certified bound)."""
    bad = []
    for name in ("hr-2", "hr-1", "shor"):
        b = uppers.get(name)
        if b is None:
            continue
        if b.status not in ("optimal", "inaccurate"):
            bad.append(f"{name} status {b.status!r} (value {b.value!r})")
        if b.sound is not True:
            bad.append(f"{name} not sound (value {b.value!r}, status {b.status!r})")
    return [f"{tag}: {msg}" for msg in bad]


# ---------------------------------------------------------------------- the reference itself


def test_enumeration_matches_dense_sampling_1d():
    """f(x) = 3 relu(x) - 5 relu(x - 1) + relu(x + 1): slopes 0, 1, 4, -1 on the line."""
    W = [np.array([[1.0], [1.0], [1.0]]), np.array([[3.0, -5.0, 1.0]])]
    b = [np.array([0.0, -1.0, 1.0]), np.array([0.5])]
    net = lipschitz.ReLUNetwork(W, b)
    for center, radius, expected in [
        (0.0, 3.0, 4.0),
        (2.0, 0.5, 1.0),
        (-0.5, 0.4, 1.0),
        (-1.5, 0.4, 0.0),
    ]:
        xs = np.linspace(center - radius, center + radius, 200_001)[:, None]
        ys = forward(net, xs)[:, 0]
        slopes = np.abs(np.diff(ys)) / np.diff(xs[:, 0])
        for norm in NORMS:  # in 1-D every norm is |.|
            ex = exact_lipschitz(net, [center], radius, [1.0], norm)
            assert ex == pytest.approx(expected, abs=1e-12)
            assert slopes.max() == pytest.approx(ex, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("sizes", [(2, 3), (2, 4, 3), (2, 2, 2, 2)])
def test_enumeration_matches_dense_sampling_2d(sizes):
    net = random_network(sizes, outputs=2, seed=3)
    c = np.array([1.0, -1.0])
    rng = np.random.default_rng(1)
    for center, radius in [(np.zeros(2), 10.0), (np.array([0.3, -0.2]), 0.7)]:
        grads, points = regions(net, center, radius, c)
        # every region's point is inside the box and has the region's gradient (central
        # differences of the plain forward pass: the point is interior to its region)
        assert np.all(np.abs(points - center) <= radius)
        h = 1e-7
        for g, p in zip(grads, points):
            fd = [
                (forward(net, p + h * e) - forward(net, p - h * e)) @ c / (2 * h) for e in np.eye(2)
            ]
            assert np.allclose(fd, g, atol=1e-5)
        # every sampled point's gradient is one of the regions' (no region is missed), and
        # the sampled dual norms approach the exact constant from below
        X = center + radius * rng.uniform(-1, 1, size=(20_000, 2))
        sampled = gradients_at(net, X, c)
        dist = np.abs(sampled[:, None, :] - grads[None, :, :]).max(axis=2).min(axis=1)
        assert dist.max() < 1e-12
        # difference quotients of the forward pass, far and near pairs, stay below it
        Y = np.vstack(
            [
                center + radius * rng.uniform(-1, 1, size=(10_000, 2)),
                X[10_000:] + 1e-3 * radius * rng.uniform(-1, 1, size=(10_000, 2)),
            ]
        )
        Y = np.clip(Y, center - radius, center + radius)
        df = np.abs((forward(net, X) - forward(net, Y)) @ c)
        for norm in NORMS:
            ex = exact_lipschitz(net, center, radius, c, norm)
            best = max(dual(g, norm) for g in np.unique(sampled, axis=0))
            assert best <= ex + 1e-12
            assert best >= ex * (1 - 1e-9) - 1e-12
            p = {"inf": np.inf, "1": 1, "2": 2}[norm]
            quotients = df / np.linalg.norm(X - Y, ord=p, axis=1)
            assert quotients.max() <= ex * (1 + 1e-9) + 1e-12
            assert quotients.max() >= 0.5 * ex


# ---------------------------------------------------------------------- property tests


@st.composite
def cases(draw, sizes_pool):
    sizes = draw(st.sampled_from(sizes_pool))
    n = sizes[0]
    seed = draw(st.integers(0, 10_000))
    outputs = draw(st.integers(1, 3))
    output = draw(output_spec(outputs))
    norm = draw(st.sampled_from(NORMS))
    where = draw(st.sampled_from(["global", "box", "tuple"]))
    if where == "global":
        domain = "global"
    else:
        center = np.array(draw(st.lists(st.floats(-2, 2), min_size=n, max_size=n)))
        radius = draw(st.floats(0.1, 2.0))
        domain = Box(center, radius) if where == "box" else (center, radius)
    return sizes, seed, outputs, output, norm, domain


def _describe(case) -> str:
    sizes, seed, outputs, output, norm, domain = case
    return (
        f"random_network({sizes}, outputs={outputs}, seed={seed}), norm={norm!r}, "
        f"domain={domain!r}, output={output!r}"
    )


def _bracket_case(case):
    sizes, seed, outputs, output, norm, domain = case
    net = random_network(sizes, outputs=outputs, seed=seed)
    center, radius = box_of(domain, sizes[0])
    c = functional(output, outputs)
    exact = exact_lipschitz(net, center, radius, c, norm)
    kw = dict(norm=norm, domain=domain, output=output)
    lower = lower_bound(net, samples=5000, **kw)
    uppers = all_upper(net, **kw)
    tag = f"{_describe(case)}, exact={exact!r}"
    problems = check_bracket(net, exact, lower, uppers, tag)
    # the neuron counts of every result add up to the hidden layer sizes
    for b in uppers.values():
        parts = [b.neurons[k] for k in ("active", "inactive", "unstable")]
        if tuple(sum(v) for v in zip(*parts)) != net.hidden_sizes:
            problems.append(f"{tag}: {b.method} neurons {b.neurons} vs {net.hidden_sizes}")
    assert not problems, "\n".join(problems)


SHALLOW = [(2, 3), (3, 4), (1, 5), (2, 6)]
DEEP = [(2, 3, 2), (2, 2, 3), (2, 2, 2, 2), (1, 3, 2, 2)]


@SETTINGS
@given(cases(SHALLOW))
def test_bounds_bracket_exact_one_hidden_layer(case):
    _bracket_case(case)


@SETTINGS
@given(cases(DEEP))
def test_bounds_bracket_exact_deep(case):
    _bracket_case(case)


@SETTINGS
@given(cases(SHALLOW + DEEP))
def test_sdp_status_optimal_and_sound(case):
    """Every SDP bound on these tiny networks should be solved to "optimal" and certified."""
    sizes, seed, outputs, output, norm, domain = case
    net = random_network(sizes, outputs=outputs, seed=seed)
    kw = dict(norm=norm, domain=domain, output=output)
    uppers = {
        "hr-2": upper_bound(net, order=2, **kw),
        "hr-1": upper_bound(net, order=1, **kw),
        "shor": upper_bound(net, method="shor", **kw),
    }
    problems = check_flags(uppers, _describe(case))
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------- deterministic tests


def hand_network() -> lipschitz.ReLUNetwork:
    """f(x) = relu(x1 + x2) + relu(x1 - x2) / 2.

    Regions around 0: x1 > |x2| (both on) gradient (3/2, 1/2); x2 > |x1| (first on) (1, 1);
    x2 < -|x1| (second on) (1/2, -1/2); x1 < -|x2| (both off) 0. Lipschitz constants:
    l_inf input (l1 of the gradient) 2, l1 input (l_inf) 3/2, l2 input sqrt(5/2).
    """
    W = [np.array([[1.0, 1.0], [1.0, -1.0]]), np.array([[1.0, 0.5]])]
    b = [np.zeros(2), np.array([0.25])]
    return lipschitz.ReLUNetwork(W, b)


HAND_EXACT = {"inf": 2.0, "1": 1.5, "2": np.sqrt(2.5)}


@pytest.mark.parametrize("norm", NORMS)
def test_closed_form_network(norm):
    net = hand_network()
    expected = HAND_EXACT[norm]
    for domain in ["global", (np.array([0.2, -0.1]), 1.0)]:
        center, radius = box_of(domain, 2)
        exact = exact_lipschitz(net, center, radius, [1.0], norm)
        assert exact == pytest.approx(expected, rel=1e-12)
        lower = lower_bound(net, norm=norm, domain=domain)
        uppers = all_upper(net, norm=norm, domain=domain)
        problems = check_bracket(net, exact, lower, uppers, f"hand network, {domain!r}")
        assert not problems, "\n".join(problems)
        # the maximizing regions are wide: sampling finds them
        assert lower.value == pytest.approx(expected, rel=1e-12)
    # in the box x1 > |x2| only the "both on" region is left: every method is exact
    box = (np.array([1.0, 0.2]), 0.1)
    exact = dual(np.array([1.5, 0.5]), norm)
    assert exact_lipschitz(net, *box, [1.0], norm) == pytest.approx(exact, rel=1e-12)
    uppers = all_upper(net, norm=norm, domain=box)
    for name in ("hr-2", "hr-1", "shor", "fastlip"):
        assert uppers[name].value == pytest.approx(exact, rel=1e-9), name
        assert uppers[name].unstable == 0
    assert lower_bound(net, norm=norm, domain=box).value == pytest.approx(exact, rel=1e-12)


def test_search_not_worse_than_sampling():
    net = random_network((10, 20), outputs=1, seed=4)
    for norm in NORMS:
        samp = lower_bound(net, method="sampling", norm=norm, samples=2000, seed=1)
        search = lower_bound(net, method="search", norm=norm, samples=2000, seed=1)
        best = lower_bound(net, method="best", norm=norm, samples=2000, seed=1)
        assert search.value >= samp.value
        assert best.value == max(search.value, samp.value)
        # the reported argmax has a gradient of that dual norm
        for b in (samp, search, best):
            g = gradient_at(net, b.info["argmax"], np.ones(1))
            assert dual(g, norm) == pytest.approx(b.value, rel=1e-12)
            assert np.all(np.abs(b.info["argmax"]) <= 10.0)


def test_search_strictly_better_somewhere():
    gains = []
    for seed in range(4):
        net = random_network((20, 20), outputs=1, seed=seed)
        samp = lower_bound(net, method="sampling", samples=500, seed=seed)
        search = lower_bound(net, method="search", samples=500, seed=seed)
        assert search.value >= samp.value
        gains.append(search.value - samp.value)
    assert max(gains) > 1e-6, gains


def _stable_point(net, rng, margin: float) -> np.ndarray:
    """A point whose every pre-activation is at least ``margin`` away from 0."""
    X = rng.uniform(-1, 1, size=(5000, net.input_dim))
    zs = net.preactivations(X)
    gap = np.min(np.hstack([np.abs(z) for z in zs]), axis=1)
    i = int(gap.argmax())
    assert gap[i] > margin
    return X[i]


@pytest.mark.parametrize("sizes", [(3, 5), (2, 4, 3), (4, 3, 3, 2)])
@pytest.mark.parametrize("norm", NORMS)
def test_all_stable_box_is_exact(sizes, norm):
    net = random_network(sizes, outputs=2, seed=7)
    x0 = _stable_point(net, np.random.default_rng(0), margin=0.02)
    c = np.array([1.0, -1.0])
    domain = (x0, 1e-3)
    g = gradient_at(net, x0, c)
    exact = dual(g, norm)
    assert exact_lipschitz(net, x0, 1e-3, c, norm) == pytest.approx(exact, rel=1e-12)
    kw = dict(norm=norm, domain=domain, output=(0, 1))
    uppers = all_upper(net, **kw)
    for name in ("hr-2", "hr-1", "shor", "fastlip"):
        b = uppers[name]
        assert b.value == pytest.approx(exact, rel=1e-9), name
        assert b.unstable == 0, name
        assert b.status == "optimal" and b.sound, name
        active, inactive = b.neurons["active"], b.neurons["inactive"]
        assert [a + i for a, i in zip(active, inactive)] == list(net.hidden_sizes)
    # naive ignores the domain: it is only an upper bound
    assert uppers["naive"].value >= exact
    assert lower_bound(net, **kw).value == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("sizes", [(3, 5), (2, 4, 3), (4, 3, 3, 2)])
def test_neuron_counts_add_up(sizes):
    net = random_network(sizes, seed=2)
    for domain in ["global", (np.full(sizes[0], 0.5), 0.3)]:
        b = upper_bound(net, method="fastlip", domain=domain)
        assert set(b.neurons) == {"active", "inactive", "unstable"}
        counts = np.array([b.neurons[k] for k in ("active", "inactive", "unstable")])
        assert counts.shape == (3, len(sizes) - 1)
        assert np.all(counts >= 0)
        assert tuple(counts.sum(axis=0)) == net.hidden_sizes
        assert b.unstable == counts[2].sum()


def test_random_network_band_structure():
    net = random_network((80, 80), sparsity=20)
    assert net.hidden_sizes == (80,)
    assert net.input_dim == 80 and net.output_dim == 1
    W0, W1 = net.weights
    j, i = np.indices(W0.shape)
    band = np.abs(i - j) <= 9  # |i - j| <= (s - 1) / 2 = 9.5
    assert np.all(W0[~band] == 0)
    assert np.all(W0[band] != 0)
    assert np.array_equal(W0 != 0, lipschitz.band_mask(80, 80, 20) > 0)
    assert W1.shape == (1, 80) and np.all(W1 != 0)  # the output layer is dense
    bound = 1 / np.sqrt(80)  # fan_in of both layers
    for arr in (*net.weights, *net.biases):
        assert np.all(np.abs(arr) <= bound)
    assert np.all(net.biases[0] != 0)


def test_random_network_seeded():
    a = random_network((4, 6, 5), outputs=3, seed=11)
    b = random_network((4, 6, 5), outputs=3, seed=11)
    c = random_network((4, 6, 5), outputs=3, seed=12)
    for x, y in zip(a.weights + a.biases, b.weights + b.biases):
        assert np.array_equal(x, y)
    assert not np.array_equal(a.weights[0], c.weights[0])
    assert [W.shape for W in a.weights] == [(6, 4), (5, 6), (3, 5)]


# ---------------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def net3():
    return random_network((2, 3), outputs=3, seed=0)


BAD_COMMON = [
    (dict(norm="3"), ValueError, "unknown norm"),
    (dict(norm="lp"), ValueError, "unknown norm"),
    (dict(norm=0), ValueError, "unknown norm"),
    (dict(domain=(np.zeros(2), 0.0)), ValueError, "radius must be > 0"),
    (dict(domain=(np.zeros(2), -1.0)), ValueError, "radius must be > 0"),
    (dict(domain=(np.zeros(2), [1.0, 0.0])), ValueError, "radius must be > 0"),
    (dict(domain="local"), ValueError, "unknown domain"),
    (dict(domain=(np.zeros(3), 1.0)), ValueError, "dimension 3"),
    (dict(domain=Box(np.zeros(1), 1.0)), ValueError, "dimension 1"),
    (dict(domain=[0.0, 0.0]), TypeError, "domain must be"),
    (dict(output=None), ValueError, "3 outputs"),
    (dict(output=np.ones(2)), ValueError, "vector of length 3"),
    (dict(output=np.ones(4)), ValueError, "vector of length 3"),
    (dict(output=np.array([1.0, np.nan, 0.0])), ValueError, "NaN"),
    (dict(output=np.array([1.0, np.inf, 0.0])), ValueError, "infinite"),
    (dict(output=3), ValueError, "out of range"),
    (dict(output=(0, 0)), ValueError, "choose two classes"),
    (dict(output=(0, 5)), ValueError, "out of range"),
]


@pytest.mark.parametrize("kwargs, exc, match", BAD_COMMON)
@pytest.mark.parametrize("method", ["hr", "shor", "naive", "fastlip"])
def test_upper_bad_input(net3, method, kwargs, exc, match):
    kw = {"output": 0, **kwargs}
    with pytest.raises(exc, match=match):
        upper_bound(net3, method=method, **kw)


@pytest.mark.parametrize("kwargs, exc, match", BAD_COMMON)
def test_lower_bad_input(net3, kwargs, exc, match):
    kw = {"output": 0, **kwargs}
    with pytest.raises(exc, match=match):
        lower_bound(net3, **kw)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(method="lipsdp"), "unknown method"),
        (dict(method="HR"), "unknown method"),
        (dict(order=3), "order must be 1 or 2"),
        (dict(order=0), "order must be 1 or 2"),
        (dict(method="shor", order=2), "order= applies"),
        (dict(method="fastlip", order=1), "order= applies"),
    ],
)
def test_upper_bad_method(net3, kwargs, match):
    with pytest.raises(ValueError, match=match):
        upper_bound(net3, output=0, **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(method="lbs"), "unknown method"),
        (dict(method="hr"), "unknown method"),
        (dict(samples=0), "samples"),
        (dict(samples=-5), "samples"),
        (dict(starts=0), "starts"),
        (dict(steps=-1), "steps"),
    ],
)
def test_lower_bad_args(net3, kwargs, match):
    with pytest.raises(ValueError, match=match):
        lower_bound(net3, output=0, **kwargs)


def test_not_a_network():
    W = [np.ones((3, 2)), np.ones((1, 3))]
    with pytest.raises(TypeError, match="ReLUNetwork"):
        upper_bound(W)
    with pytest.raises(TypeError, match="ReLUNetwork"):
        lower_bound(W)


def test_box_rejects_bad_radius():
    with pytest.raises(ValueError, match="radius must be > 0"):
        Box(np.zeros(2), 0.0)
    with pytest.raises(ValueError, match="radius has 3 entries"):
        Box(np.zeros(2), np.ones(3))
    with pytest.raises(ValueError, match="finite"):
        Box(np.array([0.0, np.nan]), 1.0)


def test_lower_bound_with_a_neuron_constant_at_zero():
    # the second hidden neuron has zero weights and bias: z = 0 everywhere, yet every point
    # is a point of differentiability; exact constants: 3 (L-inf) and sqrt(5) (L2)
    net = lipschitz.ReLUNetwork([[[1.0, 2.0], [0.0, 0.0]], [[1.0, 5.0]]], [[0.0, 0.0], [0.0]])
    assert lower_bound(net, norm="inf", domain=([0.0, 0.0], 1.0)).value == pytest.approx(3.0)
    assert lower_bound(net, norm="2", domain=([0.0, 0.0], 1.0)).value == pytest.approx(np.sqrt(5.0))


@pytest.mark.slow  # about 30 s: HR-2 of a (40, 40, 10) network
def test_hr2_stopped_short_never_above_first_order():
    """Two hidden layers: the order-2 clique blocks have no interior point and the HR-2 solve
    stops short; on this network its certified value alone (2.578) is above HR-1's (2.479)."""
    net = random_network((40, 40, 10), sparsity=80, seed=1)
    b2 = upper_bound(net, order=2)
    b1 = upper_bound(net, order=1)
    assert b2.sound and b1.sound and b1.status == "optimal"
    assert b2.value <= b1.value * (1 + 1e-7)
    if b2.status != "optimal":
        assert b2.info["order1_bound"] is not None
        assert b2.value == min(b2.info["hr2_bound"], b2.info["order1_bound"])
    lb = lower_bound(net, samples=5000)
    assert lb.value <= b2.value


def test_time_limit_holds_through_the_fallbacks():
    # Clarabel stops "inaccurate" on this network and SDPA (no time limit of its own) is tried
    # next: it runs in a child process stopped at the limit, and solves it
    rng = np.random.default_rng(2)
    net = lipschitz.ReLUNetwork(
        [rng.standard_normal((8, 4)), rng.standard_normal((1, 8))],
        [rng.standard_normal(8), rng.standard_normal(1)],
    )
    free = lipschitz.upper_bound(net, order=1)
    timed = lipschitz.upper_bound(net, order=1, time_limit=60)
    low = lipschitz.lower_bound(net).value
    for b in (free, timed):
        assert b.sound and np.isfinite(b.value) and b.value >= low
    assert timed.seconds < 60
    assert ("sdpa", "optimal") in timed.info["attempts"]
    assert free.status == timed.status == "optimal"
    assert timed.value == pytest.approx(free.value, rel=1e-6)


@pytest.mark.parametrize("order", [True, 1.0, 2.0, "2", 3])
def test_order_must_be_the_integer_1_or_2(order):
    net = lipschitz.random_network((2, 3), seed=0)
    with pytest.raises(ValueError, match="order must be 1 or 2"):
        lipschitz.upper_bound(net, order=order)
