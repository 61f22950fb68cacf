"""LP-LAST / LP-ALL margin bounds and exact branch-and-bound verification
(:mod:`lipschitz.certify.lp_verify`) against independent references.

References: the exact minimum margin over a box by enumerating the activation regions (each a
polyhedron on which the network is affine, minimized with ``scipy.optimize.linprog``), and
the triangle LP relaxation written out densely for ``linprog``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import lipschitz
from lipschitz.certify import lp_verify as lpv
from lipschitz.certify.local import logit_enclosure
from lipschitz.certify.margins import (
    certified_by_margins,
    dual_bound,
    layer_bounds,
    margin_lower_bounds,
)


# --------------------------------------------------------------------------- references
def random_case(seed: int, outputs: int = 3):
    """A random network (2-3 inputs, 1-3 hidden layers of 2-6 neurons) and a box."""
    rng = np.random.default_rng(seed)
    d = int(rng.integers(2, 4))
    hidden = [int(h) for h in rng.integers(2, 7, size=int(rng.integers(1, 4)))]
    sizes = [d, *hidden, outputs]
    Ws = [rng.normal(size=(sizes[i + 1], sizes[i])) for i in range(len(sizes) - 1)]
    bs = [0.5 * rng.normal(size=s) for s in sizes[1:]]
    net = lipschitz.ReLUNetwork(Ws, bs)
    c = rng.uniform(-1, 1, size=d)
    w = rng.uniform(0.05, 0.6)
    return net, c - w, c + w, c


def functionals(label: int, m: int) -> tuple[list[int], np.ndarray]:
    """Columns of the margins and their functionals ``e_r - e_i`` (``sign f`` for m = 1)."""
    if m == 1:
        return [0], np.array([[1.0 if label == 1 else -1.0]])
    cols = [i for i in range(m) if i != label]
    C = np.zeros((len(cols), m))
    C[:, label] = 1.0
    C[np.arange(len(cols)), cols] = -1.0
    return cols, C


def exact_minima(net, lo, hi, C):
    """``min_x C_i . f(x)`` over the box for each row, by enumerating activation regions:
    depth-first over the neurons, a neuron whose sign is not fixed on the current region
    (two LPs) splits it into ``z >= 0`` and ``z <= 0``; on each full region ``f`` is affine."""
    box = list(zip(lo, hi))
    best = np.full(C.shape[0], np.inf)

    def lpmin(cost, A, b):
        res = linprog(
            cost, A_ub=np.array(A) if A else None, b_ub=np.array(b) if b else None, bounds=box
        )
        return res.fun if res.status == 0 else None

    def rec(k, j, P, q, Zp, zq, A, b, D):
        if k == net.depth:
            for i, c in enumerate(C):
                g = c @ net.weights[-1]
                val = lpmin(g @ P, A, b)
                if val is not None:
                    best[i] = min(best[i], val + g @ q + c @ net.biases[-1])
            return
        if j == Zp.shape[0]:
            Dm = np.array(D, dtype=float)
            P2, q2 = Dm[:, None] * Zp, Dm * zq
            if k + 1 < net.depth:
                W, bb = net.weights[k + 1], net.biases[k + 1]
                rec(k + 1, 0, P2, q2, W @ P2, W @ q2 + bb, A, b, [])
            else:
                rec(k + 1, 0, P2, q2, None, None, A, b, [])
            return
        row, c0 = Zp[j], zq[j]
        mn, mx = lpmin(row, A, b), lpmin(-row, A, b)
        if mn is None or mx is None:  # empty region
            return
        zmin, zmax = mn + c0, -mx + c0
        sides = [1] if zmin >= 0 else [0] if zmax <= 0 else [0, 1]
        for s in sides:
            if s == 1:  # z >= 0
                rec(k, j + 1, P, q, Zp, zq, [*A, -row], [*b, c0], [*D, 1])
            else:  # z <= 0
                rec(k, j + 1, P, q, Zp, zq, [*A, row], [*b, -c0], [*D, 0])

    d = net.input_dim
    rec(0, 0, np.eye(d), np.zeros(d), net.weights[0], net.biases[0], [], [], [])
    return best


def triangle_lp(net, lo, hi, bounds, K, cost_a, const):
    """``min cost_a . a_{K-1} + const`` (``a_{-1} = x``) over the triangle relaxation of
    the first ``K`` hidden layers with ``bounds``, written densely for linprog:
    ``(u - l) a - u z <= -u l`` on unstable neurons, ``a = z`` / ``a = 0`` on stable ones."""
    d = net.input_dim
    sizes = [W.shape[0] for W in net.weights[:K]]
    n = d + 2 * sum(sizes)
    var_b = list(zip(lo, hi))
    A_eq, b_eq, A_ub, b_ub = [], [], [], []
    prev = np.arange(d)
    off = d
    for k in range(K):
        W, b = net.weights[k], net.biases[k]
        l, u = bounds[k]
        H = W.shape[0]
        z, a = np.arange(off, off + H), np.arange(off + H, off + 2 * H)
        off += 2 * H
        zb, ab = [], []
        for j in range(H):
            row = np.zeros(n)
            row[z[j]] = 1.0
            row[prev] = -W[j]
            A_eq.append(row)
            b_eq.append(b[j])
            zb.append((l[j], u[j]))
            if l[j] >= 0:
                row = np.zeros(n)
                row[a[j]], row[z[j]] = 1.0, -1.0
                A_eq.append(row)
                b_eq.append(0.0)
                ab.append((None, None))
            elif u[j] <= 0:
                ab.append((0.0, 0.0))
            else:
                ab.append((0.0, None))
                row = np.zeros(n)
                row[z[j]], row[a[j]] = 1.0, -1.0
                A_ub.append(row)
                b_ub.append(0.0)
                row = np.zeros(n)
                row[a[j]], row[z[j]] = u[j] - l[j], -u[j]
                A_ub.append(row)
                b_ub.append(-u[j] * l[j])
        var_b += zb + ab
        prev = a
    c = np.zeros(n)
    c[prev] = cost_a
    res = linprog(
        c,
        A_ub=np.array(A_ub) if A_ub else None,
        b_ub=np.array(b_ub) if b_ub else None,
        A_eq=np.array(A_eq) if A_eq else None,
        b_eq=np.array(b_eq) if b_eq else None,
        bounds=var_b,
    )
    assert res.status == 0, res.message
    return res.fun + const


def lp_all_reference(net, lo, hi, C):
    """LP-ALL in linprog: the first layer's exact intervals, every later layer's bounds the
    LP's min and max of each neuron (all of them, no greedy bounds), then the margins."""
    W0, b0 = net.weights[0], net.biases[0]
    mid, rad = (lo + hi) / 2, (hi - lo) / 2
    bounds = [(W0 @ mid + b0 - np.abs(W0) @ rad, W0 @ mid + b0 + np.abs(W0) @ rad)]
    for k in range(1, net.depth):
        W, b = net.weights[k], net.biases[k]
        l = np.array([triangle_lp(net, lo, hi, bounds, k, W[j], b[j]) for j in range(len(b))])
        u = -np.array([triangle_lp(net, lo, hi, bounds, k, -W[j], -b[j]) for j in range(len(b))])
        bounds.append((l, u))
    W_out, b_out = net.weights[-1], net.biases[-1]
    return np.array([triangle_lp(net, lo, hi, bounds, net.depth, c @ W_out, c @ b_out) for c in C])


