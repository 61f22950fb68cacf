"""LipMIP exact Lipschitz constants and LipLP (``lipschitz.exact``) against region enumeration.

The reference (``tests/enumeration.py``) enumerates the activation regions of tiny networks
with LPs and never calls lipschitz's bound code: the exact constant of ``c . f`` is the largest
dual norm of the per-region gradients, and for the whole output vector with a linear output
norm it is the largest ``||v J||_*`` over the regions' Jacobians ``J`` and the vertices ``v`` of
the output norm's dual ball (LipMIP appendix E).
"""

from __future__ import annotations

import functools
import importlib
import itertools

import numpy as np
import pytest
from enumeration import box_of, dual, functional, regions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import output_spec

import lipschitz
from lipschitz import Box, lower_bound, random_network, upper_bound
from lipschitz.exact import exact, liplp

SETTINGS = settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
NORMS = ("inf", "1")
REL = 1e-6  # exact vs enumeration, relative to max(1, value)
LOWER_SLACK = 1e-9
ENCODINGS = [  # (mode, formulation, tighten); backward mode ignores the formulation
    ("forward", "bigm", True),
    ("forward", "bigm", False),
    ("forward", "hull", True),
    ("forward", "hull", False),
    ("backward", "bigm", True),
    ("backward", "bigm", False),
    ("backward", "hull", True),
    ("backward", "hull", False),
]
ENC_IDS = [f"{m}-{f}-{'tight' if t else 'interval'}" for m, f, t in ENCODINGS]


# ---------------------------------------------------------------------- helpers


def close(a: float, b: float, rel: float = REL) -> bool:
    return abs(a - b) <= rel * max(1.0, abs(b))


def in_bracket(r) -> bool:
    """``lower <= value <= upper`` up to rounding: ``lower`` is the network's own gradient at
    a point of the region and ``value`` the pattern's Jacobian, two float evaluations of the
    same number that may differ in the last bit."""
    slack = 1e-12 * max(1.0, abs(r.value))
    return r.lower <= r.value + slack and r.value <= r.upper + slack


def splits(mode: str, norm: str) -> list:
    """``split`` settings that apply: the L1 case in forward mode has the vertex-direction
    split (its default) and the single program."""
    return [None, False] if mode == "forward" and norm == "1" else [None]


def reference(net, domain, c) -> dict[str, float]:
    """Exact constants of ``c . net`` by enumeration, for both input norms."""
    center, radius = box_of(domain, net.input_dim)
    grads, _ = regions(net, center, radius, c)
    return {norm: max(dual(g, norm) for g in grads) for norm in NORMS}


def jacobians(net, domain) -> np.ndarray:
    """Per-region Jacobians ``(regions, outputs, inputs)``: the region order of the
    enumeration does not depend on ``c``, so the rows for ``c = e_i`` stack."""
    center, radius = box_of(domain, net.input_dim)
    m = net.output_dim
    rows, points = zip(*(regions(net, center, radius, np.eye(m)[i]) for i in range(m)))
    for p in points[1:]:
        assert np.array_equal(p, points[0]), "region order depends on c"
    return np.stack(rows, axis=1)


def dual_ball_vertices(output_norm, m: int) -> np.ndarray:
    """Vertices of the dual ball of an output norm, written out independently."""
    eye = np.eye(m)
    if output_norm == "inf":  # the l1 ball
        return np.vstack([eye, -eye])
    if output_norm == "1":  # the box
        return np.array(list(itertools.product((-1.0, 1.0), repeat=m)))
    diffs = lambda classes: [eye[i] - eye[j] for i in classes for j in range(m) if j != i]  # noqa: E731
    if output_norm == "cross":  # proposition E.1: conv(e_i, e_i - e_j)
        return np.vstack([eye, np.array(diffs(range(m)))])
    _, i = output_norm  # conv(e_i - e_j (j != i), e_k)
    return np.vstack([np.array(diffs([i % m])), eye])


