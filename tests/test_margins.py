"""lipschitz.certify.margins (IBP, Fast-Lin, CROWN) against exact minima, and the local
margin stages of lipschitz.certify.

The references are independent of the module: the exact minimum of a margin over a box comes
from enumerating activation patterns (on the closed region of a pattern the network is affine,
so one LP per pattern and functional, scipy's linprog) and is reported as the margin evaluated
by a forward pass at the best LP minimizer, i.e. at an actual point of the box: every sound
lower bound lies below it. A dense grid cross-checks the enumeration; the LP relaxation over
the ReLU triangles (solved by linprog) is the value every dual bound must stay below and the
one its optimal multipliers reach.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import lipschitz as lp
from lipschitz.certify.margins import (
    dual_bound,
    greedy_multipliers,
    layer_bounds,
    margin_functionals,
    margin_lower_bounds,
)
from lipschitz.certify.report import _local_stages

METHODS = ("ibp", "fastlin", "crown")


# ---------------------------------------------------------------------- references
def functionals(m: int, label: int) -> np.ndarray:
    """Rows ``c`` with ``c . f`` the margin columns of ``margin_lower_bounds`` (scalar: the
    signed output)."""
    if m == 1:
        return np.array([[1.0 if label == 1 else -1.0]])
    C = -np.eye(m)
    C[:, label] += 1.0
    return C


def _lp_min(c, A, b, lo, hi):
    """``min c . x`` over ``{A x <= b} & box`` (None when empty), and a minimizer."""
    res = linprog(
        c,
        A_ub=np.array(A) if A else None,
        b_ub=np.array(b) if b else None,
        bounds=list(zip(lo, hi)),
        method="highs",
    )
    if res.status != 0:
        return None
    return np.clip(res.x, lo, hi)


def exact_minima(net: lp.ReLUNetwork, lo, hi, C: np.ndarray):
    """Per row ``c`` of ``C``: ``min c . f(x)`` over the box, evaluated by a forward pass at
    the minimizer found by enumerating the activation patterns, and that point.

    Every pattern's closed region ``{x in box : z_kj(x) >= 0 (active), <= 0 (inactive)}`` is
    a polyhedron on which ``f`` is affine (at ``z = 0`` both states agree); the regions cover
    the box, so the smallest of the per-region LP minima is the minimum. A prefix of patterns
    is pruned when its region is empty; a branch that the current witness point satisfies
    needs no feasibility LP."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    d = lo.size
    Ws, bs = net.weights, net.biases
    best = np.full(C.shape[0], np.inf)
    arg = np.zeros((C.shape[0], d))

    def leaf(P, q, A, b):
        Y = Ws[-1] @ P  # the output is Y x + const on the region
        for i, c in enumerate(C):
            x = _lp_min(c @ Y, A, b, lo, hi)
            if x is None:
                return
            v = float(c @ net.forward(x))
            if v < best[i]:
                best[i], arg[i] = v, x

    def visit(k, j, P, q, Z, z0, newP, newq, A, b, witness):
        if k == len(Ws) - 1:
            leaf(P, q, A, b)
            return
        if j == 0:
            Z, z0 = Ws[k] @ P, Ws[k] @ q + bs[k]
            newP, newq = np.zeros_like(Z), np.zeros_like(z0)
        if j == Z.shape[0]:
            visit(k + 1, 0, newP, newq, None, None, None, None, A, b, witness)
            return
        for active in (True, False):
            sgn = -1.0 if active else 1.0  # active: -(Z x + z0) <= 0
            A2, b2 = A + [sgn * Z[j]], b + [-sgn * z0[j]]
            w = witness
            if sgn * (Z[j] @ w + z0[j]) > 1e-12:
                w = _lp_min(np.zeros(d), A2, b2, lo, hi)
                if w is None:
                    continue
            P2, q2 = newP.copy(), newq.copy()
            if active:
                P2[j], q2[j] = Z[j], z0[j]
            visit(k, j + 1, P, q, Z, z0, P2, q2, A2, b2, w)

    visit(0, 0, np.eye(d), np.zeros(d), None, None, None, None, [], [], (lo + hi) / 2)
    return best, arg