def close(a, b, rel):
    return abs(a - b) <= rel * max(1.0, abs(b))


# --------------------------------------------------------------------------- LP bounds
@pytest.mark.parametrize("seed", range(12))
def test_bounds_are_ordered_and_below_the_exact_minimum(seed):
    """Per margin: ibp <= LP-LAST and crown <= LP-LAST (LP-LAST uses CROWN's own
    intermediate bounds, and IBP's are wider), LP-LAST <= LP-ALL (its bounds are inside the
    greedy ones) <= the exact minimum; each up to rounding (1e-9 relative)."""
    net, lo, hi, c = random_case(seed)
    label = int(np.argmax(net.forward(c)))
    cols, C = functionals(label, 3)
    exact = exact_minima(net, lo, hi, C)
    ibp = margin_lower_bounds(net, lo, hi, [label], "ibp")[0, cols]
    crown = margin_lower_bounds(net, lo, hi, [label], "crown")[0, cols]
    last = lpv.lp_margin_bounds(net, lo, hi, [label], "greedy")[0]
    full = lpv.lp_margin_bounds(net, lo, hi, [label], "lp")[0]
    assert np.isinf(last[label]) and np.isinf(full[label])
    last, full = last[cols], full[cols]
    tol = 1e-9 * (1 + np.abs(exact))
    assert np.all(ibp <= last + tol)
    assert np.all(crown <= last + tol)
    assert np.all(last <= full + tol)
    assert np.all(full <= exact + tol)
    if net.depth == 1:  # exact first-layer intervals: the two LPs coincide
        np.testing.assert_allclose(last, full, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_lp_last_is_the_triangle_lp_optimum(seed):
    """The certified bound (dual_bound at HiGHS's duals) equals the LP optimum computed by
    linprog over the same relaxation with CROWN's intermediate bounds (1e-7 relative)."""
    net, lo, hi, c = random_case(100 + seed)
    label = int(np.argmax(net.forward(c)))
    cols, C = functionals(label, 3)
    greedy = [(bl[0], bu[0]) for bl, bu in layer_bounds(net, lo[None], hi[None], "crown")]
    W_out, b_out = net.weights[-1], net.biases[-1]
    ref = [triangle_lp(net, lo, hi, greedy, net.depth, r @ W_out, r @ b_out) for r in C]
    got = lpv.lp_margin_bounds(net, lo, hi, [label], "greedy")[0, cols]
    for g, r in zip(got, ref):
        assert close(g, r, 1e-7), (g, r)
        assert g <= r + 1e-12 * max(1.0, abs(r))


@pytest.mark.parametrize("seed", [200, 201, 202, 203, 204, 205])
def test_lp_all_equals_the_linprog_lp(seed):
    """LP-ALL equals the same LP written directly for linprog (every hidden layer's bounds
    LP-tightened, no greedy bounds) to 1e-6 relative."""
    rng = np.random.default_rng(seed)
    d, sizes = 2 + seed % 2, [int(h) for h in rng.integers(3, 7, size=2 + seed % 2)]
    dims = [d, *sizes, 3]
    Ws = [rng.normal(size=(dims[i + 1], dims[i])) for i in range(len(dims) - 1)]
    bs = [0.5 * rng.normal(size=s) for s in dims[1:]]
    net = lipschitz.ReLUNetwork(Ws, bs)
    c = rng.uniform(-1, 1, size=d)
    lo, hi = c - 0.5, c + 0.5
    label = int(np.argmax(net.forward(c)))
    cols, C = functionals(label, 3)
    ref = lp_all_reference(net, lo, hi, C)
    got = lpv.lp_margin_bounds(net, lo, hi, [label], "lp")[0, cols]
    for g, r in zip(got, ref):
        assert close(g, r, 1e-6), (g, r)


def test_batch_decide_mode_and_scalar_network():
    """Several boxes at once match one at a time; decide mode certifies exactly the boxes
    the full LP certifies, keeps CROWN's bound where CROWN proves a margin, solves the other
    margins until one is negative (its bound then matches the full LP's), and stays below
    the exact minimum; a one-output network gets one column, per label side."""
    net, lo, hi, c = random_case(7)
    stopped = 0
    for seed in (12, 17, 22, 26):
        big, _, _, c6 = random_case(seed, outputs=6)
        rng = np.random.default_rng(seed)
        centres = c6 + rng.uniform(-0.5, 0.5, size=(12, c6.size))
        widths = np.geomspace(0.005, 0.3, 12)[:, None]
        LO, HI = centres - widths, centres + widths
        labels = np.argmax(big.forward(centres), axis=1)
        full = lpv.lp_margin_bounds(big, LO, HI, labels, "lp")
        one = np.vstack(
            [lpv.lp_margin_bounds(big, a, b, [y], "lp") for a, b, y in zip(LO, HI, labels)]
        )
        np.testing.assert_allclose(full, one, rtol=1e-12, atol=1e-12)
        dec = lpv.lp_margin_bounds(big, LO, HI, labels, "lp", decide=True)
        crown = margin_lower_bounds(big, LO, HI, labels, "crown")
        assert np.array_equal(certified_by_margins(dec), certified_by_margins(full))
        assert np.all(dec[crown > 0] == crown[crown > 0])
        for s in range(12):
            pending = [i for i in range(6) if i != labels[s] and not crown[s, i] > 0]
            solved = [i for i in pending if abs(dec[s, i] - full[s, i]) <= 1e-9]
            if len(solved) < len(pending):
                assert any(dec[s, i] < 0 for i in solved), (s, dec[s], full[s], crown[s])
                stopped += 1
            cols, C = functionals(int(labels[s]), 6)
            assert np.all(dec[s, cols] <= exact_minima(big, LO[s], HI[s], C) + 1e-9)
    assert stopped >= 1

    Ws = [w.copy() for w in net.weights]
    Ws[-1] = Ws[-1][:1]
    bs = [b.copy() for b in net.biases[:-1]] + [net.biases[-1][:1]]
    scalar = lipschitz.ReLUNetwork(Ws, bs)
    for label in (0, 1):
        _, C = functionals(label, 1)
        lb = lpv.lp_margin_bounds(scalar, lo, hi, [label], "lp")
        assert lb.shape == (1, 1)
        assert lb[0, 0] >= margin_lower_bounds(scalar, lo, hi, [label], "crown")[0, 0] - 1e-9
        assert lb[0, 0] <= exact_minima(scalar, lo, hi, C)[0] + 1e-9


# --------------------------------------------------------------------------- exact
def check_verdict(net, lo, hi, label, v, exact_min):
    assert v.margin_lower <= exact_min + 1e-9 * (1 + abs(exact_min))
    if exact_min > 0:
        assert v.status == "certified", (v, exact_min)
        assert v.margin_lower > 0 and v.counterexample is None
    else:
        assert v.status == "attacked", (v, exact_min)
        x = v.counterexample
        assert np.all(lo <= x) and np.all(x <= hi)
        y = net.forward(x)
        flo, fhi = logit_enclosure(net, x[None])
        if net.output_dim == 1:
            side = 1.0 if label == 1 else -1.0
            assert side * y[0] <= 0
            assert (fhi[0, 0] <= 0) if side > 0 else (flo[0, 0] >= 0)
        else:
            others = [i for i in range(net.output_dim) if i != label]
            assert max(y[i] for i in others) >= y[label]
            assert any(flo[0, i] >= fhi[0, label] for i in others)
        assert exact_min <= v.margin_upper <= 0


@pytest.mark.parametrize("attack", [True, False])
def test_milp_verify_agrees_with_the_exact_minimum(attack):
    """'certified' exactly when the exact minimum margin is positive, 'attacked' (with a
    counterexample whose forward pass and enclosure misclassify it) when negative; without
    the local attack the counterexamples come from the branch and bound's LP points."""
    seen = {"certified": 0, "attacked": 0}
    nodes = 0
    for seed in range(300, 324):
        net, lo, hi, c = random_case(seed)
        label = int(np.argmax(net.forward(c)))
        _, C = functionals(label, 3)
        exact_min = float(exact_minima(net, lo, hi, C).min())
        if abs(exact_min) <= 1e-6:
            continue
        v = lpv.milp_verify(net, lo, hi, label, time_limit=20.0, attack=attack)
        check_verdict(net, lo, hi, label, v, exact_min)
        seen[v.status] += 1
        nodes += v.nodes
    assert seen["certified"] >= 5 and seen["attacked"] >= 5
    assert nodes > 0


# (seed, sizes, widths): boxes c +- w just inside and just outside the robust radius (found
# by bisection on the exact minimum), where the LP-ALL bound is negative on both sides
BOUNDARY = [
    (1001, [3, 6, 5, 4, 3], (0.15625, 0.171875)),
    (1002, [2, 6, 6, 3], (0.578125, 0.59375)),
    (1006, [2, 6, 6, 3], (0.3125, 0.328125)),
    (1007, [3, 6, 5, 4, 3], (0.5, 0.515625)),
]


@pytest.mark.parametrize("seed, sizes, widths", BOUNDARY)
def test_milp_verify_near_the_boundary(seed, sizes, widths):
    """Just inside the robust radius the LP-ALL bound is negative but the exact minimum is
    positive: the branch and bound must split neurons to certify; just outside it must find
    a counterexample (no local attack)."""
    rng = np.random.default_rng(seed)
    Ws = [rng.normal(size=(sizes[i + 1], sizes[i])) for i in range(len(sizes) - 1)]
    bs = [0.5 * rng.normal(size=s) for s in sizes[1:]]
    net = lipschitz.ReLUNetwork(Ws, bs)
    c = rng.uniform(-1, 1, size=sizes[0])
    label = int(np.argmax(net.forward(c)))
    _, C = functionals(label, 3)
    inside, outside = widths
    e_in = float(exact_minima(net, c - inside, c + inside, C).min())
    e_out = float(exact_minima(net, c - outside, c + outside, C).min())
    assert e_in > 1e-6 and e_out < -1e-6
    lo, hi = c - inside, c + inside
    assert lpv.lp_margin_bounds(net, lo, hi, [label], "lp").min() < 0
    v = lpv.milp_verify(net, lo, hi, label, time_limit=20.0, attack=False)
    check_verdict(net, lo, hi, label, v, e_in)
    assert v.nodes >= 2
    lo, hi = c - outside, c + outside
    v = lpv.milp_verify(net, lo, hi, label, time_limit=20.0, attack=False)
    check_verdict(net, lo, hi, label, v, e_out)


def test_milp_verify_scalar_network():
    """A one-output network is verified per label side (``f > 0`` for label 1)."""
    net, _, _, c = random_case(11)
    Ws = list(net.weights[:-1]) + [net.weights[-1][:1]]
    bs = list(net.biases[:-1]) + [net.biases[-1][:1]]
    scalar = lipschitz.ReLUNetwork(Ws, bs)
    seen = set()
    for label in (0, 1):
        _, C = functionals(label, 1)
        for w in (0.05, 0.3, 1.0):
            e = float(exact_minima(scalar, c - w, c + w, C)[0])
            if abs(e) > 1e-6:
                for attack in (True, False):
                    v = lpv.milp_verify(scalar, c - w, c + w, label, time_limit=20.0, attack=attack)
                    check_verdict(scalar, c - w, c + w, label, v, e)
                    seen.add(v.status)
    assert seen == {"certified", "attacked"}


def test_empty_node_is_proved_by_the_farkas_ray():
    """A node whose splits contradict each other (``x1 + x2 <= 0`` and ``x1 + x2 >= 0.1``)
    has an infeasible LP; ``dual_bound`` at HiGHS's Farkas ray, with a zero objective, is
    positive, which proves the node empty."""
    net = lipschitz.ReLUNetwork(
        [np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]]), np.ones((3, 3))],
        [np.array([0.0, 0.1, 0.0]), np.zeros(3)],
    )
    lo, hi = np.full(2, -0.1), np.full(2, 0.1)
    l, u = (b[0].copy() for b in layer_bounds(net, lo[None], hi[None])[0])
    assert np.all(l < 0) and np.all(u > 0)
    u[:2] = 0.0
    lp = lpv._TriangleLP(net, lo, hi)
    lp.add_layer(l, u)
    status, _, _, _, ray = lp.solve(lp.a_idx[-1], np.ones(3), None)
    assert status == "kInfeasible" and ray is not None
    nus = [np.stack([ray[0], -ray[0]])[None]]
    proof = dual_bound(
        list(net.weights),
        list(net.biases),
        lo[None],
        hi[None],
        [(l[None], u[None])],
        np.zeros((1, 2, 3)),
        nus,
    )
    assert np.max(proof) > 0