def vector_reference(J: np.ndarray, output_norm, norm: str) -> float:
    V = dual_ball_vertices(output_norm, J.shape[1])
    return max(dual(v @ Jr, norm) for Jr in J for v in V)


def describe(net_spec, domain, output, norm) -> str:
    return f"{net_spec}, domain={domain!r}, output={output!r}, norm={norm!r}"


# ---------------------------------------------------------------------- case families

# (sizes, outputs, seed, output, domain kind); local boxes have random centres, radius 0.2-0.5
SCALAR_CASES = [
    ((2, 4), 1, 0, 0, "global"),
    ((2, 4), 2, 1, (1, 0), 0.3),
    ((3, 3, 3), 3, 2, [0.7, -1.3, 0.4], 0.5),
    ((3, 3, 3), 2, 3, 1, "global"),
    ((2, 3, 2, 2), 2, 4, (0, 1), 0.4),
    ((2, 3, 2, 2), 3, 5, [1.0, 0.5, -2.0], "global"),
    ((4, 5), 2, 6, [-0.8, 1.1], 0.2),
    ((3, 4, 4), 1, 7, 0, 0.3),
]


def domain_of(sizes, seed, kind):
    if kind == "global":
        return "global"
    rng = np.random.default_rng(1000 + seed)
    return (rng.uniform(-1.0, 1.0, sizes[0]), float(kind))


@functools.cache
def scalar_case(k: int):
    """``(net, domain, output, reference by norm, tag)`` of SCALAR_CASES[k]."""
    sizes, outputs, seed, output, kind = SCALAR_CASES[k]
    net = random_network(sizes, outputs=outputs, seed=seed)
    domain = domain_of(sizes, seed, kind)
    if isinstance(output, list):
        output = np.array(output)
    ref = reference(net, domain, functional(output, outputs))
    tag = f"random_network({sizes}, outputs={outputs}, seed={seed})"
    return net, domain, output, ref, tag


def fixed_sign_network() -> lipschitz.ReLUNetwork:
    """f(x) = 0.5 relu(x1 + 2) - 0.4 relu(x2 + 2) + 0.1 relu(x1 + x2) on |x| <= 0.5.

    The first two neurons are stably active, the third is unstable. The gradient is
    (0.5, -0.4) or (0.6, -0.3): both coordinates have a fixed sign, the signs differ, and
    ||grad||_1 = 0.9 in both regions (a sum without the absolute values gives 0.1 or 0.3, an
    encoding that takes the negative coordinate with the wrong sign too); ||grad||_inf <= 0.6.
    """
    W = [np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), np.array([[0.5, -0.4, 0.1]])]
    b = [np.array([2.0, 2.0, 0.0]), np.array([0.3])]
    return lipschitz.ReLUNetwork(W, b)


def endpoint_network() -> lipschitz.ReLUNetwork:
    """f(x) = -relu(x1) - 0.5 relu(-x1) + 0.25 relu(x2 + 2) on |x| <= 0.5.

    grad_1 is -1 (x1 > 0) or +0.5 (x1 < 0): its interval [-1, 0.5] is exact and the largest
    |grad_1| is attained at the *negative* end, so the big-M of |g| = max(g, -g) must be at
    least 2 |lo| (a sign slip or a too small M gives 0.5 + 0.25 instead of 1 + 0.25).
    grad_2 = 0.25 (stable). Constants: L_inf input 1.25, L_1 input 1.
    """
    W = [np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]), np.array([[-1.0, -0.5, 0.25]])]
    b = [np.array([0.0, 0.0, 2.0]), np.array([0.0])]
    return lipschitz.ReLUNetwork(W, b)


HAND_BOX = (np.zeros(2), 0.5)
HAND_CASES = [
    (fixed_sign_network, {"inf": 0.9, "1": 0.6}),
    (endpoint_network, {"inf": 1.25, "1": 1.0}),
]


# ---------------------------------------------------------------------- 1. scalar outputs


