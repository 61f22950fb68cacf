"""PGD attack: closed-form distances of linear classifiers, brute force on a 2-input grid, the
numpy check of every reported example, scalar outputs, determinism and the input errors."""

from __future__ import annotations

import numpy as np
import pytest

import lipschitz
from lipschitz import ReLUNetwork
from lipschitz.certify.attack import AttackResult, attack, margins

pytest.importorskip("torch")


# ---------------------------------------------------------------------------- helpers
def linear_net(w, b, scalar=False):
    """A ReLU network computing ``f_0 - f_1 = w.x + b`` exactly (``x = relu(x) - relu(-x)``);
    with ``scalar`` the single output ``w.x + b``."""
    w = np.asarray(w, dtype=float)
    d = w.size
    W1 = np.vstack([np.eye(d), -np.eye(d)])
    row = np.concatenate([w, -w])
    if scalar:
        return ReLUNetwork([W1, row[None, :]], [np.zeros(2 * d), [b]])
    return ReLUNetwork([W1, np.vstack([row, np.zeros(2 * d)])], [np.zeros(2 * d), [b, 0.0]])


def wiggly_net(d, outputs=3, seed=1, width=16):
    """A random network whose classes change within ``[0, 1]^d`` (first layer scaled up)."""
    rng = np.random.default_rng(seed)
    ws = [rng.normal(size=(width, d)) * 3, rng.normal(size=(width, width)) / 4]
    ws.append(rng.normal(size=(outputs, width)))
    bs = [rng.normal(size=width), rng.normal(size=width) / 4, rng.normal(size=outputs)]
    return ReLUNetwork(ws, bs)


def check_examples(net, x0, res, lo=-np.inf, hi=np.inf):
    """Independent check of every reported example: in the ball, in the range, and the label's
    logit strictly exceeded (or the sign flipped, for one output)."""
    x0 = np.atleast_2d(x0)
    adv = res.found & ~res.misclassified
    assert np.all(np.isnan(res.x_adv[~res.found]))
    np.testing.assert_array_equal(res.x_adv[res.misclassified], x0[res.misclassified])
    for i in np.flatnonzero(adv):
        x, r = res.x_adv[i], res.label[i]
        delta = x - x0[i]
        if res.norm == "inf":
            assert np.max(np.abs(delta)) <= res.eps
        else:
            assert np.sqrt(np.sum(delta * delta)) <= res.eps
        assert np.all(lo <= x) and np.all(x <= hi)
        out = net.forward(x)
        if out.size == 1:
            assert (out[0] < 0) if r == 1 else (out[0] > 0)
        else:
            assert np.max(np.delete(out, r)) > out[r]
    assert np.all((res.margin > 0) == res.found)


# ---------------------------------------------------------------------------- closed form
@pytest.mark.parametrize("norm", ["inf", "2"])
@pytest.mark.parametrize("scalar", [False, True])
def test_linear_classifier_threshold(norm, scalar):
    rng = np.random.default_rng(7)
    for trial in range(4):
        d = 2 if trial < 2 else 5
        w, b = rng.normal(size=d), rng.normal()
        net = linear_net(w, b, scalar=scalar)
        x0 = rng.normal(size=(3, d))
        dual = np.abs(w).sum() if norm == "inf" else np.linalg.norm(w)
        dist = np.abs(x0 @ w + b) / dual
        for x, r in zip(x0, dist):
            above = attack(net, x, eps=1.01 * r, norm=norm, steps=30, restarts=1)
            below = attack(net, x, eps=0.99 * r, norm=norm, steps=30, restarts=2)
            assert above.found[0] and not above.misclassified[0]
            assert not below.found[0] and below.margin[0] < 0
            check_examples(net, x, above)
            check_examples(net, x, below)
            # the best margin below the threshold is the closed-form one, w.x0 + b moved by
            # eps * ||w||_dual towards the boundary
            np.testing.assert_allclose(
                below.margin[0], -abs(x @ w + b) + 0.99 * r * dual, rtol=1e-9, atol=1e-12
            )


