"""Shor's relaxation of sign programs (:func:`polyopt.grothendieck_sdp`) and the
gradient sign programs of one-hidden-layer networks (:mod:`lipschitz.sign_program`), against
values known independently: exact brute force over signs (in rational arithmetic), closed
forms of the relaxation (rank-one and nonnegative matrices, Hadamard matrices / Tsirelson's
bound), an interior-point solve of the same SDP, exact Lipschitz constants (LipMIP and region
enumeration) and exact evaluations of the network."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from enumeration import exact_lipschitz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

import lipschitz as lp
from lipschitz.intervals import stability
from lipschitz.sign_program import gradient_program
from lipschitz.spec import resolve_output
from polyopt.backends import MosekBackend
from polyopt.solvers.grothendieck import STATUSES, certify_factor, grothendieck_sdp


def examples(n: int):
    """Hypothesis settings: ``n`` derandomized examples, no deadline."""
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """Each certificate is a few Cholesky factorizations of side ``p + q``: on a loaded
    machine OpenBLAS's threads can make one of side 180 take 0.3 s instead of 0.3 ms."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# ----------------------------------------------------------------------------- references


def F(x) -> Fraction:
    return Fraction(float(x))


def exact_sign_max(G, h=None) -> Fraction:
    """``max t^T G r + r_0 h . r_{1:}`` over all signs with ``r_0 = 1``, in exact arithmetic
    for the given floats (the max over ``t`` is ``sum_i |(G r)_i|``)."""
    p, q = G.shape
    GF = [[F(x) for x in row] for row in G]
    hF = None if h is None else [F(x) for x in np.reshape(h, -1)]
    best = None
    for rest in itertools.product((-1, 1), repeat=q - 1):
        r = (1, *rest)
        v = sum((abs(sum(g * s for g, s in zip(row, r))) for row in GF), Fraction(0))
        if hF is not None:
            v += sum(x * s for x, s in zip(hF, rest))
        best = v if best is None or v > best else best
    return best


def all_signs_max(G, h=None) -> float:
    """The same maximum over every ``t`` and every ``r`` (``r_0`` free), enumerated."""
    p, q = G.shape
    T = np.array(list(itertools.product((-1.0, 1.0), repeat=p)))
    R = np.array(list(itertools.product((-1.0, 1.0), repeat=q)))
    vals = T @ G @ R.T
    if h is not None:
        vals = vals + (R[:, 0] * (R[:, 1:] @ h))[None, :]
    return float(vals.max())


def shor_optimum(G, h=None) -> float:
    """The relaxation's optimum by an interior-point solver (Clarabel through CVXPY)."""
    cp = pytest.importorskip("cvxpy")
    p, q = G.shape
    N = p + q
    C = np.zeros((N, N))
    C[:p, p:] = G / 2
    C[p:, :p] = G.T / 2
    if h is not None:
        C[p, p + 1 :] += h / 2
        C[p + 1 :, p] += h / 2
    X = cp.Variable((N, N), PSD=True)
    prob = cp.Problem(cp.Maximize(cp.trace(C @ X)), [cp.diag(X) == 1])
    prob.solve(solver="CLARABEL")
    assert prob.status == "optimal"
    return float(prob.value)


def hadamard(n: int) -> np.ndarray:
    H = np.ones((1, 1))
    while H.shape[0] < n:
        H = np.block([[H, H], [H, -H]])
    return H


def exact_gradients(net, box, c):
    """Exact gradients of ``c . f`` (Fractions) for every activation pattern of the hidden
    layer with the neurons that :func:`stability` proves stable on ``box`` fixed."""
    _, active, inactive = stability(net, box)
    W1, W2 = net.weights
    H, n = W1.shape
    g_out = [sum(F(W2[k, j]) * F(c[k]) for k in range(W2.shape[0])) for j in range(H)]
    P = [[F(W1[j, i]) * g_out[j] for i in range(n)] for j in range(H)]
    unstable = np.flatnonzero(~(active[0] | inactive[0]))
    grads = []
    for bits in itertools.product((0, 1), repeat=unstable.size):
        u = active[0].astype(int)
        u[unstable] = bits
        grads.append([sum((P[j][i] for j in range(H) if u[j]), Fraction(0)) for i in range(n)])
    return grads