@pytest.mark.parametrize("mode, formulation, tighten", ENCODINGS, ids=ENC_IDS)
def test_exact_matches_enumeration(mode, formulation, tighten):
    """Every encoding gives the enumerated constant on every case and input norm."""
    problems = []
    for k in range(len(SCALAR_CASES)):
        net, domain, output, ref, tag = scalar_case(k)
        for norm in NORMS:
            for split in splits(mode, norm):
                r = exact(
                    net,
                    domain,
                    output=output,
                    norm=norm,
                    mode=mode,
                    formulation=formulation,
                    tighten=tighten,
                    split=split,
                )
                where = f"{describe(tag, domain, output, norm)}, split={split}"
                if r.status != "optimal" or not close(r.value, ref[norm]):
                    problems.append(f"{where}: {r!r} vs enumeration {ref[norm]!r}")
                elif not (in_bracket(r) and r.info["verified"]):
                    problems.append(f"{where}: bracket {r!r}, verified {r.info['verified']}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("mode, formulation, tighten", ENCODINGS, ids=ENC_IDS)
@pytest.mark.parametrize("make, expected", HAND_CASES, ids=["fixed-signs", "endpoint"])
def test_hand_networks(make, expected, mode, formulation, tighten):
    net = make()
    center, radius = HAND_BOX
    for norm in NORMS:
        assert reference(net, HAND_BOX, [1.0])[norm] == pytest.approx(expected[norm], rel=1e-12)
        for split in splits(mode, norm):
            r = exact(
                net,
                HAND_BOX,
                norm=norm,
                mode=mode,
                formulation=formulation,
                tighten=tighten,
                split=split,
            )
            assert r.status == "optimal", (norm, split, r)
            assert r.value == pytest.approx(expected[norm], rel=REL), (norm, split, r)
            assert in_bracket(r), r
            assert np.all(np.abs(r.info["argmax"] - center) <= radius + 1e-9)
    # the fixed-sign case really has stable neurons (the endpoint case: unstable ones)
    r = exact(net, HAND_BOX, tighten=False)
    assert sum(r.neurons["active"]) == (2 if make is fixed_sign_network else 1)


def test_endpoint_network_output_l1_norm():
    """Two outputs (f of endpoint_network, 0.25 relu(x2 + 2)) with the l1 output norm:
    max over sign vectors s of ||J^T s||_* is 1 + 0.5 (input L_inf) and 1 (input L_1)."""
    base = endpoint_network()
    W = [base.weights[0], np.array([[-1.0, -0.5, 0.25], [0.0, 0.0, 0.25]])]
    net = lipschitz.ReLUNetwork(W, [base.biases[0], np.zeros(2)])
    J = jacobians(net, HAND_BOX)
    for norm, expected in (("inf", 1.5), ("1", 1.0)):
        assert vector_reference(J, "1", norm) == pytest.approx(expected, rel=1e-12)
        for mode, formulation, tighten in ENCODINGS[::2]:
            r = exact(
                net,
                HAND_BOX,
                norm=norm,
                output_norm="1",
                mode=mode,
                formulation=formulation,
                tighten=tighten,
            )
            assert r.status == "optimal" and r.value == pytest.approx(expected, rel=REL), (
                mode,
                formulation,
                norm,
                r,
            )


def test_case_family_has_stable_neurons_and_fixed_signs():
    """The local boxes of SCALAR_CASES are small enough for stable neurons and gradient
    coordinates of a fixed sign over several regions (else test 1 would not exercise them)."""
    stable = fixed = 0
    for k, (_, outputs, _, _, kind) in enumerate(SCALAR_CASES):
        net, domain, output, _, _ = scalar_case(k)
        if kind == "global":
            continue
        r = exact(net, domain, output=output, tighten=False)
        stable += sum(r.neurons["active"]) + sum(r.neurons["inactive"]) > 0
        center, radius = box_of(domain, net.input_dim)
        grads, _ = regions(net, center, radius, functional(output, outputs))
        signs = np.sign(grads)
        same = np.all(signs == signs[0], axis=0) & (signs[0] != 0)
        fixed += len(grads) > 1 and bool(same.any())
    assert stable >= 2 and fixed >= 2, (stable, fixed)


def test_backward_mode_ignores_the_formulation():
    net, domain, output, _, _ = scalar_case(2)
    a = exact(net, domain, output=output, mode="backward", formulation="bigm")
    b = exact(net, domain, output=output, mode="backward", formulation="hull")
    assert a.sizes == b.sizes
    assert a.value == pytest.approx(b.value, rel=1e-9)
    hull = exact(net, domain, output=output, mode="forward", formulation="hull", tighten=False)
    bigm = exact(net, domain, output=output, mode="forward", formulation="bigm", tighten=False)
    assert hull.sizes["variables"] > bigm.sizes["variables"]  # the hull is really used forward


def test_argmax_and_pattern_are_consistent():
    """The maximizing point lies in the box, the pattern is its activation pattern (up to
    neurons at 0), and the pattern's gradient has dual norm ``value``."""
    for k in (1, 2, 4, 7):
        net, domain, output, _, _ = scalar_case(k)
        c = functional(output, net.output_dim)
        center, radius = box_of(domain, net.input_dim)
        for norm in NORMS:
            r = exact(net, domain, output=output, norm=norm)
            x, masks = r.info["argmax"], r.info["pattern"]
            assert np.all(np.abs(x - center) <= radius + 1e-7)
            a = x
            for W, bias, m in zip(net.weights[:-1], net.biases[:-1], masks):
                z = W @ a + bias
                decided = np.abs(z) > 1e-6 * (1.0 + np.abs(W).sum(axis=1) * np.abs(a).max())
                assert np.array_equal(m[decided], (z[decided] > 0).astype(float)), (k, norm)
                a = np.maximum(z, 0.0)
            g = net.weights[-1].T @ c
            for W, m in zip(net.weights[-2::-1], masks[::-1]):
                g = W.T @ (m * g)
            assert dual(g, norm) == pytest.approx(r.value, rel=1e-9, abs=1e-12)


def test_domain_and_norm_spellings():
    net, domain, output, ref, _ = scalar_case(1)
    center, radius = domain
    a = exact(net, Box(center, radius), output=output, norm=np.inf)
    b = exact(net, (center, np.full(center.size, radius)), output=output, norm="inf")
    c = exact(net, domain, output=output, norm=1)
    assert a.value == pytest.approx(ref["inf"], rel=REL)
    assert b.value == pytest.approx(ref["inf"], rel=REL)
    assert c.value == pytest.approx(ref["1"], rel=REL)


def test_degenerate_network_never_claims_a_wrong_exact_value():
    """f = relu(x) - relu(x) is 0 but not in general position: at x = 0 the MIP may pick
    different states for the two identical neurons. The result must then not be "optimal"
    with a wrong value, and its bracket must contain the true constant 0."""
    W = [np.array([[1.0], [1.0]]), np.array([[1.0, -1.0]])]
    net = lipschitz.ReLUNetwork(W, [np.zeros(2), np.zeros(1)])
    for mode, formulation, tighten in ENCODINGS:
        r = exact(net, norm="inf", mode=mode, formulation=formulation, tighten=tighten)
        assert r.lower <= 0.0 <= r.upper, r
        assert r.status != "optimal" or abs(r.value) <= 1e-9, r


# ---------------------------------------------------------------------- 2. vector outputs

VECTOR_NETS = [((2, 4), 3, 11, "global"), ((3, 3, 3), 3, 12, 0.5), ((2, 3, 3), 4, 13, 0.4)]
OUTPUT_NORMS = ["inf", "1", "cross", ("cross", 0), ("cross", 2)]
VECTOR_ENCODINGS = [  # (mode, formulation, split); split only affects input norm "1"
    ("forward", "bigm", None),
    ("forward", "bigm", False),
    ("forward", "hull", False),
    ("backward", "bigm", None),
]


@functools.cache
def vector_case(k: int):
    sizes, outputs, seed, kind = VECTOR_NETS[k]
    net = random_network(sizes, outputs=outputs, seed=seed)
    domain = domain_of(sizes, seed, kind)
    return net, domain, jacobians(net, domain), f"random_network({sizes}, {outputs}, {seed})"


@pytest.mark.parametrize("mode, formulation, split", VECTOR_ENCODINGS)
@pytest.mark.parametrize("k", range(len(VECTOR_NETS)))
def test_vector_outputs_match_enumeration(k, mode, formulation, split):
    net, domain, J, tag = vector_case(k)
    problems = []
    for norm, onorm in itertools.product(NORMS, OUTPUT_NORMS):
        ref = vector_reference(J, onorm, norm)
        r = exact(
            net,
            domain,
            norm=norm,
            output_norm=onorm,
            mode=mode,
            formulation=formulation,
            split=split if norm == "1" else None,
        )
        if r.status != "optimal" or not close(r.value, ref) or not in_bracket(r):
            problems.append(f"{tag}, {domain!r}, {norm}, {onorm!r}: {r!r} vs {ref!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("k", range(len(VECTOR_NETS)))
def test_cross_norm_dominates_pairwise_margins(k):
    """Proposition E.2: L(cross) >= max_{i != j} L(f_i - f_j), and L(("cross", i)) >=
    max_{j != i} L(f_i - f_j); both also dominate every single logit's L(f_i)."""
    net, domain, _, tag = vector_case(k)
    m = net.output_dim
    for norm in NORMS:
        pair = {
            (i, j): exact(net, domain, output=(i, j), norm=norm).value
            for i in range(m)
            for j in range(m)
            if i != j
        }
        single = max(exact(net, domain, output=i, norm=norm).value for i in range(m))
        cross = exact(net, domain, norm=norm, output_norm="cross").value
        assert cross >= max(max(pair.values()), single) * (1 - REL), (tag, norm)
        for i in (0, m - 1):
            ci = exact(net, domain, norm=norm, output_norm=("cross", i)).value
            best = max(v for (a, _), v in pair.items() if a == i)
            assert ci >= max(best, single) * (1 - REL), (tag, norm, i)
            assert ci <= cross * (1 + REL), (tag, norm, i)


def test_cross_class_index_may_be_negative():
    net, domain, _, _ = vector_case(0)
    m = net.output_dim
    a = exact(net, domain, output_norm=("cross", -1))
    b = exact(net, domain, output_norm=("cross", m - 1))
    assert a.value == pytest.approx(b.value, rel=1e-9)


# ---------------------------------------------------------------------- 3. the bracket


@pytest.mark.parametrize(
    "sizes, seed", [((3, 6, 5), 1), ((4, 6, 6), 2), ((2, 5, 4, 3), 3), ((5, 12), 4)]
)
def test_optimal_bracket_is_closed_and_verified(sizes, seed):
    net = random_network(sizes, outputs=2, seed=seed)
    rng = np.random.default_rng(seed)
    for domain in ("global", (rng.uniform(-1, 1, sizes[0]), 0.5)):
        for norm in NORMS:
            r = exact(net, domain, output=(0, 1), norm=norm)
            assert r.status == "optimal", r
            assert r.sound is True and r.kind == "exact"
            assert r.info["verified"] is True, r
            assert r.lower == pytest.approx(r.value, rel=REL, abs=REL)
            assert r.upper == pytest.approx(r.value, rel=REL, abs=REL)
            assert in_bracket(r), r
            assert abs(r.gap) <= REL


def _check_time_limited(r, truth):
    assert r.status in ("time_limit", "optimal"), r
    assert r.lower <= truth * (1 + REL) + 1e-12, (r, truth)
    assert r.upper >= truth * (1 - REL) - 1e-12, (r, truth)
    if r.status == "time_limit":
        assert r.value == r.upper and r.sound is False
    else:
        assert r.value == pytest.approx(truth, rel=REL)


def test_time_limit_tiny():
    """A 1 ms limit stops before the proof (or the solve finished: both are fine)."""
    net = random_network((3, 6, 5), outputs=2, seed=1)
    truth = reference(net, "global", np.eye(2)[0])["inf"]
    assert exact(net, "global", output=0).value == pytest.approx(truth, rel=REL)
    r = exact(net, "global", output=0, time_limit=1e-3)
    _check_time_limited(r, truth)


def test_time_limit_with_incumbent():
    net = random_network((4, 8, 8), seed=1)
    truth = exact(net, "global")
    assert truth.status == "optimal"
    for tl in (0.05, 0.2):
        _check_time_limited(exact(net, "global", time_limit=tl), truth.value)


def test_rel_gap_bracket_contains_exact():
    for sizes, seed in (((3, 6, 5), 1), ((4, 8, 8), 0)):
        net = random_network(sizes, seed=seed)
        truth = exact(net, "global").value
        r = exact(net, "global", rel_gap=0.5)
        assert r.status in ("gap", "optimal"), r
        assert r.lower <= truth * (1 + REL) and truth <= r.upper * (1 + REL), (r, truth)
        if r.status == "gap":
            assert r.value == r.upper and r.sound is False


# ---------------------------------------------------------------------- 4. LipLP


def test_liplp_upper_bounds_exact():
    """LipLP is a certified upper bound (no comparison with FastLip is asserted: the LP
    relaxation with interval big-Ms is not below FastLip in general; with u relaxed, each
    unstable switch contributes the triangle relaxation of u * p, whose positive constant
    term can make LipLP exceed FastLip, e.g. on random_network((4, 5, 4), 2, seed=5) and on
    one-hidden-layer networks too)."""
    problems = []
    for k in range(len(SCALAR_CASES)):
        net, domain, output, ref, tag = scalar_case(k)
        for norm in NORMS:
            b = liplp(net, domain, output=output, norm=norm)
            if b.status != "optimal" or b.sound is not True or not b.value >= ref[norm] - 1e-9:
                problems.append(f"{describe(tag, domain, output, norm)}: {b!r} vs {ref[norm]}")
            assert b.kind == "upper" and b.method == "liplp"
    for k in range(len(VECTOR_NETS)):
        net, domain, J, tag = vector_case(k)
        for norm, onorm in itertools.product(NORMS, OUTPUT_NORMS):
            ref = vector_reference(J, onorm, norm)
            b = liplp(net, domain, norm=norm, output_norm=onorm)
            if b.status != "optimal" or b.sound is not True or not b.value >= ref - 1e-9:
                problems.append(f"{tag}, {onorm!r}, {norm}: {b!r} vs {ref}")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------- 5. bad input


@pytest.fixture(scope="module")
def net3():
    return random_network((2, 3), outputs=3, seed=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(norm="2"), "polyhedral"),
        (dict(norm="3"), "norm"),
        (dict(output=0, output_norm="inf"), "not both"),
        (dict(output_norm="2"), "output_norm"),
        (dict(output_norm="max"), "output_norm"),
        (dict(output_norm=("cross", 99)), "class index"),
        (dict(output_norm=("cross", -4)), "class index"),
        (dict(output_norm=("cross", 1.0)), "class index"),
        (dict(output=0, mode="sideways"), "mode"),
        (dict(output=0, formulation="ideal"), "formulation"),
        (dict(output=0, solver="gurobi"), "solver"),
        (dict(output=0, time_limit=float("nan")), "time_limit"),
        (dict(output=0, split=True), "split"),
        (dict(output=0, norm="1", mode="backward", split=True), "split"),
        (dict(output=0, rel_gap=1.0), "rel_gap"),
        (dict(output=0, rel_gap=1.5), "rel_gap"),
        (dict(), "outputs"),  # three outputs and no output / output_norm
        (dict(output=3), "range"),
        (dict(output=0, domain=(np.zeros(3), 1.0)), "dimension"),
    ],
)
def test_exact_bad_input(net3, kwargs, match):
    with pytest.raises(ValueError, match=match):
        exact(net3, **kwargs)