# --------------------------------------------------------------------------- soundness
@settings(derandomize=True, max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), width=st.floats(0.01, 1.0))
def test_every_bound_is_below_the_exact_minimum(seed, width):
    net, _, _, c = random_case(seed)
    lo, hi = c - width, c + width
    label = int(np.argmax(net.forward(c)))
    cols, C = functionals(label, 3)
    exact = exact_minima(net, lo, hi, C)
    tol = 1e-9 * (1 + np.abs(exact))
    for inter in ("greedy", "lp"):
        for decide in (False, True):
            lb = lpv.lp_margin_bounds(net, lo, hi, [label], inter, decide=decide)[0, cols]
            assert np.all(lb <= exact + tol)
    v = lpv.milp_verify(net, lo, hi, label, time_limit=5.0)
    assert v.margin_lower <= exact.min() + 1e-9 * (1 + abs(exact.min()))
    if v.status == "certified":
        assert exact.min() > 0
    if v.status == "attacked":
        assert exact.min() <= v.margin_upper <= 0


# --------------------------------------------------------------------------- bad inputs
def test_bad_inputs_raise():
    net, lo, hi, c = random_case(1)
    label = int(np.argmax(net.forward(c)))
    cases = [
        dict(lo=hi, hi=lo),  # lo > hi
        dict(lo=lo[:-1], hi=hi[:-1]),  # wrong width
        dict(lo=np.where(np.arange(lo.size) == 0, np.nan, lo), hi=hi),
        dict(lo=lo, hi=np.full(hi.size, np.inf)),
    ]
    for kw in cases:
        with pytest.raises(ValueError):
            lpv.lp_margin_bounds(net, kw["lo"], kw["hi"], [label])
        with pytest.raises(ValueError):
            lpv.milp_verify(net, kw["lo"], kw["hi"], label)
    for t in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="time_limit"):
            lpv.lp_margin_bounds(net, lo, hi, [label], time_limit=t)
        with pytest.raises(ValueError, match="time_limit"):
            lpv.milp_verify(net, lo, hi, label, time_limit=t)
    with pytest.raises(ValueError, match="intermediate"):
        lpv.lp_margin_bounds(net, lo, hi, [label], intermediate="crown")
    with pytest.raises(ValueError, match="labels"):
        lpv.lp_margin_bounds(net, lo, hi, [7])
    with pytest.raises(ValueError, match="labels"):
        lpv.lp_margin_bounds(net, lo, hi, [0, 1])
    with pytest.raises(ValueError, match="x0"):
        lpv.milp_verify(net, lo, hi, label, x0=hi + 1.0)
    with pytest.raises(ValueError, match="one box"):
        lpv.milp_verify(net, np.vstack([lo, lo]), np.vstack([hi, hi]), label)


def test_time_limit_falls_back_to_valid_bounds():
    """With no time left every margin keeps CROWN's bound, and the branch and bound reports
    'unknown' with a bound below the exact minimum."""
    net, _, _, c = random_case(11)
    lo, hi = c - 1.0, c + 1.0
    label = int(np.argmax(net.forward(c)))
    cols, C = functionals(label, 3)
    crown = margin_lower_bounds(net, lo, hi, [label], "crown")
    assert crown[0, cols].min() < 0
    for inter in ("greedy", "lp"):
        got = lpv.lp_margin_bounds(net, lo, hi, [label], inter, time_limit=1e-9)
        np.testing.assert_array_equal(got, crown)
    v = lpv.milp_verify(net, lo, hi, label, time_limit=1e-9, attack=False)
    exact = exact_minima(net, lo, hi, C).min()
    assert v.margin_lower <= exact + 1e-9
    assert v.status == "unknown" and v.counterexample is None