def exact_delta_max(net, box, c, lo, hi) -> Fraction:
    """``max delta . g`` over the vertices of ``[lo, hi]`` and the patterns valid on ``box``."""
    vertices = [[F(v) for v in vert] for vert in itertools.product(*zip(lo, hi))]
    return max(
        sum((d * g for d, g in zip(vert, grad)), Fraction(0))
        for grad in exact_gradients(net, box, c)
        for vert in vertices
    )


def exact_output(net, x, c) -> Fraction:
    """``c . f(x)`` in exact arithmetic."""
    W1, W2 = net.weights
    b1, b2 = net.biases
    xs = [F(v) for v in x]
    z = [sum((F(W1[j, i]) * xs[i] for i in range(len(xs))), F(b1[j])) for j in range(W1.shape[0])]
    a = [max(v, Fraction(0)) for v in z]
    out = [sum((F(W2[k, j]) * a[j] for j in range(len(a))), F(b2[k])) for k in range(W2.shape[0])]
    return sum((F(ck) * o for ck, o in zip(c, out)), Fraction(0))


def sampled_gradient_norm(net, box, c, samples: int, rng) -> float:
    """The largest ``||grad (c . f)||_1`` at random points of the box (floating point)."""
    W1, W2 = net.weights
    X = box.sample(samples, rng)
    D = (X @ W1.T + net.biases[0] > 0).astype(float)
    grads = (D * (W2.T @ c)) @ W1
    return float(np.abs(grads).sum(axis=1).max())


# ----------------------------------------------------------------------------- strategies


@st.composite
def sign_programs(draw, max_p=6, max_q=6):
    p = draw(st.integers(1, max_p))
    q = draw(st.integers(1, max_q))
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from([1e-6, 1.0, 1e4]))
    rng = np.random.default_rng(seed)
    G = scale * rng.standard_normal((p, q))
    if draw(st.booleans()):  # some exact zeros: zero rows, columns, couplings
        G[rng.uniform(size=G.shape) < 0.3] = 0.0
    h = scale * rng.standard_normal(q - 1) if q > 1 and draw(st.booleans()) else None
    return G, h


@st.composite
def one_hidden_layer(draw):
    n = draw(st.integers(1, 4))
    hidden = draw(st.integers(1, 8))
    outputs = draw(st.sampled_from([1, 3]))
    seed = draw(st.integers(0, 2**16))
    net = lp.random_network((n, hidden), outputs=outputs, seed=seed)
    output = None if outputs == 1 else draw(st.sampled_from([(0, 1), 2, (2, 0)]))
    rng = np.random.default_rng(seed + 1)
    if draw(st.booleans()):
        box = lp.Box.around(n)
    else:
        box = lp.Box(rng.uniform(-1, 1, n), rng.uniform(0.1, 1.5, n))
    return net, box, output


# ----------------------------------------------------------------------------- grothendieck_sdp


@examples(60)
@given(sign_programs())
def test_bound_covers_the_exact_sign_maximum(prog):
    G, h = prog
    res = grothendieck_sdp(G, h)
    best = exact_sign_max(G, h)
    assert res.status in STATUSES
    assert F(res.bound) >= best  # certified: exact arithmetic, no tolerance
    assert res.value <= res.bound
    if res.status == "optimal":
        # Shor relaxes the program: its optimum, hence a converged value, is at least the max
        scale = max(1.0, float(abs(best)))
        assert res.value >= float(best) - 1e-6 * scale
        assert res.bound - res.value <= 1e-5 * max(1.0, abs(res.bound)) * (1 + 1e-12)