def test_exact_negative_rel_gap_rejected(net3):
    with pytest.raises(ValueError, match="rel_gap"):
        exact(net3, output=0, rel_gap=-0.5)


@pytest.mark.parametrize("time_limit", [0, -1.0])
def test_exact_nonpositive_time_limit_rejected(net3, time_limit):
    with pytest.raises(ValueError, match="time_limit"):
        exact(net3, output=0, time_limit=time_limit)


def test_cross_norm_needs_two_outputs():
    net = random_network((2, 3), seed=0)
    with pytest.raises(ValueError, match="two outputs"):
        exact(net, output_norm="cross")


@pytest.mark.parametrize(
    "kwargs",
    [dict(norm="2"), dict(output=0, output_norm="1"), dict(output_norm=("cross", 3))],
)
def test_liplp_bad_input(net3, kwargs):
    with pytest.raises(ValueError):
        liplp(net3, **kwargs)


@pytest.mark.parametrize("fn", [exact, liplp])
def test_not_a_network(fn):
    W = [np.eye(2), np.ones((1, 2))]
    with pytest.raises(TypeError):
        fn(W)
    with pytest.raises(TypeError):
        fn(None)


# ---------------------------------------------------------------------- 6. property test

SIZES = [(2, 3), (3, 4), (1, 5), (2, 6), (2, 3, 2), (2, 2, 3), (3, 3, 3), (2, 2, 2, 2)]


