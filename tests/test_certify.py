"""lipschitz.certify: the criterion against brute force, the report, reuse and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

import lipschitz as lp
from lipschitz.cli import main


def linear_net(w, b, m=1):
    """A network that is affine on [-10, 10]^d: one hidden layer with a bias that keeps
    every neuron active there, so f(x) = W_out (x + 100) + b_out."""
    w = np.atleast_2d(np.asarray(w, dtype=float))
    d = w.shape[1]
    W1 = np.eye(d)
    b1 = np.full(d, 100.0)
    b2 = np.asarray(b, dtype=float) - w @ b1
    return lp.ReLUNetwork([W1, w], [b1, b2])


def grid(x0, eps, k=41):
    axes = [np.linspace(c - eps, c + eps, k) for c in x0]
    return np.stack(np.meshgrid(*axes), axis=-1).reshape(-1, len(x0))


def predicted(net, X):
    out = net.forward(X).reshape(X.shape[0], -1)
    return (out[:, 0] > 0).astype(int) if out.shape[1] == 1 else out.argmax(axis=1)


def test_scalar_linear_classifier_is_decided_exactly():
    # f(x) = 2 x1 - x2 + 0.3: L-inf Lipschitz constant ||w||_1 = 3; an input is robust at
    # eps exactly when |f(x0)| > 3 eps (the boundary is a hyperplane)
    net = linear_net([[2.0, -1.0]], [0.3])
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(60, 2))
    eps = [0.05, 0.2]
    rep = lp.certify(net, X, eps=eps, method="fastlip", domain=(np.zeros(2), 2.0))
    f = net.forward(X).reshape(-1)
    for k, e in enumerate(eps):
        robust = np.abs(f) > 3 * e * (1 + 1e-9)
        breakable = np.abs(f) < 3 * e * (1 - 1e-9)
        assert np.all(rep.status[robust, k] == "certified")
        assert np.all(rep.status[breakable, k] == "attacked")
    assert rep.certified_pct.shape == (2,) and rep.certified_pct[0] >= rep.certified_pct[1]


@pytest.mark.parametrize("method", ["fastlip", "shor"])
def test_certified_inputs_have_no_adversarial_point_on_a_grid(method):
    net = lp.random_network((2, 8), outputs=3, seed=3)
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(25, 2))
    rep = lp.certify(net, X, eps=[0.02, 0.1], method=method, attack=True)
    assert rep.n == 25
    for j in range(rep.n):
        for k, e in enumerate(rep.eps):
            if rep.status[j, k] == "certified":
                cls = predicted(net, grid(X[j], e))
                assert np.all(cls == rep.labels[j]), (j, e)
            if rep.status[j, k] == "attacked" and rep.stage[j, k] == "attack":
                xa = rep.adversarial[(j, k)]
                assert np.max(np.abs(xa - X[j])) <= e
                assert predicted(net, xa[None])[0] != rep.labels[j]


def test_multiclass_agrees_with_brute_force_where_decided():
    # every decided input agrees with the dense grid; certified + attacked never overlap
    net = lp.random_network((2, 6), outputs=4, seed=5)
    rng = np.random.default_rng(2)
    X = rng.uniform(-2, 2, size=(40, 2))
    rep = lp.certify(net, X, eps=0.05, method="shor")
    for j in range(rep.n):
        cls = predicted(net, grid(X[j], 0.05))
        robust = np.all(cls == rep.labels[j])
        if rep.status[j, 0] == "certified":
            assert robust
        if rep.status[j, 0] == "attacked":
            assert not robust


def test_misclassified_inputs_are_never_certified():
    net = linear_net([[1.0, 1.0]], [0.0])
    X = np.array([[0.5, 0.5], [-0.5, -0.5]])
    rep = lp.certify(net, X, labels=[0, 0], eps=0.01, method="fastlip")
    assert rep.status[0, 0] == "attacked" and rep.stage[0, 0] == "misclassified"
    assert rep.status[1, 0] == "certified"
    assert rep.clean_accuracy == 50.0


def test_matrix_is_reused_and_checked():
    net = lp.random_network((3, 6), outputs=3, seed=0)
    X = np.random.default_rng(0).uniform(0, 1, size=(10, 3))
    rep = lp.certify(net, X, eps=0.05, method="fastlip", valid_range=(0, 1), attack=False)
    again = lp.certify(net, X, eps=0.05, matrix=rep.bound, valid_range=(0, 1), attack=False)
    assert np.array_equal(rep.status, again.status)
    other = lp.random_network((3, 6), outputs=3, seed=1)
    with pytest.raises(ValueError, match="hash|network"):
        lp.certify(other, X, eps=0.05, matrix=rep.bound, valid_range=(0, 1))
    # a ball that leaves the matrix's domain: refused, not certified
    with pytest.raises(ValueError, match="not inside"):
        lp.certify(net, X, eps=0.5, matrix=rep.bound, valid_range=(0, 1))


def test_bad_input():
    net = lp.random_network((3, 6), outputs=3, seed=0)
    X = np.zeros((4, 3))
    with pytest.raises(ValueError, match="shape"):
        lp.certify(net, np.zeros((4, 2)), eps=0.1, method="fastlip")
    for bad in (0.0, -0.1, np.nan):
        with pytest.raises(ValueError, match="eps"):
            lp.certify(net, X, eps=bad, method="fastlip")
    with pytest.raises(ValueError, match="valid_range"):
        lp.certify(net, X + 2, eps=0.1, method="fastlip", valid_range=(0, 1))
    with pytest.raises(ValueError, match="labels"):
        lp.certify(net, X, labels=[0, 1], eps=0.1, method="fastlip")
    with pytest.raises(ValueError, match="local"):
        lp.certify(net, X, eps=0.1, method="fastlip", local="bogus")
    with pytest.raises(ValueError, match="local stage"):
        lp.certify(net, X, eps=0.1, method="fastlip", local=["crown", "bogus"])
    for bad in (
        {"milp_time_limit": 0},
        {"milp_time_limit": -1.0},
        {"nodes": 3},
        {"time_limit": "x"},
    ):
        with pytest.raises(ValueError, match="stage option"):
            lp.certify(net, X, eps=0.1, method="fastlip", local="milp", stage_options=bad)
    deep = lp.random_network((3, 6, 6), outputs=3, seed=0)
    with pytest.raises(ValueError, match="one hidden layer"):
        lp.certify(deep, X, eps=0.1, method="fastlip", local="shor")


def test_cli_certify(tmp_path, capsys):
    net = lp.random_network((3, 6), outputs=3, seed=0)
    model = tmp_path / "net.npz"
    np.savez(model, W0=net.weights[0], b0=net.biases[0], W1=net.weights[1], b1=net.biases[1])
    X = np.random.default_rng(0).uniform(0, 1, size=(12, 3))
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, x=X, y=predicted(net, X))
    out = tmp_path / "report.json"
    matrix = tmp_path / "matrix.npz"
    argv = [
        "certify", str(model), "--inputs", str(inputs), "--eps", "0.01:0.05:0.02",
        "--method", "fastlip", "--valid-range", "0,1", "--matrix", str(matrix),
        "--out", str(out), "--json",
    ]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["eps"] == [0.01, 0.03, 0.05] and summary["n"] == 12
    assert len(summary["certified_pct"]) == 3 and "attacked_pct" in summary
    records = json.loads(out.read_text())["inputs"]
    assert len(records) == 12 and len(records[0]["results"]) == 3
    assert matrix.exists()
    # the saved matrix is reused: the same figures
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["certified_pct"] == summary["certified_pct"]
    assert main(["certify", str(model), "--inputs", str(inputs), "--eps", "-1"]) == 2


def test_cli_cascade_stages(tmp_path, capsys):
    """--method auto / --local lists: every input certified by the cascade is robust on a
    dense grid of its ball; the milp stage leaves nothing open on a tiny network."""
    net = lp.random_network((2, 5), outputs=3, seed=3)
    model = tmp_path / "net.npz"
    np.savez(model, W0=net.weights[0], b0=net.biases[0], W1=net.weights[1], b1=net.biases[1])
    X = np.random.default_rng(1).uniform(0.2, 0.8, size=(8, 2))
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, x=X, y=predicted(net, X))
    out = tmp_path / "report.json"
    argv = [
        "certify", str(model), "--inputs", str(inputs), "--eps", "0.15", "--method", "auto",
        "--local", "crown,milp", "--milp-time-limit", "20", "--out", str(out), "--json",
    ]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["certified_pct"][0] + summary["attacked_pct"][0] == pytest.approx(100.0)
    records = json.loads(out.read_text())["inputs"]
    g = np.linspace(-0.15, 0.15, 61)
    grid = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
    for rec, x0 in zip(records, X):
        res = rec["results"][0]
        assert res["stage"] in ("matrix", "crown", "milp", "attack", "misclassified")
        if res["status"] == "certified":
            assert np.all(np.argmax(net.forward(x0 + grid), axis=1) == rec["label"])