@examples(25)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**32 - 1), st.booleans())
def test_fixing_r0_loses_nothing(p, q, seed, with_h):
    # integer data: every enumeration below is exact in floating point
    rng = np.random.default_rng(seed)
    G = rng.integers(-5, 6, size=(p, q)).astype(float)
    h = rng.integers(-5, 6, size=q - 1).astype(float) if with_h and q > 1 else None
    free = all_signs_max(G, h)
    assert free == exact_sign_max(G, h)
    assert F(grothendieck_sdp(G, h).bound) >= free


@pytest.mark.parametrize("max_iter", [1, 2, 7])
@pytest.mark.parametrize("rank", [1, 3])
def test_bound_is_certified_whatever_the_accuracy(max_iter, rank):
    rng = np.random.default_rng(100 * max_iter + rank)
    G = rng.standard_normal((6, 5))
    h = rng.standard_normal(4)
    best = exact_sign_max(G, h)
    res = grothendieck_sdp(G, h, rank=rank, max_iter=max_iter, check_every=1, tol=1e-12)
    assert res.iterations <= max_iter
    assert res.status in ("iteration_limit", "optimal", "stalled")
    assert F(res.bound) >= best
    assert res.value <= res.bound


def test_certificate_of_arbitrary_factors_bounds_the_sdp():
    rng = np.random.default_rng(7)
    G = rng.standard_normal((7, 6))
    h = rng.standard_normal(5)
    opt = shor_optimum(G, h)
    best = exact_sign_max(G, h)
    p, q = G.shape
    N = p + q
    C2 = np.zeros((N, N))
    C2[:p, p:], C2[p:, :p] = G, G.T
    C2[p, p + 1 :] += h
    C2[p + 1 :, p] += h
    for k in (1, 2, 5):
        for _ in range(3):
            Vt = rng.standard_normal((p, k))
            Vr = rng.standard_normal((q, k))
            Vt /= np.linalg.norm(Vt, axis=1, keepdims=True)
            Vr /= np.linalg.norm(Vr, axis=1, keepdims=True)
            bound, lam, value = certify_factor(G, h, Vt, Vr)
            V = np.vstack([Vt, Vr])
            X = V @ V.T
            assert value == pytest.approx(0.5 * np.sum(C2 * X), rel=1e-12, abs=1e-12)
            S2 = np.diag(np.sum((C2 @ V) * V, axis=1)) - C2  # 2 (Diag(y) - C)
            assert lam <= np.linalg.eigvalsh(S2)[0] + 1e-12 * np.abs(S2).max()
            assert bound >= opt - 1e-7 * opt  # a dual bound of the SDP, not only of the signs
            assert F(bound) >= best


@pytest.mark.parametrize("p, q", [(3, 4), (6, 6), (30, 20)])
def test_rank_one_matrix_is_tight(p, q):
    # G = a b^T: max over signs = ||a||_1 ||b||_1 = Shor's value
    rng = np.random.default_rng(p * q)
    a = rng.integers(-9, 10, size=p).astype(float)
    b = rng.integers(-9, 10, size=q).astype(float)
    a[a == 0], b[b == 0] = 1.0, -2.0
    G = np.outer(a, b)  # small integers: exact
    closed = float(np.abs(a).sum() * np.abs(b).sum())
    res = grothendieck_sdp(G)
    assert res.status == "optimal"
    assert res.bound >= closed
    assert res.bound <= closed * (1 + 1e-4)
    # generic floats: G is rounded, but every entry keeps the sign of a_i b_j, so the max of
    # the float program is sum |G_ij| exactly
    a, b = rng.standard_normal(p), rng.standard_normal(q)
    G = np.outer(a, b)
    closed = sum((abs(F(x)) for x in G.ravel()), Fraction(0))
    res = grothendieck_sdp(G)
    assert res.status == "optimal"
    assert F(res.bound) >= closed
    assert res.bound <= float(closed) * (1 + 1e-4)
    assert res.bound == pytest.approx(np.abs(a).sum() * np.abs(b).sum(), rel=1e-4)