def test_linf_corner_rounding():
    # fl(0.1 + 0.3) - 0.1 > 0.3: the projected corner fails the float check and is moved back.
    w, x0, eps = np.array([1.0, 1.0]), np.array([0.1, 0.7]), 0.3
    b = -(x0 @ w) - 2 * eps + 1e-9  # the boundary just inside the corner x0 + eps
    net = linear_net(-w, -b)  # f_0 - f_1 = -(w.x + b) > 0 at x0: class 0
    res = attack(net, x0, eps=eps, steps=20, restarts=1)
    assert res.found[0]
    assert np.max(np.abs(res.x_adv[0] - x0)) <= eps
    check_examples(net, x0, res)


def test_valid_range_blocks_the_only_direction():
    # f_0 - f_1 = 0.1 - x_0: the boundary is at x_0 = 0.1, beyond the range's 0.05.
    net = linear_net([-1.0, 0.0], 0.1)
    x0 = np.array([0.0, 0.5])
    assert attack(net, x0, eps=0.2, norm="inf").found[0]
    for norm in ("inf", "2"):
        res = attack(net, x0, eps=0.2, norm=norm, valid_range=([-1, 0], [0.05, 1]))
        assert not res.found[0]
        np.testing.assert_allclose(res.margin[0], -0.05, rtol=1e-12)
    for norm in ("inf", "2"):
        res = attack(net, x0, eps=0.2, norm=norm, valid_range=([-1, 0], [0.15, 1]))
        assert res.found[0]
        check_examples(net, x0, res, lo=np.array([-1, 0]), hi=np.array([0.15, 1]))


# ---------------------------------------------------------------------------- brute force
@pytest.mark.parametrize("norm", ["inf", "2"])
def test_grid_brute_force(norm):
    net = wiggly_net(2)
    rng = np.random.default_rng(1)
    x0 = rng.uniform(0.1, 0.9, size=(12, 2))
    lo, hi = 0.0, 1.0
    t = np.linspace(-1.0, 1.0, 121)
    grid = np.stack(np.meshgrid(t, t), axis=-1).reshape(-1, 2)
    if norm == "2":
        grid = grid[np.linalg.norm(grid, axis=1) <= 1.0]
    checked = 0
    for eps in (0.05, 0.2):
        res = attack(net, x0, eps=eps, norm=norm, valid_range=(lo, hi), steps=40, restarts=2)
        check_examples(net, x0, res, lo, hi)
        for i, x in enumerate(x0):
            pts = np.clip(x + eps * grid, lo, hi)
            m = margins(net, pts, np.full(len(pts), res.label[i]))
            frac = np.mean(m > 0)
            if res.found[i]:
                m_adv = margins(net, res.x_adv[i : i + 1], res.label[i : i + 1])[0]
                assert m_adv == res.margin[i] > 0
            else:
                # no large adversarial region is missed
                assert frac < 0.02, (eps, i, frac)
                assert res.margin[i] <= 0
            checked += frac > 0.02
    assert checked >= 3  # the grid found large adversarial regions on some inputs


# ---------------------------------------------------------------------------- reported examples
@pytest.mark.parametrize("norm", ["inf", "2"])
@pytest.mark.parametrize("targeted", [True, False])
def test_reported_examples_pass_numpy_check(norm, targeted):
    net = wiggly_net(6, outputs=4, seed=2, width=20)
    x0 = np.random.default_rng(3).uniform(0, 1, size=(40, 6))
    for eps in (0.02, 0.1, 0.3):
        res = attack(
            net,
            x0,
            eps=eps,
            norm=norm,
            valid_range=(0, 1),
            steps=30,
            restarts=2,
            targeted=targeted,
            batch_size=50,
        )
        check_examples(net, x0, res, 0.0, 1.0)
        assert isinstance(res, AttackResult) and len(res) == 40
        np.testing.assert_array_equal(res.predicted, np.argmax(net.forward(x0), axis=1))
        np.testing.assert_array_equal(res.label, res.predicted)
    assert res.found.sum() > 0


def test_many_classes_top_k():
    net = lipschitz.random_network((5, 20), outputs=14, seed=0)
    x0 = np.random.default_rng(0).normal(size=(10, 5))
    res = attack(net, x0, eps=0.3, steps=20, restarts=1)
    check_examples(net, x0, res)
    res1 = attack(net, x0, eps=0.3, steps=20, restarts=1, top_k=1)
    check_examples(net, x0, res1)
    assert res.found.sum() >= res1.found.sum() > 0