@st.composite
def cases(draw):
    sizes = draw(st.sampled_from(SIZES))
    n = sizes[0]
    seed = draw(st.integers(0, 10_000))
    outputs = draw(st.integers(1, 3))
    output = draw(output_spec(outputs))
    norm = draw(st.sampled_from(NORMS))
    if draw(st.booleans()):
        domain = "global"
    else:
        center = np.array(draw(st.lists(st.floats(-2, 2), min_size=n, max_size=n)))
        domain = (center, draw(st.floats(0.1, 1.0)))
    encoding = draw(st.sampled_from(ENCODINGS))
    return sizes, seed, outputs, output, norm, domain, encoding


@SETTINGS
@given(cases())
def test_exact_between_sampling_and_fastlip(case):
    sizes, seed, outputs, output, norm, domain, (mode, formulation, tighten) = case
    net = random_network(sizes, outputs=outputs, seed=seed)
    ref = reference(net, domain, functional(output, outputs))[norm]
    kw = dict(norm=norm, domain=domain, output=output)
    r = exact(net, mode=mode, formulation=formulation, tighten=tighten, **kw)
    tag = f"{describe(f'random_network({sizes}, {outputs}, {seed})', domain, output, norm)}"
    tag += f", {mode}/{formulation}/{tighten}: {r!r}, enumeration {ref!r}"
    assert r.status == "optimal" and close(r.value, ref), tag
    low = lower_bound(net, samples=2000, starts=8, steps=20, **kw).value
    assert low <= r.value + LOWER_SLACK, f"{tag}, lower_bound {low!r}"
    fast = upper_bound(net, method="fastlip", **kw).value
    assert r.value <= fast * (1 + 1e-9), f"{tag}, fastlip {fast!r}"