@examples(20)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**32 - 1))
def test_nonnegative_matrix_is_tight(p, q, seed):
    # G >= 0: t = r = 1 reaches sum |G_ij|, which bounds the relaxation too
    G = np.abs(np.random.default_rng(seed).standard_normal((p, q)))
    total = sum((F(x) for x in G.ravel()), Fraction(0))
    res = grothendieck_sdp(G)
    assert F(res.bound) >= total
    assert res.bound <= float(total) * (1 + 1e-4)


@pytest.mark.parametrize("n", [2, 4, 8, 16])
def test_hadamard_matrices_reach_n_to_the_three_halves(n):
    # Shor's value of a Hadamard matrix is n^{3/2} (n = 2: CHSH, Tsirelson's 2 sqrt 2 against
    # the classical 2)
    res = grothendieck_sdp(hadamard(n))
    assert res.status == "optimal"
    assert F(res.bound) ** 2 >= n**3  # bound >= n^{3/2}, exactly
    assert res.bound <= n**1.5 * (1 + 1e-4)
    assert res.value <= n**1.5 * (1 + 1e-12)
    if n == 2:
        assert all_signs_max(hadamard(2)) == 2.0


@pytest.mark.parametrize("seed", range(3))
def test_bound_and_value_bracket_the_interior_point_optimum(seed):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((8, 7))
    h = rng.standard_normal(6) if seed else None
    opt = shor_optimum(G, h)
    res = grothendieck_sdp(G, h, tol=1e-7)
    assert res.status == "optimal"
    assert res.bound >= opt * (1 - 1e-7)
    assert res.value <= opt * (1 + 1e-7)
    assert res.bound == pytest.approx(opt, rel=1e-6)


def test_no_t_rows_leaves_the_couplings_of_r0():
    h = np.array([1.5, -2.0, 0.25])
    res = grothendieck_sdp(np.zeros((0, 4)), h)
    assert F(res.bound) >= sum(abs(F(x)) for x in h)  # r_0 h . r_{1:} <= sum |h|, reached
    assert res.bound == pytest.approx(3.75, rel=1e-12)
    assert grothendieck_sdp(np.zeros((0, 3))).bound >= 0.0


def test_zero_program():
    res = grothendieck_sdp(np.zeros((3, 4)), np.zeros(3))
    assert res.status == "optimal"
    assert 0.0 <= res.bound <= 1e-300


# ----------------------------------------------------------------------------- decision mode


@examples(25)
@given(sign_programs(max_p=5, max_q=5), st.floats(0.0, 1.0))
def test_threshold_decisions(prog, where):
    G, h = prog
    best = exact_sign_max(G, h)
    ref = grothendieck_sdp(G, h)
    scale = max(abs(ref.bound), 1e-300)
    # above the bound: decided "below", with a bound that proves it
    T = ref.bound + 0.01 * scale
    res = grothendieck_sdp(G, h, threshold=T)
    assert res.status == "below"
    assert res.bound < T and F(res.bound) >= best
    # below the sign maximum: no certificate can go below it; "above" computes no bound
    T = float(best) - 0.01 * scale
    res = grothendieck_sdp(G, h, threshold=T)
    assert res.status == "above"
    assert res.value > T and res.bound == math.inf
    # anywhere in between: every decision is backed by its number
    T = float(best) + where * (ref.bound - float(best))
    res = grothendieck_sdp(G, h, threshold=T, max_iter=500)
    assert res.status in STATUSES
    assert res.bound == math.inf or F(res.bound) >= best
    if res.status == "below":
        assert res.bound < T
    if res.status == "above":
        assert res.value > T