def grid_minima(net, lo, hi, C, k):
    axes = [np.linspace(a, b, k) for a, b in zip(lo, hi)]
    G = np.stack(np.meshgrid(*axes), axis=-1).reshape(-1, lo.size)
    return (net.forward(G).reshape(G.shape[0], -1) @ C.T).min(axis=0)


def crude_lipschitz(net) -> float:
    """A Lipschitz constant of every ``c . f`` with ``||c||_1 <= 2`` for the L-inf input norm
    (product of the layers' induced inf-norms)."""
    L = 2.0
    for W in net.weights:
        L *= np.abs(W).sum(axis=1).max()
    return float(L)


def triangle_lp(net, lo, hi, bounds, c):
    """Optimum and equality duals of ``min c . y`` over the triangle relaxation with the
    pre-activation bounds ``bounds`` (variables ``x, z_1, a_1, ..., z_K, a_K``)."""
    d = lo.size
    sizes = [W.shape[0] for W in net.weights[:-1]]
    n = d + 2 * sum(sizes)
    offs, o = [], d
    for H in sizes:
        offs.append(o)
        o += 2 * H
    box = list(zip(lo, hi))
    A_eq, b_eq, A_ub, b_ub = [], [], [], []
    for k, H in enumerate(sizes):
        l, u = bounds[k]
        zi, ai = offs[k], offs[k] + H
        prev = (0, d) if k == 0 else (offs[k - 1] + sizes[k - 1], sizes[k - 1])
        for j in range(H):
            row = np.zeros(n)  # W a_prev - z = -b
            row[prev[0] : prev[0] + prev[1]] = net.weights[k][j]
            row[zi + j] = -1.0
            A_eq.append(row)
            b_eq.append(-net.biases[k][j])
        zb, ab = [], []
        for j in range(H):
            zb.append((l[j], u[j]))
            if l[j] >= 0:
                ab.append((None, None))
                r = np.zeros(n)
                r[ai + j], r[zi + j] = 1.0, -1.0
                A_eq.append(r)
                b_eq.append(0.0)
            elif u[j] <= 0:
                ab.append((0.0, 0.0))
            else:
                ab.append((0.0, None))
                r = np.zeros(n)  # z - a <= 0
                r[zi + j], r[ai + j] = 1.0, -1.0
                A_ub.append(r)
                b_ub.append(0.0)
                s = u[j] / (u[j] - l[j])  # a - s z <= -s l
                r = np.zeros(n)
                r[ai + j], r[zi + j] = 1.0, -s
                A_ub.append(r)
                b_ub.append(-s * l[j])
        box += zb + ab
    obj = np.zeros(n)
    last = (offs[-1] + sizes[-1], sizes[-1])
    obj[last[0] : last[0] + last[1]] = c @ net.weights[-1]
    res = linprog(
        obj,
        A_ub=np.array(A_ub) if A_ub else None,
        b_ub=np.array(b_ub) if b_ub else None,
        A_eq=np.array(A_eq),
        b_eq=np.array(b_eq),
        bounds=box,
        method="highs",
    )
    assert res.status == 0, res.message
    # the rows W_k a_{k-1} - z_k = -b_k come first, layer by layer
    marg = res.eqlin.marginals
    nus, pos = [], 0
    for k, H in enumerate(sizes):
        nus.append(-marg[pos : pos + H])
        pos += H
        pos += int(np.sum(bounds[k][0] >= 0))
    return float(res.fun + c @ net.biases[-1]), nus


# ---------------------------------------------------------------------- networks
def random_net(rng, d, hidden, m, scale=1.0):
    sizes = [d, *hidden, m]
    Ws = [rng.normal(size=(b, a)) * scale / np.sqrt(a) for a, b in zip(sizes, sizes[1:])]
    bs = [rng.normal(size=b) * 0.5 for b in sizes[1:]]
    return lp.ReLUNetwork(Ws, bs)