def test_proof_closes_with_few_nodes(monkeypatch):
    """The proof bounds the hull program, whose LP relaxation closes in a few nodes where
    the big-M program's needs a few hundred; the bracket is then closed and contains every
    realized gradient norm."""
    exact_module = importlib.import_module("lipschitz.exact.lipmip")
    monkeypatch.setattr(exact_module, "PROOF_FIRST_NODES", 10)
    monkeypatch.setattr(exact_module, "PROOF_NODES", 30)
    net = lipschitz.he_network([8, 10, 10, 2], seed=4)
    domain = (np.full(8, 0.5), 0.5)
    r = exact(net, domain, output=(0, 1), norm="1")
    assert r.status == "optimal", r
    assert r.info["proof_complete"] is True
    assert r.info["proof_nodes"] <= 60, r.info["proof_nodes"]
    sample = lipschitz.lower_bound(net, method="search", norm="1", domain=domain, output=(0, 1))
    assert sample.value <= r.upper * (1 + 1e-12)


def test_sdp_seed_caps_an_open_bracket_and_is_skipped_on_a_closed_one():
    net = lipschitz.random_network((3, 8, 8), seed=4)
    plain = lipschitz.exact(net, sdp_seed=None)
    seeded = lipschitz.exact(net, sdp_seed="hr-2")
    hr2 = lipschitz.upper_bound(net)
    assert plain.status == seeded.status == "optimal"
    assert seeded.value == pytest.approx(plain.value, rel=1e-9)
    assert seeded.info["sdp_seed"] is None  # the closed bracket needs no seed
    # a loose MIP gap leaves the bracket open: the seed runs and caps its upper end
    loose = lipschitz.exact(net, sdp_seed="hr-2", rel_gap=0.5)
    assert loose.status == "gap"
    assert loose.info["sdp_seed"] == pytest.approx(hr2.value, rel=1e-9)
    assert loose.lower <= plain.value <= loose.upper <= hr2.value
    with pytest.raises(ValueError, match="sdp_seed"):
        lipschitz.exact(net, sdp_seed="hr-3")