def test_decision_mode_goes_on_after_a_failed_check():
    # a threshold just above the bound the same solver certifies without one: decidable
    rng = np.random.default_rng(0)
    G, h = rng.standard_normal((6, 5)), rng.standard_normal(4)
    ref = grothendieck_sdp(G, h)  # bound 12.4736547..., optimal
    T = ref.bound * (1 + 1e-6)
    res = grothendieck_sdp(G, h, threshold=T)
    assert res.status == "below" and res.bound < T


def test_decision_mode_never_reports_optimal_without_a_bound():
    # 1 x 1: the relaxation is tight, value = max = T: neither "below" nor "above" is possible
    G = np.array([[1.25730221e-07]])
    res = grothendieck_sdp(G, threshold=float(exact_sign_max(G)))
    assert res.status != "above"
    assert math.isfinite(res.bound)
    assert F(res.bound) >= exact_sign_max(G)


# ----------------------------------------------------------------------------- warm starts


def test_warm_start_from_a_nearby_program_is_valid():
    rng = np.random.default_rng(11)
    G = rng.standard_normal((6, 6))
    h = rng.standard_normal(5)
    first = grothendieck_sdp(G, h)
    G2 = G + 1e-3 * rng.standard_normal(G.shape)
    cold = grothendieck_sdp(G2, h)
    best = exact_sign_max(G2, h)
    for start in (first, first.state):
        warm = grothendieck_sdp(G2, h, warm_start=start)
        assert warm.status == "optimal"
        assert F(warm.bound) >= best
        assert warm.bound == pytest.approx(cold.bound, rel=1e-4)
    # another p, same q (another output of the same network): still fine
    other = grothendieck_sdp(rng.standard_normal((3, 6)), h, warm_start=first)
    assert other.status == "optimal"


def test_warm_start_resumes_in_fewer_iterations():
    # fixed data, deterministic; when written: 178 sweeps cold, 25 warm (seeds 0-3: at least
    # 153 against at most 100)
    rng = np.random.default_rng(1)
    G = rng.standard_normal((100, 80))
    first = grothendieck_sdp(G)
    G2 = G + 1e-3 * rng.standard_normal(G.shape)
    cold = grothendieck_sdp(G2)
    warm = grothendieck_sdp(G2, warm_start=first)
    assert cold.status == warm.status == "optimal"
    assert warm.bound == pytest.approx(cold.bound, rel=1e-4)
    assert warm.iterations < cold.iterations
    assert warm.bound >= warm.value


def test_warm_start_with_another_q_is_rejected():
    first = grothendieck_sdp(np.ones((3, 4)))
    with pytest.raises(ValueError, match="q = 5"):
        grothendieck_sdp(np.ones((3, 5)), warm_start=first)
    with pytest.raises(ValueError):
        grothendieck_sdp(np.ones((4, 3)), warm_start=first.state)


# ----------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "G, h, kw",
    [
        (np.array([[1.0, np.nan], [0.0, 1.0]]), None, {}),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), None, {}),
        (np.ones((2, 3)), np.array([1.0, np.nan]), {}),
        (np.ones((2, 3)), np.ones(3), {}),
        (np.ones((2, 3)), np.ones(1), {}),
        (np.ones(3), None, {}),
        (np.ones((2, 2, 2)), None, {}),
        (np.ones((3, 0)), None, {}),
        (np.ones((2, 3)), None, {"tol": 0.0}),
        (np.ones((2, 3)), None, {"tol": -1e-3}),
        (np.ones((2, 3)), None, {"tol": float("nan")}),
        (np.ones((2, 3)), None, {"time_limit": 0.0}),
        (np.ones((2, 3)), None, {"rank": 0}),
    ],
)
def test_bad_inputs_raise(G, h, kw):
    with pytest.raises(ValueError):
        grothendieck_sdp(G, h, **kw)