# ---------------------------------------------------------------------------- other cases
def test_seeded_determinism():
    net = lipschitz.random_network((4, 12, 12), outputs=3, seed=5)
    x0 = np.random.default_rng(5).uniform(0, 1, size=(15, 4))
    kw = dict(eps=0.08, norm="2", valid_range=(0, 1), steps=15, restarts=3)
    a, b = attack(net, x0, seed=11, **kw), attack(net, x0, seed=11, **kw)
    np.testing.assert_array_equal(a.found, b.found)
    np.testing.assert_array_equal(a.x_adv, b.x_adv)
    np.testing.assert_array_equal(a.margin, b.margin)


def test_scalar_output_network():
    net = lipschitz.random_network((4, 16, 8), seed=3)
    x0 = np.random.default_rng(2).normal(size=(30, 4))
    f = net.forward(x0)[:, 0]
    res = attack(net, x0, eps=0.5, norm="inf", steps=30, restarts=2)
    np.testing.assert_array_equal(res.predicted, (f > 0).astype(int))
    assert not res.misclassified.any() and res.found.any() and not res.found.all()
    check_examples(net, x0, res)
    flipped = net.forward(res.x_adv[res.found])[:, 0]
    assert np.all(np.sign(flipped) == -np.sign(f[res.found]))
    # given labels: the wrong ones are misclassified clean inputs
    labels = 1 - res.predicted
    res2 = attack(net, x0, labels=labels, eps=0.5)
    assert res2.misclassified.all() and res2.found.all()
    np.testing.assert_array_equal(res2.x_adv, x0)


def test_misclassified_inputs_and_ties():
    net = lipschitz.random_network((3, 10), outputs=3, seed=1)
    x0 = np.random.default_rng(4).normal(size=(8, 3))
    pred = np.argmax(net.forward(x0), axis=1)
    labels = pred.copy()
    labels[::2] = (pred[::2] + 1) % 3
    res = attack(net, x0, labels=labels, eps=1e-3, steps=5, restarts=1)
    np.testing.assert_array_equal(res.misclassified, labels != pred)
    assert res.found[::2].all()
    np.testing.assert_array_equal(res.x_adv[::2], x0[::2])
    check_examples(net, x0, res)
    # a tie f_0 = f_1 is not a misclassification, for either label
    tie = linear_net([1.0, 0.0], 0.0)
    x = np.array([0.0, 0.3])
    for lab in (0, 1):
        r = attack(tie, x, labels=[lab], eps=1e-12, steps=0, restarts=1)
        assert not r.misclassified[0] and not r.found[0] and r.margin[0] == 0.0


def test_summary_and_empty():
    net = lipschitz.random_network((3, 8), outputs=2, seed=0)
    res = attack(net, np.zeros((0, 3)), eps=0.1)
    assert len(res) == 0 and res.x_adv.shape == (0, 3)
    res = attack(net, np.random.default_rng(0).normal(size=(5, 3)), eps=0.5, steps=10)
    s = res.summary()
    assert "L-inf" in s and "/5" in s and "robust accuracy" in s


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(inputs=np.zeros((2, 4))), "shape"),
        (dict(eps=None), "eps"),
        (dict(eps=0.0), "eps"),
        (dict(eps=-1.0), "eps"),
        (dict(eps=np.inf), "eps"),
        (dict(eps=np.nan), "eps"),
        (dict(eps=[0.1, 0.2]), "scalar"),
        (dict(norm="3"), "unknown norm"),
        (dict(norm="1"), "L1"),
        (dict(labels=[0, 1, 0]), "labels"),
        (dict(labels=[0, 3]), "labels"),
        (dict(labels=[0, -1]), "labels"),
        (dict(labels=[0.5, 1]), "integers"),
        (dict(inputs=np.array([[0.1, np.nan, 0.2], [0.1, 0.2, 0.3]])), "NaN"),
        (dict(valid_range=(0.0, 0.25)), "outside valid_range"),
        (dict(valid_range=(1.0, 0.0)), "lo > hi"),
        (dict(valid_range=0.0), "pair"),
        (dict(steps=-1), "steps"),
        (dict(restarts=0), "restarts"),
        (dict(step_size=0.0), "step_size"),
    ],
)
def test_bad_inputs(kwargs, match):
    net = lipschitz.random_network((3, 8), outputs=3, seed=0)
    args = dict(inputs=np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]]), eps=0.1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        attack(net, **args)
