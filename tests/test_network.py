"""ReLUNetwork against PyTorch / ONNX Runtime, the torch and ONNX readers, the data loaders,
and the error messages on bad input."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import numpy as np
import pytest

import lipschitz
from lipschitz import Box, ReLUNetwork
from lipschitz.data import SDP_NN_FILES, data_candidates, load_mnist, load_sdp_nn

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

nn = torch.nn


# ---------------------------------------------------------------------------- helpers
def torch_net(sizes, seed=0, bias=True):
    """A float64 torch ``Sequential``: Linear (ReLU Linear)* with layer widths ``sizes``."""
    torch.manual_seed(seed)
    mods = []
    for k in range(len(sizes) - 1):
        mods.append(nn.Linear(sizes[k], sizes[k + 1], bias=bias, dtype=torch.float64))
        if k < len(sizes) - 2:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)


def tiny_numpy_net(seed=3):
    rng = np.random.default_rng(seed)
    ws = [rng.normal(size=(3, 2)), rng.normal(size=(1, 3))]
    bs = [rng.normal(size=3), rng.normal(size=1)]
    return ReLUNetwork.from_numpy(ws, bs)


def _t(name, arr):
    return numpy_helper.from_array(np.asarray(arr, dtype=np.float64), name)


def _model(nodes, inits, n_in, n_out, in_shape=None):
    graph = helper.make_graph(
        nodes,
        "net",
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, in_shape or [1, n_in])],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [1, n_out])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    return model


def onnx_gemm(net, transB=1, alpha=1.0, beta=1.0, flatten=False):
    """``net`` as Gemm / Relu nodes; weights stored so that Gemm reproduces ``net``."""
    nodes, inits, cur = [], [], "x"
    if flatten:
        nodes.append(helper.make_node("Flatten", [cur], ["xf"], name="flat"))
        cur = "xf"
    for k, (W, b) in enumerate(zip(net.weights, net.biases)):
        B = W / alpha if transB else (W / alpha).T
        inits += [_t(f"W{k}", B), _t(f"b{k}", b / beta)]
        out = "y" if k == net.depth else f"z{k}"
        nodes.append(
            helper.make_node(
                "Gemm", [cur, f"W{k}", f"b{k}"], [out], name=f"gemm{k}",
                transB=transB, alpha=alpha, beta=beta,
            )
        )  # fmt: skip
        if k < net.depth:
            nodes.append(helper.make_node("Relu", [out], [f"a{k}"], name=f"relu{k}"))
            cur = f"a{k}"
    in_shape = [1, 1, net.input_dim] if flatten else None
    return _model(nodes, inits, net.input_dim, net.output_dim, in_shape)


def onnx_matmul_add(net, swap_add=False, constant_nodes=False):
    """``net`` as MatMul + Add / Relu nodes (``x @ W.T + b``)."""
    nodes, inits, cur = [], [], "x"
    for k, (W, b) in enumerate(zip(net.weights, net.biases)):
        if constant_nodes:
            nodes.append(helper.make_node("Constant", [], [f"B{k}"], value=_t(f"B{k}", W.T)))
            nodes.append(helper.make_node("Constant", [], [f"c{k}"], value=_t(f"c{k}", b)))
        else:
            inits += [_t(f"B{k}", W.T), _t(f"c{k}", b)]
        nodes.append(helper.make_node("MatMul", [cur, f"B{k}"], [f"m{k}"], name=f"mm{k}"))
        out = "y" if k == net.depth else f"z{k}"
        ins = [f"c{k}", f"m{k}"] if swap_add else [f"m{k}", f"c{k}"]
        nodes.append(helper.make_node("Add", ins, [out], name=f"add{k}"))
        if k < net.depth:
            nodes.append(helper.make_node("Relu", [out], [f"a{k}"], name=f"relu{k}"))
            cur = f"a{k}"
    return _model(nodes, inits, net.input_dim, net.output_dim)


def ort_run(model, X):
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    shape = [d if isinstance(d, int) else 1 for d in sess.get_inputs()[0].shape]
    return np.concatenate([sess.run(None, {name: x.reshape(shape)})[0] for x in X])


def torch_export(model, n_in, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                model, (torch.zeros(1, n_in, dtype=torch.float64),), str(path), dynamo=False
            )
        except Exception as exc:  # pragma: no cover - depends on the torch build
            pytest.skip(f"torch.onnx.export (legacy exporter) unavailable: {exc}")
    return path


def same_weights(a, b):
    assert len(a.weights) == len(b.weights)
    for W1, W2, b1, b2 in zip(a.weights, b.weights, a.biases, b.biases):
        assert W1.dtype == W2.dtype == np.float64
        np.testing.assert_array_equal(W1, W2)
        np.testing.assert_array_equal(b1, b2)


# ---------------------------------------------------------------------------- evaluation
SIZES = [(4, 6, 3), (5, 7, 6, 2), (3, 8, 5, 4, 2)]


@pytest.mark.parametrize("sizes", SIZES)
def test_forward_matches_torch(sizes):
    model = torch_net(sizes, seed=len(sizes))
    net = ReLUNetwork.from_torch(model)
    assert net.depth == len(sizes) - 2 and net.hidden_sizes == sizes[1:-1]
    X = np.random.default_rng(0).normal(size=(50, sizes[0]))
    with torch.no_grad():
        ref = model(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(net.forward(X), ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(net(X[0]), ref[0], rtol=0, atol=1e-10)
    assert net(X[0]).shape == (sizes[-1],)


@pytest.mark.parametrize("sizes", SIZES)
def test_jacobian_and_gradients_match_autograd(sizes):
    model = torch_net(sizes, seed=10 + len(sizes))
    net = ReLUNetwork.from_torch(model)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(6, sizes[0]))
    J = net.jacobian(X)
    assert J.shape == (6, sizes[-1], sizes[0])
    for x, Jx in zip(X, J):
        ref = torch.autograd.functional.jacobian(model, torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(Jx, ref, rtol=0, atol=1e-10)
        np.testing.assert_allclose(net.jacobian(x), ref, rtol=0, atol=1e-10)
    c = rng.normal(size=sizes[-1])
    G = net.gradients(X, c)
    np.testing.assert_allclose(G, np.einsum("o,bon->bn", c, J), rtol=0, atol=1e-10)
    np.testing.assert_allclose(net.gradients(X[0], c), c @ J[0], rtol=0, atol=1e-10)


@pytest.mark.parametrize("sizes", SIZES)
def test_activation_pattern_matches_torch(sizes):
    model = torch_net(sizes, seed=20 + len(sizes))
    net = ReLUNetwork.from_torch(model)
    X = np.random.default_rng(2).normal(size=(40, sizes[0]))
    pre = []
    hooks = [
        m.register_forward_hook(lambda mod, inp, out: pre.append(out.detach().numpy()))
        for m in model
        if isinstance(m, nn.Linear)
    ]
    with torch.no_grad():
        model(torch.from_numpy(X))
    for h in hooks:
        h.remove()
    pattern = net.activation_pattern(X)
    assert len(pattern) == net.depth
    for mask, z in zip(pattern, pre[:-1]):
        np.testing.assert_array_equal(mask, z > 0)


@pytest.mark.parametrize("sizes", SIZES)
def test_interval_bounds_contain_preactivations(sizes):
    net = ReLUNetwork.from_torch(torch_net(sizes, seed=30 + len(sizes)))
    rng = np.random.default_rng(3)
    box = Box(rng.normal(size=sizes[0]), rng.uniform(0.1, 1.0, size=sizes[0]))
    bounds = net.interval_bounds(box)
    X = box.sample(2000, rng)
    for (lo, hi), z in zip(bounds, net.preactivations(X)):
        assert np.all(lo <= hi)
        assert np.all(z >= lo - 1e-12) and np.all(z <= hi + 1e-12)


def test_interval_bounds_exact_for_one_layer():
    net = ReLUNetwork.from_torch(torch_net((4, 7, 2), seed=5))
    box = Box(np.array([0.5, -1.0, 0.0, 2.0]), np.array([0.3, 1.0, 2.0, 0.1]))
    [(lo, hi)] = net.interval_bounds(box)
    W = net.weights[0]
    x_lo = box.center - box.radius * np.sign(W)  # row j: the corner minimising neuron j
    x_hi = box.center + box.radius * np.sign(W)
    z_lo = np.array([net.preactivations(x)[0][0, j] for j, x in enumerate(x_lo)])
    z_hi = np.array([net.preactivations(x)[0][0, j] for j, x in enumerate(x_hi)])
    np.testing.assert_allclose(z_lo, lo, rtol=0, atol=1e-12)
    np.testing.assert_allclose(z_hi, hi, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------- readers
@pytest.fixture(scope="module")
def tiny():
    net = tiny_numpy_net()
    return net, {
        "fastlip": lipschitz.upper_bound(net, method="fastlip").value,
        "hr1": lipschitz.upper_bound(net, order=1).value,
    }


def _check_tiny(tiny, other):
    net, values = tiny
    same_weights(net, other)
    assert lipschitz.upper_bound(other, method="fastlip").value == values["fastlip"]
    assert lipschitz.upper_bound(other, order=1).value == values["hr1"]


def test_from_torch_identical(tiny):
    net, _ = tiny
    model = nn.Sequential(
        nn.Linear(2, 3, dtype=torch.float64), nn.ReLU(), nn.Linear(3, 1, dtype=torch.float64)
    )
    with torch.no_grad():
        for lin, W, b in zip(model[::2], net.weights, net.biases):
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
    _check_tiny(tiny, ReLUNetwork.from_torch(model))


def test_from_onnx_gemm_identical(tiny, tmp_path):
    net, _ = tiny
    model = onnx_gemm(net)
    _check_tiny(tiny, ReLUNetwork.from_onnx(model))
    path = tmp_path / "gemm.onnx"
    onnx.save(model, str(path))
    _check_tiny(tiny, ReLUNetwork.from_onnx(path))
    _check_tiny(tiny, ReLUNetwork.from_onnx(str(path)))


def test_from_onnx_matmul_add_identical(tiny):
    net, _ = tiny
    _check_tiny(tiny, ReLUNetwork.from_onnx(onnx_matmul_add(net)))
    _check_tiny(tiny, ReLUNetwork.from_onnx(onnx_matmul_add(net, swap_add=True)))


def test_from_onnx_torch_export_identical(tiny, tmp_path):
    net, _ = tiny
    path = torch_export(net.to_torch(), net.input_dim, tmp_path / "export.onnx")
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert "Gemm" in ops or "MatMul" in ops
    _check_tiny(tiny, ReLUNetwork.from_onnx(path))


def test_torch_export_flatten_and_no_bias(tmp_path):
    """The legacy exporter writes Flatten, Gemm, and a bare MatMul for a bias-free Linear."""
    model = nn.Sequential(nn.Flatten(), *torch_net((6, 5, 4, 3), seed=7))
    model[-1].bias = None
    path = torch_export(model, 6, tmp_path / "nobias.onnx")
    net = ReLUNetwork.from_onnx(path)
    same_weights(net, ReLUNetwork.from_torch(model))
    np.testing.assert_array_equal(net.biases[-1], np.zeros(3))
    X = np.random.default_rng(4).normal(size=(5, 6))
    with torch.no_grad():
        ref = model(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(net(X), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "build",
    [
        lambda n: onnx_gemm(n),
        lambda n: onnx_gemm(n, transB=0, alpha=0.5, beta=2.0),
        lambda n: onnx_gemm(n, flatten=True),
        lambda n: onnx_matmul_add(n),
        lambda n: onnx_matmul_add(n, swap_add=True, constant_nodes=True),
    ],
    ids=["gemm", "gemm-transB0-alpha-beta", "flatten-gemm", "matmul-add", "add-swap-constants"],
)
def test_from_onnx_matches_onnxruntime(build):
    net = ReLUNetwork.from_torch(torch_net((5, 6, 4, 3), seed=8))
    model = build(net)
    read = ReLUNetwork.from_onnx(model)
    for W1, W2, b1, b2 in zip(read.weights, net.weights, read.biases, net.biases):
        np.testing.assert_allclose(W1, W2, rtol=1e-15, atol=0)
        np.testing.assert_allclose(b1, b2, rtol=1e-15, atol=0)
    X = np.random.default_rng(5).normal(size=(7, 5))
    np.testing.assert_allclose(read(X), ort_run(model, X), rtol=0, atol=1e-12)


def test_onnx_identity_and_float32():
    W0, W1 = np.arange(6.0).reshape(2, 3) - 2, np.array([[1.0, -2.0]])
    nodes = [
        helper.make_node("Identity", ["x"], ["xi"]),
        helper.make_node("Gemm", ["xi", "W0"], ["z0"], transB=1),
        helper.make_node("Relu", ["z0"], ["a0"]),
        helper.make_node("Identity", ["a0"], ["ai"]),
        helper.make_node("Gemm", ["ai", "W1", "b1"], ["y"], transB=1),
    ]
    inits = [
        numpy_helper.from_array(W0.astype(np.float32), "W0"),
        numpy_helper.from_array(W1.astype(np.float32), "W1"),
        numpy_helper.from_array(np.array([0.25], np.float32), "b1"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        initializer=inits,
    )
    net = ReLUNetwork.from_onnx(helper.make_model(graph))
    same_weights(net, ReLUNetwork([W0, W1], [np.zeros(2), [0.25]]))


def test_to_torch_round_trip():
    net = lipschitz.random_network((4, 6, 5), outputs=3, seed=2)
    model = net.to_torch()
    assert isinstance(model, nn.Sequential)
    back = ReLUNetwork.from_torch(model)
    same_weights(net, back)
    X = np.random.default_rng(6).normal(size=(9, 4))
    with torch.no_grad():
        ref = model(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(net(X), ref, rtol=0, atol=1e-12)


def test_from_torch_nested_flatten_and_no_bias():
    inner = torch_net((3, 4, 2), seed=9)
    model = nn.Sequential(
        nn.Flatten(),
        nn.Sequential(nn.Linear(6, 3, bias=False, dtype=torch.float64), nn.ReLU()),
        inner,
    )
    net = ReLUNetwork.from_torch(model)
    assert net.hidden_sizes == (3, 4) and net.output_dim == 2
    np.testing.assert_array_equal(net.biases[0], np.zeros(3))
    X = np.random.default_rng(7).normal(size=(4, 2, 3))
    with torch.no_grad():
        ref = model(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(net(X.reshape(4, 6)), ref, rtol=0, atol=1e-12)


def test_from_torch_float32_converted_to_float64():
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    net = ReLUNetwork.from_torch(model)
    assert all(W.dtype == np.float64 for W in net.weights + net.biases)
    np.testing.assert_array_equal(net.weights[0], model[0].weight.detach().double().numpy())


# ---------------------------------------------------------------------------- bad input
def _lin(i, o):
    return nn.Linear(i, o, dtype=torch.float64)


@pytest.mark.parametrize(
    "layers, match",
    [
        (lambda: [_lin(2, 3), nn.Sigmoid(), _lin(3, 1)], r"unsupported layer #1: Sigmoid \(supp"),
        (lambda: [nn.Conv2d(1, 2, 3), nn.ReLU(), _lin(3, 1)], r"unsupported layer #0: Conv2d"),
        (lambda: [_lin(2, 3), nn.ReLU(), nn.Dropout(), _lin(3, 1)], "layer #2: Dropout"),
        (
            lambda: [_lin(2, 3), nn.Sequential(nn.ReLU(), nn.Tanh()), _lin(3, 1)],
            r"unsupported layer #2 \('1.1'\): Tanh",
        ),
        (lambda: [_lin(2, 3), _lin(3, 1)], "two Linear layers in a row"),
        (lambda: [nn.ReLU(), _lin(2, 3), nn.ReLU(), _lin(3, 1)], "starts with a ReLU"),
        (lambda: [_lin(2, 3), nn.ReLU(), _lin(3, 1), nn.ReLU()], "ends with a ReLU"),
        (lambda: [_lin(2, 3), nn.ReLU(), nn.ReLU(), _lin(3, 1)], "two ReLU layers in a row"),
        (lambda: [_lin(2, 3), nn.ReLU(), nn.Flatten(), _lin(3, 1)], "Flatten is only supported"),
        (lambda: [nn.Flatten(0), _lin(2, 3), nn.ReLU(), _lin(3, 1)], "start_dim=1"),
        (lambda: [_lin(2, 3)], "single Linear layer"),
        (lambda: [], "empty Sequential"),
        (lambda: [_lin(2, 3), nn.ReLU(), _lin(4, 1)], "2 input columns|4 input columns"),
    ],
)
def test_from_torch_errors(layers, match):
    with pytest.raises(ValueError, match=match):
        ReLUNetwork.from_torch(nn.Sequential(*layers()))


def test_from_torch_wrong_types():
    with pytest.raises(TypeError, match="torch.nn.Sequential"):
        ReLUNetwork.from_torch([np.eye(2)])
    with pytest.raises(ValueError, match="expected a torch.nn.Sequential, got Linear"):
        ReLUNetwork.from_torch(_lin(2, 3))
    with pytest.raises(ValueError, match="got ModuleList"):
        ReLUNetwork.from_torch(nn.ModuleList([_lin(2, 3), nn.ReLU(), _lin(3, 1)]))


def test_from_torch_nan_weights():
    model = nn.Sequential(_lin(2, 3), nn.ReLU(), _lin(3, 1))
    with torch.no_grad():
        model[2].bias[0] = float("inf")
    with pytest.raises(ValueError, match=r"biases\[1\] contains NaN or infinite"):
        ReLUNetwork.from_torch(model)


def _graph_with(node_list, inits, n_in=2, n_out=1, inputs=None):
    graph = helper.make_graph(
        node_list,
        "bad",
        inputs or [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [1, n_in])],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [1, n_out])],
        initializer=inits,
    )
    return helper.make_model(graph)


W_A, B_A = _t("WA", np.ones((3, 2))), _t("bA", np.ones(3))
W_B, B_B = _t("WB", np.ones((1, 3))), _t("bB", np.ones(1))
INITS = [W_A, B_A, W_B, B_B]


def _gemm(i, w, b, o, **kw):
    return helper.make_node("Gemm", [i, w, b], [o], name=f"g_{o}", transB=1, **kw)


@pytest.mark.parametrize(
    "nodes, match",
    [
        (
            [_gemm("x", "WA", "bA", "z"), helper.make_node("Sigmoid", ["z"], ["a"], name="sig"),
             _gemm("a", "WB", "bB", "y")],
            "unsupported Sigmoid node 'sig'",
        ),
        (
            [helper.make_node("Conv", ["x", "WA"], ["z"], name="conv1"),
             helper.make_node("Relu", ["z"], ["a"]), _gemm("a", "WB", "bB", "y")],
            "unsupported Conv node 'conv1'",
        ),
        (
            [_gemm("x", "WA", "bA", "z", transA=1), helper.make_node("Relu", ["z"], ["a"]),
             _gemm("a", "WB", "bB", "y")],
            "transA=1 is not supported",
        ),
        (
            [_gemm("x", "WA", "bA", "z"), _gemm("z", "WB", "bB", "y")],
            "two affine layers",
        ),
        (
            [helper.make_node("Relu", ["x"], ["r"]), _gemm("r", "WA", "bA", "z"),
             helper.make_node("Relu", ["z"], ["a"]), _gemm("a", "WB", "bB", "y")],
            "Relu before any affine layer",
        ),
        (
            [_gemm("x", "WA", "bA", "z"), helper.make_node("Relu", ["z"], ["a"]),
             _gemm("a", "WB", "bB", "w"), helper.make_node("Relu", ["w"], ["y"])],
            "ends with a Relu",
        ),
        (
            [_gemm("x", "WA", "bA", "z"), helper.make_node("Relu", ["z"], ["a"]),
             helper.make_node("Flatten", ["a"], ["f"]), _gemm("f", "WB", "bB", "y")],
            "Flatten is only supported before the first",
        ),
        (
            [_gemm("x", "WA", "bA", "z"), helper.make_node("Relu", ["z"], ["a"]),
             helper.make_node("Add", ["a", "a"], ["s"]), _gemm("s", "WB", "bB", "y")],
            "Add is supported only",
        ),
        (
            [_gemm("x", "WA", "bA", "z"), helper.make_node("Relu", ["z"], ["a"]),
             helper.make_node("Add", ["a", "bA"], ["s"], name="lonely"),
             _gemm("s", "WB", "bB", "y")],
            "Add is supported only as the bias",
        ),
        (
            [helper.make_node("MatMul", ["WB", "x"], ["m"], name="mm")],
            "first operand",
        ),
        (
            [_gemm("x", "WA", "bA", "z"), helper.make_node("Relu", ["z"], ["a"]),
             helper.make_node("Gemm", ["a", "a"], ["y"], name="g2")],
            "must be a constant",
        ),
        ([_gemm("x", "WA", "bA", "y")], "single affine layer"),
        ([_gemm("x", "WA", "bA", "z")], "used by no node"),
    ],
)  # fmt: skip
def test_from_onnx_errors(nodes, match):
    with pytest.raises(ValueError, match=match):
        ReLUNetwork.from_onnx(_graph_with(nodes, INITS))


def test_from_onnx_bad_shapes_and_values():
    relu = helper.make_node("Relu", ["z"], ["a"])
    ok = [_gemm("x", "WA", "bA", "z"), relu, _gemm("a", "WB", "bB", "y")]
    with pytest.raises(ValueError, match="3 features per example"):
        ReLUNetwork.from_onnx(_graph_with(ok, INITS, n_in=3))
    bad_bias = _t("bA", np.ones(4))
    with pytest.raises(ValueError, match=r"does not broadcast to \(3,\)"):
        ReLUNetwork.from_onnx(_graph_with(ok, [W_A, bad_bias, W_B, B_B]))
    nan_w = _t("WB", np.array([[1.0, np.nan, 0.0]]))
    with pytest.raises(ValueError, match="NaN or infinite"):
        ReLUNetwork.from_onnx(_graph_with(ok, [W_A, B_A, nan_w, B_B]))
    wide_b = _t("WB", np.ones((1, 4)))
    with pytest.raises(ValueError, match="input columns"):
        ReLUNetwork.from_onnx(_graph_with(ok, [W_A, B_A, wide_b, B_B]))
    two_inputs = [
        helper.make_tensor_value_info("x", TensorProto.DOUBLE, [1, 2]),
        helper.make_tensor_value_info("x2", TensorProto.DOUBLE, [1, 2]),
    ]
    with pytest.raises(ValueError, match="exactly one"):
        ReLUNetwork.from_onnx(_graph_with(ok, INITS, inputs=two_inputs))


def test_from_onnx_initializers_listed_as_inputs():
    """Old exporters list the initializers among the graph inputs: only ``x`` is the input."""
    ok = [_gemm("x", "WA", "bA", "z"), helper.make_node("Relu", ["z"], ["a"])]
    ok.append(_gemm("a", "WB", "bB", "y"))
    inputs = [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [1, 2])]
    inputs += [
        helper.make_tensor_value_info(t.name, TensorProto.DOUBLE, list(t.dims)) for t in INITS
    ]
    net = ReLUNetwork.from_onnx(_graph_with(ok, INITS, inputs=inputs))
    same_weights(net, ReLUNetwork([np.ones((3, 2)), np.ones((1, 3))], [np.ones(3), np.ones(1)]))


def test_from_onnx_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="ONNX file not found"):
        ReLUNetwork.from_onnx(tmp_path / "missing.onnx")
    with pytest.raises(TypeError, match="onnx.ModelProto"):
        ReLUNetwork.from_onnx(42)


def test_network_constructor_errors():
    rng = np.random.default_rng(0)
    W0, b0, W1, b1 = rng.normal(size=(3, 2)), np.zeros(3), rng.normal(size=(1, 3)), np.zeros(1)
    with pytest.raises(ValueError, match="input columns"):
        ReLUNetwork([W0, rng.normal(size=(1, 4))], [b0, b1])
    with pytest.raises(ValueError, match=r"biases\[0\] must have shape \(3,\)"):
        ReLUNetwork([W0, W1], [np.zeros(2), b1])
    with pytest.raises(ValueError, match="2 weight matrices but 1 bias"):
        ReLUNetwork([W0, W1], [b0])
    for bad in (np.nan, np.inf, -np.inf):
        Wb = W0.copy()
        Wb[1, 1] = bad
        with pytest.raises(ValueError, match=r"weights\[0\] contains NaN or infinite"):
            ReLUNetwork([Wb, W1], [b0, b1])
        with pytest.raises(ValueError, match=r"biases\[1\] contains NaN or infinite"):
            ReLUNetwork([W0, W1], [b0, np.array([bad])])
    with pytest.raises(ValueError, match="empty network"):
        ReLUNetwork([], [])
    with pytest.raises(ValueError, match="at least one hidden ReLU layer"):
        ReLUNetwork([W0], [b0])
    with pytest.raises(ValueError, match="2-D array"):
        ReLUNetwork([np.ones(3), W1], [b0, b1])


def test_forward_input_shape_errors():
    net = tiny_numpy_net()
    for x in (np.zeros(3), np.zeros((4, 3)), np.zeros((2, 2, 2)), 1.0):
        with pytest.raises(ValueError, match=r"inputs must have shape \(2,\) or \(batch, 2\)"):
            net.forward(x)
    with pytest.raises(ValueError, match="inputs must have shape"):
        net.jacobian(np.zeros(5))
    with pytest.raises(ValueError, match="relu_grad_at_zero"):
        net.jacobian(np.zeros(2), relu_grad_at_zero=2.0)
    with pytest.raises(ValueError, match="box has dimension 3"):
        net.interval_bounds(Box(np.zeros(3), 1.0))


def test_box_errors():
    with pytest.raises(ValueError, match="radius must be > 0"):
        Box(np.zeros(2), 0.0)
    with pytest.raises(ValueError, match="radius must be > 0"):
        Box(np.zeros(2), [1.0, -1.0])
    with pytest.raises(ValueError, match="radius has 3 entries but the center has 2"):
        Box(np.zeros(2), [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        Box([0.0, np.nan], 1.0)
    with pytest.raises(ValueError, match="center is empty"):
        Box([], 1.0)


def test_upper_bound_argument_errors():
    net = tiny_numpy_net()
    multi = lipschitz.random_network((2, 3), outputs=3, seed=1)
    with pytest.raises(ValueError, match="unknown norm '3'"):
        lipschitz.upper_bound(net, norm="3")
    with pytest.raises(ValueError, match="unknown method 'lipsdp'"):
        lipschitz.upper_bound(net, method="lipsdp")
    with pytest.raises(ValueError, match="output index 3 out of range for 3 outputs"):
        lipschitz.upper_bound(multi, method="naive", output=3)
    with pytest.raises(ValueError, match=r"output pair \(1, 1\)"):
        lipschitz.upper_bound(multi, method="naive", output=(1, 1))
    with pytest.raises(ValueError, match="has 3 outputs"):
        lipschitz.upper_bound(multi, method="naive")
    with pytest.raises(ValueError, match="HR order must be 1 or 2, got 3"):
        lipschitz.upper_bound(net, order=3)
    with pytest.raises(ValueError, match="order= applies to method='hr' only"):
        lipschitz.upper_bound(net, order=1, method="naive")
    with pytest.raises(ValueError, match="domain has dimension 3"):
        lipschitz.upper_bound(net, method="naive", domain=(np.zeros(3), 1.0))
    with pytest.raises(TypeError, match="net must be a ReLUNetwork"):
        lipschitz.upper_bound([np.eye(2)], method="naive")


# ---------------------------------------------------------------------------- data loaders
def test_data_loaders_on_synthetic_files(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    d = tmp_path / "sdp-nn"
    d.mkdir()
    arrs = {
        "W1.npy": rng.normal(size=(6, 4)).astype(np.float32),
        "B1.npy": rng.normal(size=4).astype(np.float32),
        "W2.npy": rng.normal(size=(4, 3)).astype(np.float32),
        "B2.npy": rng.normal(size=3).astype(np.float32),
    }
    for name, a in arrs.items():
        np.save(d / name, a)
    net = load_sdp_nn(d)
    np.testing.assert_array_equal(net.weights[0], arrs["W1.npy"].astype(float).T)
    x = rng.uniform(size=(5, 6))
    ref = np.maximum(x @ arrs["W1.npy"] + arrs["B1.npy"], 0) @ arrs["W2.npy"] + arrs["B2.npy"]
    np.testing.assert_allclose(net(x), ref, rtol=1e-5, atol=1e-5)

    monkeypatch.setenv("LIPSCHITZ_DATA", str(tmp_path))
    assert data_candidates("sdp-nn")[0] == d
    same_weights(load_sdp_nn(), net)

    m = tmp_path / "mnist"
    m.mkdir()
    imgs = rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1], np.uint8)
    hdr = (0x803).to_bytes(4, "big") + b"".join(v.to_bytes(4, "big") for v in (4, 28, 28))
    with gzip.open(m / "t10k-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(hdr + imgs.tobytes())
    with gzip.open(m / "t10k-labels-idx1-ubyte.gz", "wb") as fh:
        fh.write((0x801).to_bytes(4, "big") + (4).to_bytes(4, "big") + labels.tobytes())
    X, y = load_mnist()
    assert X.shape == (4, 784) and X.dtype == np.float64 and y.dtype == np.int64
    np.testing.assert_array_equal(X, imgs.reshape(4, -1) / 255.0)
    np.testing.assert_array_equal(y, labels)
    X2, y2 = load_mnist(m, limit=2)
    np.testing.assert_array_equal(X2, X[:2])
    np.testing.assert_array_equal(y2, y[:2])
    with pytest.raises(ValueError, match="limit"):
        load_mnist(m, limit=-1)


def test_data_loaders_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="looked in: .*nowhere"):
        load_sdp_nn(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="lacks W1.npy, B1.npy, W2.npy, B2.npy"):
        load_sdp_nn(tmp_path)
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte.gz"):
        load_mnist(tmp_path)


def _shared(name):
    """The shared data folder ``name`` if present (``../shared/data`` or beside the repo)."""
    for d in data_candidates(name):
        if d.is_dir():
            return d
    pytest.skip(f"shared data folder '{name}' absent (looked in {data_candidates(name)})")


@pytest.fixture(scope="module")
def sdp_nn():
    return _shared("sdp-nn"), _shared("mnist")


def _readme_accuracy(sdp_dir: Path, X, y):
    W1, B1, W2, B2 = (np.load(sdp_dir / f) for f in SDP_NN_FILES)
    logits = np.maximum(X @ W1 + B1, 0) @ W2 + B2  # the formula of data/README.md
    return float(np.mean(logits.argmax(axis=1) == y))


def test_sdp_nn_first_1000(sdp_nn):
    sdp_dir, mnist_dir = sdp_nn
    net = load_sdp_nn()
    assert (net.input_dim, net.hidden_sizes, net.output_dim) == (784, (500,), 10)
    X, y = load_mnist(limit=1000)
    assert X.shape == (1000, 784) and X.min() >= 0 and X.max() <= 1
    acc = float(np.mean(net(X).argmax(axis=1) == y))
    assert acc == _readme_accuracy(sdp_dir, X, y)
    assert acc > 0.9


def test_sdp_nn_full_accuracy(sdp_nn):
    sdp_dir, mnist_dir = sdp_nn
    net = load_sdp_nn(sdp_dir)
    X, y = load_mnist(mnist_dir)
    assert X.shape == (10000, 784)
    np.testing.assert_array_equal(
        np.bincount(y), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    )
    correct = int(np.sum(net(X).argmax(axis=1) == y))
    assert correct == 9582  # 95.82 %
    assert _readme_accuracy(sdp_dir, X, y) == correct / 10000