def test_bad_lipschitz_inputs_raise():
    net = lp.random_network((3, 4), seed=0)
    deep = lp.random_network((3, 4, 4), seed=0)
    with pytest.raises(ValueError):
        lp.upper_bound(net, method="shor", solver="mixing", norm="1")
    with pytest.raises(ValueError):
        lp.upper_bound(net, method="hr", order=2, solver="mixing")
    with pytest.raises(ValueError):
        lp.upper_bound(deep, method="shor", solver="mixing")
    with pytest.raises(ValueError, match="unknown solver option"):
        lp.upper_bound(net, method="shor", solver="mixing", solver_options={"ranks": 4})
    box = lp.Box.around(3)
    with pytest.raises(ValueError):
        gradient_program(deep, box, np.ones(1))
    with pytest.raises(ValueError):
        gradient_program(net, box, np.ones(1), np.ones(3), -np.ones(3))  # lo > hi
    with pytest.raises(ValueError):
        gradient_program(net, box, np.ones(1), -np.ones(2), np.ones(2))  # wrong width


# ----------------------------------------------------------------------------- Lipschitz constants


@examples(15)
@given(one_hidden_layer())
def test_mixing_bound_covers_the_exact_lipschitz_constant(case):
    net, box, output = case
    c = resolve_output(output, net.output_dim)
    ub = lp.upper_bound(net, method="shor", solver="mixing", domain=box, output=output)
    assert ub.sound and ub.kind == "upper" and np.isfinite(ub.value)
    assert ub.status in ("optimal", "inaccurate", "iteration_limit")
    # every pattern the box allows (exact arithmetic): a superset of the Clarke gradients
    patterns = max(
        sum((abs(g) for g in grad), Fraction(0)) for grad in exact_gradients(net, box, c)
    )
    assert F(ub.value) >= patterns
    if net.input_dim == 1:  # one t: the relaxation is tight
        assert ub.value <= float(patterns) * (1 + 1e-4) + 1e-300
    ex = lp.exact(net, domain=box, output=output)
    assert F(ub.value) >= F(ex.lower)
    L = exact_lipschitz(net, box.center, box.radius, c, "inf")
    assert ub.value >= L * (1 - 1e-12)
    low = lp.lower_bound(net, domain=box, output=output, samples=500, starts=4, steps=20)
    assert ub.value >= low.value
    sampled = sampled_gradient_norm(net, box, c, 400, np.random.default_rng(0))
    assert ub.value >= sampled * (1 - 1e-12)


def test_all_stable_box_gives_the_gradient_norm():
    net = lp.random_network((3, 6), outputs=3, seed=2)
    # a tiny box around a point where no neuron is at its kink
    x0 = np.array([0.3, -0.2, 0.1])
    box = lp.Box(x0, 1e-6)
    ub = lp.upper_bound(net, method="shor", solver="mixing", domain=box, output=(0, 2))
    assert ub.info.get("exact") is True
    c = resolve_output((0, 2), 3)
    (grad,) = exact_gradients(net, box, c)
    norm = sum((abs(g) for g in grad), Fraction(0))
    assert F(ub.value) >= norm
    assert ub.value == pytest.approx(float(norm), rel=1e-12)


def test_mixing_is_the_default_for_large_one_hidden_layer_shor():
    if MosekBackend().available():
        pytest.skip("with MOSEK the interior-point solver is the default")
    # moment matrix side 1 + 2 n + unstable = 1 + 400 + 4 >= 401
    net = lp.random_network((200, 4), seed=1)
    ub = lp.upper_bound(net, method="shor")
    assert ub.info["solver"] == "mixing" and ub.sound
    box = lp.Box.around(200)
    patterns = max(
        sum((abs(g) for g in grad), Fraction(0)) for grad in exact_gradients(net, box, np.ones(1))
    )
    assert F(ub.value) >= patterns
    small = lp.upper_bound(lp.random_network((4, 6), seed=1), method="shor")
    assert small.info["solver"] != "mixing"


# ----------------------------------------------------------------------------- local programs