def test_unknown_or_missing_mip_solver_raises_before_any_work():
    net = lipschitz.random_network((3, 8), seed=0)
    with pytest.raises(ValueError, match="unknown MIP solver"):
        lipschitz.exact(net, solver="gurobi")
    from lipschitz.exact.milp import scip_available

    if not scip_available():
        with pytest.raises(ValueError, match="pyscipopt"):
            lipschitz.exact(net, solver="scip")


def test_propagated_node_bounds_contain_every_point_of_the_node():
    """Fix some binaries to their values at a sampled point: the propagated box keeps that
    point (its pattern and its ReLU outputs); a binary fixed by propagation and then flipped
    gives an empty node."""
    flipped = sum(_propagation_check(seed) for seed in range(12))
    assert flipped > 0  # propagation did fix binaries


def _propagation_check(seed: int) -> int:
    from lipschitz.exact.encoding import encode_gradient_norm, propagate_fixings

    rng = np.random.default_rng(seed)
    net = random_network((3, 8, 8), seed=seed)
    box = Box(np.zeros(3), np.ones(3))
    c = np.ones(net.output_dim)
    enc = encode_gradient_norm(net, box, "inf", c, None, "forward", formulation="hull")
    lb0, ub0 = np.asarray(enc.model.lb), np.asarray(enc.model.ub)
    flipped = 0
    for trial in range(10):
        x = rng.uniform(-1.0, 1.0, 3)
        a, zs = x, []
        for W, b in zip(net.weights[:-1], net.biases[:-1]):
            z = W @ a + b
            zs.append(z)
            a = np.maximum(z, 0.0)
        lb, ub = lb0.copy(), ub0.copy()
        share = 1.0 if trial % 2 else 0.5  # every layer-1 binary, or about half of them all
        for k, u in enumerate(enc.u):
            for j in np.flatnonzero(u >= 0):
                if (k == 0 and share == 1.0) or rng.random() < share / 2:
                    lb[u[j]] = ub[u[j]] = float(zs[k][j] > 0)
        lb2, ub2, empty = propagate_fixings(enc, lb, ub)
        assert not empty
        for k, u in enumerate(enc.u):
            for j in np.flatnonzero(u >= 0):
                if abs(zs[k][j]) > 1e-9 and lb2[u[j]] == ub2[u[j]]:
                    assert lb2[u[j]] == float(zs[k][j] > 0)
            for j in np.flatnonzero(enc.a_vars[k] >= 0):
                v = enc.a_vars[k][j]
                assert lb2[v] - 1e-12 <= max(zs[k][j], 0.0) <= ub2[v] + 1e-12
        implied = [u for k, u in enumerate(enc.u) for u in u[u >= 0] if lb[u] < ub[u]]
        for u in implied:
            if lb2[u] == ub2[u]:  # fixed by propagation: the other value has no point
                lb3, ub3 = lb.copy(), ub.copy()
                lb3[u] = ub3[u] = 1.0 - lb2[u]
                assert propagate_fixings(enc, lb3, ub3)[2]
                flipped += 1
    return flipped