@st.composite
def cases(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    d = draw(st.integers(1, 3))
    depth = draw(st.integers(1, 3))
    hidden = [draw(st.integers(1, 6)) for _ in range(depth)]
    while sum(hidden) > 10:  # keep the enumeration light
        hidden[int(np.argmax(hidden))] -= 1
    m = draw(st.sampled_from([1, 3]))
    radius = draw(st.sampled_from([0.01, 0.1, 0.5, 1.0]))
    label = draw(st.integers(0, 1 if m == 1 else m - 1))
    rng = np.random.default_rng(seed)
    net = random_net(rng, d, hidden, m)
    x0 = rng.uniform(-1, 1, size=d)
    return net, x0 - radius, x0 + radius, label


def check_sound(net, lo, hi, label, grid=True):
    m = net.output_dim
    C = functionals(m, label)
    ref, _ = exact_minima(net, lo, hi, C)
    assert np.all(np.isfinite(ref))
    if grid and lo.size <= 2:
        k = 401 if lo.size == 1 else 81
        g = grid_minima(net, lo, hi, C, k)
        h = float(np.max(hi - lo)) / (k - 1)
        # the minimum is at most every grid value and within the grid's reach of the best
        assert np.all(ref <= g + 1e-9 * (1 + np.abs(g)))
        assert np.all(g - ref <= crude_lipschitz(net) * h + 1e-9)
    tol = 1e-9 * (1 + np.abs(ref))
    out = {}
    for method in METHODS:
        lb = margin_lower_bounds(net, lo[None], hi[None], np.array([label]), method)
        assert lb.shape == (1, m)
        assert not np.any(np.isnan(lb))
        if m > 1:
            assert lb[0, label] == np.inf
            cols = [i for i in range(m) if i != label]
        else:
            cols = [0]
        assert np.all(lb[0, cols] <= ref[cols] + tol[cols]), (method, lb, ref)
        assert np.all(lb[0, cols] < np.inf)
        out[method] = lb[0]
    return ref, out


# ---------------------------------------------------------------------- 1. soundness
@settings(derandomize=True, max_examples=20, deadline=None)
@given(cases())
def test_bounds_below_exact_minimum(case):
    net, lo, hi, label = case
    check_sound(net, lo, hi, label)


@pytest.mark.parametrize(
    "seed, d, hidden, m, radius",
    [
        (0, 1, (6,), 3, 1.0),
        (1, 2, (6, 4), 3, 0.5),
        (2, 2, (3, 3, 3), 1, 1.0),
        (3, 3, (5, 4), 3, 0.3),
        (4, 2, (6,), 1, 2.0),
    ],
)
def test_fixed_seeds_below_exact_minimum(seed, d, hidden, m, radius):
    rng = np.random.default_rng(seed)
    net = random_net(rng, d, list(hidden), m)
    x0 = rng.uniform(-1, 1, size=d)
    for label in range(2 if m == 1 else m):
        check_sound(net, x0 - radius, x0 + radius, label)


def test_batch_rows_are_independent():
    # a batch gives the bounds of each box alone (chunking included)
    rng = np.random.default_rng(5)
    net = random_net(rng, 2, [5, 4], 3)
    X = rng.uniform(-1, 1, size=(7, 2))
    y = rng.integers(0, 3, size=7)
    r = rng.uniform(0.05, 0.5, size=(7, 1))
    for method in METHODS:
        both = margin_lower_bounds(net, X - r, X + r, y, method, chunk=3)
        for k in range(7):
            one = margin_lower_bounds(net, X[k] - r[k], X[k] + r[k], y[k : k + 1], method)
            # the same bound up to the batch's matrix-product rounding (BLAS blocks differ)
            np.testing.assert_allclose(both[k], one[0], rtol=1e-12, atol=1e-12)


def test_unknown_method_and_bad_boxes_raise():
    net = random_net(np.random.default_rng(0), 2, [3], 3)
    with pytest.raises(ValueError):
        margin_lower_bounds(net, np.zeros((1, 2)), np.ones((1, 2)), [0], "lp")
    with pytest.raises(ValueError):
        margin_lower_bounds(net, np.ones((1, 2)), np.zeros((1, 2)), [0], "crown")


# ---------------------------------------------------------------------- 2. tightness
def test_fastlin_and_crown_are_not_always_tighter_than_ibp():
    # f = relu(x) on [-1, 1]: the minimum is 0. IBP (a in [0, 1]) gives 0; Fast-Lin bounds
    # a >= x / 2 (slope u / (u - l)): -1/2; CROWN picks slope 1 (u >= -l): -1. So "Fast-Lin and
    # CROWN >= IBP" is no theorem, even for one hidden layer with exact first-layer bounds.
    net = lp.ReLUNetwork([[[1.0]], [[1.0]]], [[0.0], [0.0]])
    lb = {m: margin_lower_bounds(net, [[-1.0]], [[1.0]], [1], m)[0, 0] for m in METHODS}
    assert -1e-12 <= lb["ibp"] <= 0.0
    assert -0.5 - 1e-12 <= lb["fastlin"] <= -0.5
    assert -1.0 - 1e-12 <= lb["crown"] <= -1.0


def test_crown_slope_zero_when_lower_part_is_wider():
    # f = relu(x) on [-2, 1]: CROWN takes slope 0 (u < -l), so its bound is IBP's, 0; Fast-Lin
    # a >= x / 3: -2/3. For -f (label 0) every method uses the upper line a <= (x + 2) / 3,
    # whose minimum of -(x + 2) / 3 over [-2, 1] is -1, the exact minimum.
    net = lp.ReLUNetwork([[[1.0]], [[1.0]]], [[0.0], [0.0]])
    lo, hi = [[-2.0]], [[1.0]]
    assert -1e-12 <= margin_lower_bounds(net, lo, hi, [1], "crown")[0, 0] <= 0.0
    fl = margin_lower_bounds(net, lo, hi, [1], "fastlin")[0, 0]
    assert -2 / 3 - 1e-12 <= fl <= -2 / 3
    for m in ("fastlin", "crown"):
        v = margin_lower_bounds(net, lo, hi, [0], m)[0, 0]
        assert -1.0 - 1e-12 <= v <= -1.0
    # IBP: -a with a in [0, 1]
    assert -1.0 - 1e-12 <= margin_lower_bounds(net, lo, hi, [0], "ibp")[0, 0] <= -1.0


@pytest.mark.parametrize(
    "seed, d, hidden, m", [(0, 2, (6,), 3), (1, 3, (5, 4), 3), (2, 2, (4, 4, 3), 1)]
)
def test_stable_box_bound_is_the_exact_affine_minimum(seed, d, hidden, m):
    rng = np.random.default_rng(seed)
    net = random_net(rng, d, list(hidden), m)
    # a point whose pre-activations are all away from 0, and a box tiny enough that every
    # neuron is stable on it (checked with the interval bounds)
    for _ in range(1000):
        x0 = rng.uniform(-1, 1, size=d)
        if min(np.abs(z).min() for z in net.preactivations(x0)) > 1e-2:
            break
    r = 1e-6
    lo, hi = x0 - r, x0 + r
    for zl, zu in layer_bounds(net, lo[None], hi[None], "ibp"):
        assert np.all((zl >= 0) | (zu <= 0))
    for label in range(2 if m == 1 else m):
        C = functionals(m, label)
        f0 = net.forward(x0)
        G = np.array([net.gradients(x0, c) for c in C])
        exact = C @ f0 + np.minimum(G * -r, G * r).sum(axis=1)
        scale = 1 + np.abs(C @ f0) + np.abs(G).sum(axis=1)
        ref, _ = exact_minima(net, lo, hi, C)
        np.testing.assert_allclose(ref, exact, rtol=0, atol=1e-12 * scale.max())
        cols = [i for i in range(C.shape[0]) if m == 1 or i != label]
        for method in ("fastlin", "crown"):
            lb = margin_lower_bounds(net, lo[None], hi[None], [label], method)[0]
            assert np.all(lb[cols] <= ref[cols] + 1e-12 * scale[cols])
            assert np.all(np.abs(lb[cols] - exact[cols]) <= 1e-9 * scale[cols]), (method, lb)
        ibp = margin_lower_bounds(net, lo[None], hi[None], [label], "ibp")[0]
        assert np.all(ibp[cols] <= ref[cols] + 1e-12 * scale[cols])


def test_no_hidden_layer_is_exact_in_dual_bound():
    # ReLUNetwork needs a hidden layer (checked); dual_bound itself takes an affine map
    with pytest.raises(ValueError):
        lp.ReLUNetwork([np.ones((3, 2))], [np.zeros(3)])
    rng = np.random.default_rng(3)
    W, b = rng.normal(size=(3, 2)), rng.normal(size=3)
    lo, hi = np.array([[-0.5, 0.2]]), np.array([[0.5, 0.9]])
    C = margin_functionals(np.array([1]), 3)
    v = dual_bound([W], [b], lo, hi, [], C, [])[0]
    G = C[0] @ W
    exact = C[0] @ b + np.minimum(G * lo, G * hi).sum(axis=1)
    assert np.all(v <= exact)
    np.testing.assert_allclose(v, exact, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------- 3. the dual identity
@settings(derandomize=True, max_examples=15, deadline=None)
@given(cases(), st.integers(0, 2**32 - 1), st.sampled_from([0.1, 1.0, 10.0]))
def test_dual_bound_holds_for_any_multipliers(case, seed, spread):
    net, lo, hi, label = case
    m = net.output_dim
    C = functionals(m, label) if m == 1 else margin_functionals(np.array([label]), m)[0]
    ref, _ = exact_minima(net, lo, hi, C)
    rng = np.random.default_rng(seed)
    for how in ("ibp", "crown"):
        bounds = layer_bounds(net, lo[None], hi[None], how)
        nus = [rng.normal(size=(1, C.shape[0], W.shape[0])) * spread for W in net.weights[:-1]]
        v = dual_bound(
            list(net.weights), list(net.biases), lo[None], hi[None], bounds, C[None], nus
        )[0]
        assert not np.any(np.isnan(v))
        assert np.all(v <= ref + 1e-9 * (1 + np.abs(ref))), (how, v, ref)


def test_dual_bound_on_a_multiplier_grid_of_a_known_network():
    # f = relu(x) + relu(x + 10) - 10 = relu(x) + x on [-1, 1]: minimum -1 at x = -1, where
    # the unstable neuron is off (its triangle's vertex (l, 0) carries the minimum). Every
    # multiplier pair gives a bound <= -1 and the LP relaxation's optimum is -1 too (a1 = 0,
    # x = -1 is feasible), reached e.g. at nu = (-1, 1): -nu1 l = -1, all else 0.
    net = lp.ReLUNetwork([[[1.0], [1.0]], [[1.0, 1.0]]], [[0.0, 10.0], [-10.0]])
    lo, hi = np.array([[-1.0]]), np.array([[1.0]])
    bounds = layer_bounds(net, lo, hi, "ibp")
    C = np.ones((1, 1, 1))
    grid = np.linspace(-3.0, 3.0, 25)
    vals = np.array(
        [
            dual_bound(
                list(net.weights), list(net.biases), lo, hi, bounds, C, [np.array([[[a, b]]])]
            )[0, 0]
            for a in grid
            for b in grid
        ]
    )
    assert not np.any(np.isnan(vals))
    assert np.all(vals <= -1.0)
    assert vals.max() >= -1.0 - 1e-9
    at = dual_bound(
        list(net.weights), list(net.biases), lo, hi, bounds, C, [np.array([[[-1.0, 1.0]]])]
    )[0, 0]
    assert -1.0 - 1e-9 <= at <= -1.0
    ref, _ = exact_minima(net, lo[0], hi[0], C[0])
    assert ref[0] == -1.0


@pytest.mark.parametrize("seed, d, hidden", [(0, 2, (5,)), (1, 3, (4, 3)), (2, 1, (3, 3, 2))])
def test_dual_bound_reaches_the_triangle_lp_with_its_duals(seed, d, hidden):
    # weak duality: the dual value of any multipliers is <= the LP optimum over the triangles
    # (same pre-activation bounds); strong duality: the LP's own equality duals reach it
    rng = np.random.default_rng(seed)
    net = random_net(rng, d, list(hidden), 3)
    x0 = rng.uniform(-1, 1, size=d)
    lo, hi = x0 - 0.7, x0 + 0.7
    bounds = layer_bounds(net, lo[None], hi[None], "crown")
    Cs = margin_functionals(np.array([0]), 3)
    ref, _ = exact_minima(net, lo, hi, Cs[0])
    for i in (1, 2):
        c = Cs[0, i]
        opt, nus = triangle_lp(net, lo, hi, [(zl[0], zu[0]) for zl, zu in bounds], c)
        assert opt <= ref[i] + 1e-7 * (1 + abs(ref[i]))
        Ci = c[None, None]
        at_opt = dual_bound(
            list(net.weights),
            list(net.biases),
            lo[None],
            hi[None],
            bounds,
            Ci,
            [nu[None, None] for nu in nus],
        )[0, 0]
        assert at_opt <= opt + 1e-7 * (1 + abs(opt))
        assert at_opt >= opt - 1e-6 * (1 + abs(opt)), (at_opt, opt)
        for method in METHODS:
            greedy = greedy_multipliers(list(net.weights), bounds, Ci, method)
            v = dual_bound(
                list(net.weights), list(net.biases), lo[None], hi[None], bounds, Ci, greedy
            )
            assert v[0, 0] <= opt + 1e-7 * (1 + abs(opt))


# ---------------------------------------------------------------------- 4. rounding
def scalar_and_labels(net, lo, hi):
    """``{label: bound}`` for every method (scalar network, one box)."""
    return {
        (m, y): margin_lower_bounds(net, [lo], [hi], [y], m)[0, 0] for m in METHODS for y in (0, 1)
    }


def test_cancelling_huge_weights_stay_sound():
    # relu(1e8 x + 1) - relu(1e8 x): exactly 1 for x >= 0, 0 for x <= -1e-8, in between
    # 1e8 x + 1, whatever the rounding of the float x
    net = lp.ReLUNetwork([[[1e8], [1e8]], [[1.0, -1.0]]], [[1.0, 0.0], [0.0]])
    for (lo, hi), fmin, fmax in (
        (([0.1], [0.2]), 1.0, 1.0),
        (([-1e-7], [1e-7]), 0.0, 1.0),
        (([-0.3], [-0.2]), 0.0, 0.0),
        (([0.3], [0.3]), 1.0, 1.0),
    ):
        for (m, y), v in scalar_and_labels(net, lo, hi).items():
            assert not np.isnan(v)
            assert v < np.inf
            assert v <= (fmin if y == 1 else -fmax), (m, y, lo, v)
    # three outputs 1e8 (a1 - a2), -1e8 (a1 - a2), 0: exactly 1e8, -1e8, 0 for x >= 0
    net3 = lp.ReLUNetwork(
        [[[1e8], [1e8]], [[1e8, -1e8], [-1e8, 1e8], [0.0, 0.0]]], [[1.0, 0.0], [0.0, 0.0, 0.0]]
    )
    exact = {0: [np.inf, 2e8, 1e8], 1: [-2e8, np.inf, -1e8], 2: [-1e8, 1e8, np.inf]}
    for method in METHODS:
        for y, ex in exact.items():
            lb = margin_lower_bounds(net3, [[0.1]], [[0.2]], [y], method)[0]
            assert not np.any(np.isnan(lb))
            assert np.all(lb <= np.array(ex)), (method, y, lb)


def test_cancelling_first_layer_on_a_point():
    # z = 1e8 x1 - 1e8 x2 + 0.5 is exactly 0.5 at x1 = x2; f = a1 - a2 + 0.25 = 0.25
    W1 = [[1e8, -1e8], [-1e8, 1e8]]
    net = lp.ReLUNetwork([W1, [[1.0, -1.0]]], [[0.5, 0.5], [0.25]])
    p = [0.3, 0.3]
    for (m, y), v in scalar_and_labels(net, p, p).items():
        assert not np.isnan(v) and v < np.inf
        assert v <= (0.25 if y == 1 else -0.25), (m, y, v)


def test_tiny_weights_round_below_unrepresentable_minima():
    # f = 1e-300 relu(1e-300 x) = 1e-600 relu(x): its extremes are not floats
    net = lp.ReLUNetwork([[[1e-300]], [[1e-300]]], [[0.0], [0.0]])
    for lo, hi in (([-1.0], [1.0]), ([0.5], [1.0])):
        for (m, y), v in scalar_and_labels(net, lo, hi).items():
            assert not np.isnan(v)
            # min f is 0 or 5e-601 (below the smallest float): a sound float bound is <= 0;
            # min -f = -1e-600 < 0: the bound must be negative
            if y == 1:
                assert v <= 0.0, (m, lo, v)
            else:
                assert v < 0.0, (m, lo, v)
    # multi-output: f = (1e-600, -1e-600, 0) relu(x) on [0.5, 1]; each margin of label 0 is
    # positive but below every positive float
    net3 = lp.ReLUNetwork([[[1e-300]], [[1e-300], [-1e-300], [0.0]]], [[0.0], [0.0, 0.0, 0.0]])
    for method in METHODS:
        lb = margin_lower_bounds(net3, [[0.5]], [[1.0]], [0], method)[0]
        assert not np.any(np.isnan(lb)) and np.all(lb[1:] <= 0.0), (method, lb)
        lb = margin_lower_bounds(net3, [[0.5]], [[1.0]], [1], method)[0]
        assert not np.any(np.isnan(lb)) and np.all(lb[[0, 2]] < 0.0), (method, lb)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_overflowing_products_give_minus_infinity_not_nan():
    # f = 1e400 x on [1, 2] (not a float): min -f = -2e400 has no float bound but -inf
    net = lp.ReLUNetwork([[[1e200]], [[1e200]]], [[0.0], [0.0]])
    for (m, y), v in scalar_and_labels(net, [1.0], [2.0]).items():
        assert not np.isnan(v), (m, y)
        if y == 0:
            assert v == -np.inf, (m, v)
    # unstable neuron too: [-1, 2]
    for (m, y), v in scalar_and_labels(net, [-1.0], [2.0]).items():
        assert not np.isnan(v), (m, y)
        if y == 0:
            assert v == -np.inf, (m, v)


# ---------------------------------------------------------------------- 5. certify
EPS = np.array([0.1, 0.2, 0.3])


def ball_grid(x0, eps, k=41):
    axes = [np.linspace(c - eps, c + eps, k) for c in x0]
    return np.stack(np.meshgrid(*axes), axis=-1).reshape(-1, x0.size)


def classes(net, G):
    out = net.forward(G).reshape(G.shape[0], -1)
    return (out[:, 0] > 0).astype(int) if out.shape[1] == 1 else out.argmax(axis=1)


def certify_case(m):
    rng = np.random.default_rng(0)
    net = random_net(rng, 2, [6, 6], m)
    X = rng.uniform(-1, 1, size=(20, 2))
    if m == 1:  # put the decision boundary among the inputs
        b = list(net.biases)
        b[-1] = b[-1] - np.median(net.forward(X))
        net = lp.ReLUNetwork(net.weights, b)
    y = classes(net, X)
    y[[3, 11]] = (y[[3, 11]] + 1) % max(m, 2)  # two misclassified inputs
    exact = np.empty((X.shape[0], EPS.size))
    for j, x in enumerate(X):
        C = functionals(m, int(y[j]))
        if m > 1:
            C = np.delete(C, y[j], axis=0)
        for k, e in enumerate(EPS):
            exact[j, k] = exact_minima(net, x - e, x + e, C)[0].min()
    return net, X, y, exact


@pytest.fixture(scope="module")
def multiclass_case():
    return certify_case(3)


@pytest.fixture(scope="module")
def scalar_case():
    return certify_case(1)


def check_report(rep, net, X, y, exact, names):
    labels = {"matrix", "misclassified", ""} | set(names)
    assert set(np.unique(rep.stage)) <= labels, np.unique(rep.stage)
    assert set(names) <= set(rep.stage_seconds)
    cert = rep.status == "certified"
    np.testing.assert_array_equal(cert, np.isin(rep.stage, ["matrix", *names]))
    np.testing.assert_array_equal(rep.status == "unknown", rep.stage == "")
    wrong = classes(net, X) != y
    assert np.all(rep.stage[wrong] == "misclassified") and not np.any(cert[wrong])
    # no certificate where the exact minimum margin is negative; none with a counterexample
    # on a grid of the ball
    assert np.any(exact < 0) and np.any(np.isin(rep.stage, names))
    assert not np.any(cert & (exact < 0))
    for j, k in zip(*np.nonzero(cert)):
        assert exact[j, k] > 0, (j, k)
        assert np.all(classes(net, ball_grid(X[j], EPS[k])) == y[j]), (j, k)
    return cert


@pytest.mark.parametrize(
    "local", ["crown", "ibp", "fastlin", ("ibp", "crown"), ("crown", "fastlip")]
)
def test_certify_local_margin_stages(multiclass_case, local):
    net, X, y, exact = multiclass_case
    rep = lp.certify(
        net, X, y, eps=EPS, method="fastlip", local=local, attack=False, valid_range=None
    )
    # the report names the FastLip stage "local-fastlip", the margin stages by their name
    names = [local] if isinstance(local, str) else list(local)
    names = ["local-fastlip" if n == "fastlip" else n for n in names]
    check_report(rep, net, X, y, exact, names)


def test_certify_cascade_keeps_what_each_stage_certifies(multiclass_case):
    # each stage is deterministic on a box, so the cascade certifies every input that one of
    # its stages certifies alone (at every eps), and names the first stage that did
    net, X, y, exact = multiclass_case
    kw = dict(eps=EPS, method="fastlip", attack=False, valid_range=None)
    both = lp.certify(net, X, y, local=["ibp", "crown"], **kw).status == "certified"
    for alone in ("ibp", "crown"):
        one = lp.certify(net, X, y, local=alone, **kw).status == "certified"
        assert np.all(both[one])


def test_certify_scalar_output_with_margin_stages(scalar_case):
    net, X, y, exact = scalar_case
    for local in ("crown", ["fastlin", "ibp"]):
        rep = lp.certify(
            net, X, y, eps=EPS, method="fastlip", local=local, attack=False, valid_range=None
        )
        check_report(rep, net, X, y, exact, [local] if isinstance(local, str) else local)


def test_auto_cascade_skips_shor_on_deep_networks():
    rng = np.random.default_rng(7)
    deep = random_net(rng, 2, [5, 5], 3)
    shallow = random_net(rng, 2, [5], 3)
    assert _local_stages("auto", deep, "fastlip") == ["crown", "fastlip", "lp-all", "milp"]
    assert _local_stages("auto", shallow, "fastlip") == [
        "crown",
        "fastlip",
        "shor",
        "lp-all",
        "milp",
    ]
    # tiny balls: the matrix decides everything, so the LP / MILP stages have nothing to do
    X = rng.uniform(-1, 1, size=(5, 2))
    for kw in ({"method": "fastlip", "local": "auto"}, {"method": "auto"}):
        rep = lp.certify(deep, X, eps=1e-6, attack=False, **kw)
        assert np.all(rep.status == "certified")
        assert "local-shor" not in rep.stage_seconds and "shor" not in rep.stage_seconds
    for local in ("shor", ["crown", "shor"]):
        with pytest.raises(ValueError):
            lp.certify(deep, X, eps=0.1, method="fastlip", local=local, attack=False)
    for local in ("bogus", ["crown", "auto"], ["none"], ["crown", "bogus"]):
        with pytest.raises(ValueError):
            lp.certify(deep, X, eps=0.1, method="fastlip", local=local, attack=False)