@st.composite
def local_cases(draw):
    n = draw(st.integers(1, 3))
    hidden = draw(st.integers(1, 7))
    outputs = draw(st.sampled_from([1, 3]))
    seed = draw(st.integers(0, 2**16))
    net = lp.random_network((n, hidden), outputs=outputs, seed=seed)
    rng = np.random.default_rng(seed + 7)
    # dyadic data, so that x0 + delta is exact and the sampled changes are exact
    x0 = rng.integers(-16, 17, size=n) / 16
    kind = draw(st.sampled_from(["around 0", "positive", "negative", "mixed", "point"]))
    a = rng.integers(0, 33, size=n) / 64
    b = rng.integers(1, 33, size=n) / 64
    lo, hi = {
        "around 0": (-a, b),
        "positive": (a, a + b),
        "negative": (-a - b, -a),
        "mixed": (a - b, a),
        "point": (a - 0.25, a - 0.25),
    }[kind]
    c = rng.standard_normal(outputs)
    return net, x0, lo.astype(float), hi.astype(float), c


@examples(30)
@given(local_cases())
def test_local_program_covers_vertices_patterns_and_changes(case):
    net, x0, lo, hi, c = case
    # a box covering x0 and x0 + [lo, hi] (the segments of the mean value theorem)
    left, right = x0 + np.minimum(lo, 0.0), x0 + np.maximum(hi, 0.0)
    box = lp.Box((left + right) / 2, (right - left) / 2 + 1e-3)
    assert np.all(box.lower <= left) and np.all(right <= box.upper)
    prog = gradient_program(net, box, c, lo, hi)
    res = grothendieck_sdp(prog.G, prog.h)
    total = F(res.bound) + F(prog.constant) + F(prog.error)
    assert total >= exact_delta_max(net, box, c, lo, hi)
    rng = np.random.default_rng(1)
    inner = lo + (hi - lo) * rng.integers(0, 9, size=(20, lo.size)) / 8  # dyadic, exact
    vertices = np.array(list(itertools.product(*zip(lo, hi))))
    f0 = exact_output(net, x0, c)
    for delta in np.vstack([vertices, inner]):
        x = x0 + delta
        assert [F(v) for v in x] == [F(u) + F(d) for u, d in zip(x0, delta)]
        assert total >= exact_output(net, x, c) - f0


@examples(30)
@given(local_cases(), st.booleans())
def test_rounding_constant_covers_the_float_program(case, unit_cube):
    # The maximum of the *float* program (G, h, constant as computed, evaluated exactly) plus
    # ``error`` covers the exact maximum: no Shor slack, only the rounding constant.
    net, x0, lo, hi, c = case
    W1, W2 = net.weights
    # generic (non-dyadic) weights and data: products and sums round
    c = c * (1 + 1e-3 * np.pi)
    box = lp.Box(x0 + 0.1, 1.3)
    if unit_cube:
        prog = gradient_program(net, box, c)
        lo, hi = -np.ones(x0.size), np.ones(x0.size)
    else:
        lo, hi = lo * (1 + 1e-3 * np.e), hi * (1 - 1e-3 / np.e)
        lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
        prog = gradient_program(net, box, c, lo, hi)
    assert prog.error > 0
    paths = np.abs(W1).T @ (np.abs(W2).T @ np.abs(c))
    assert prog.error <= 1e-12 * float(np.maximum(np.abs(lo), np.abs(hi)) @ paths) + 1e-300
    float_max = exact_sign_max(prog.G, prog.h) if prog.G.shape[0] else None
    if float_max is None:  # a point: only r_0 h . r_{1:}
        float_max = sum((abs(F(x)) for x in (prog.h if prog.h is not None else [])), Fraction(0))
    assert float_max + F(prog.constant) + F(prog.error) >= exact_delta_max(net, box, c, lo, hi)
    if unit_cube:
        # the program of the L-inf constant is ||grad||_1 on each pattern, within ``error``
        grads = exact_gradients(net, box, c)
        exact = max(sum((abs(g) for g in grad), Fraction(0)) for grad in grads)
        assert abs(float_max - exact) <= F(prog.error)
