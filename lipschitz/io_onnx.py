"""Read the affine layers of a ReLU network stored as ONNX.

The graph must be a chain from its single input to its single output of

* ``Gemm`` (``transA = 0``; ``transB``, ``alpha``, ``beta`` honoured; bias ``C`` optional),
* ``MatMul`` with a constant right operand, optionally followed by an ``Add`` of a constant
  (either operand order) -- ``x @ B + c`` is the layer ``W = B.T``, ``b = c``; a ``MatMul``
  without ``Add`` has a zero bias (this is how ``torch.onnx.export`` writes a bias-free
  ``Linear``),
* ``Relu`` between affine layers,
* ``Flatten`` (``axis = 1``) before the first affine layer, ``Identity`` anywhere.

Constant operands come from graph initializers or ``Constant`` nodes. Two affine layers with
no ``Relu`` between them (``Gemm`` then ``Gemm``, ``MatMul`` then ``MatMul``, ...) are an
error rather than being composed silently, as in :mod:`lipschitz.io_torch`; the one exception
is the ``Add`` that supplies the bias of the preceding ``Gemm``/``MatMul``.

``onnx`` is imported inside :func:`layers_from_onnx` only.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

SUPPORTED = "Gemm, MatMul, Add, Relu, Flatten, Identity (and Constant)"


def _load(path_or_model: Any) -> Any:
    import onnx

    if isinstance(path_or_model, onnx.ModelProto):
        return path_or_model
    what = "the ONNX bytes"
    try:
        if isinstance(path_or_model, (bytes, bytearray)):
            return onnx.load_from_string(bytes(path_or_model))
        if isinstance(path_or_model, (str, os.PathLike)):
            what = repr(os.fspath(path_or_model))
            if not os.path.isfile(path_or_model):
                raise FileNotFoundError(f"ONNX file not found: {what}")
            return onnx.load(path_or_model)
    except FileNotFoundError:
        raise
    except Exception as exc:  # protobuf's DecodeError and friends: not an ONNX model
        raise ValueError(
            f"{what} is not a readable ONNX model ({type(exc).__name__}: {exc})"
        ) from None
    raise TypeError(
        "expected a path to an .onnx file or an onnx.ModelProto, "
        f"got {type(path_or_model).__name__}"
    )


def _node_label(node: Any) -> str:
    name = f" {node.name!r}" if node.name else ""
    domain = f" (domain {node.domain!r})" if node.domain not in ("", "ai.onnx") else ""
    return f"{node.op_type} node{name}{domain}"


def _constant_value(node: Any) -> np.ndarray:
    import onnx
    from onnx import numpy_helper

    for attr in node.attribute:
        if attr.name == "value":
            return numpy_helper.to_array(attr.t)
        if attr.name in ("value_float", "value_floats", "value_int", "value_ints"):
            return np.asarray(onnx.helper.get_attribute_value(attr))
    raise ValueError(
        f"{_node_label(node)}: only Constant nodes with value / value_float(s) / value_int(s) "
        "are supported"
    )


def _attrs(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _bias(c: np.ndarray, out: int, node: Any) -> np.ndarray:
    """Broadcast a bias operand against rows of width ``out`` (shapes (), (1,), (out,),
    (1, out))."""
    try:
        return np.broadcast_to(np.asarray(c, dtype=float), (1, out)).reshape(out).copy()
    except ValueError:
        raise ValueError(
            f"{_node_label(node)}: bias of shape {np.shape(c)} does not broadcast to ({out},)"
        ) from None


def _check_input_shape(value_info: Any, n_in: int, flattened: bool) -> None:
    """Compare the declared input shape (where static) with the first layer's width."""
    tt = value_info.type.tensor_type
    if not tt.HasField("shape"):
        return
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
    name = value_info.name
    if len(dims) != 2 and not flattened:
        raise ValueError(
            f"graph input {name!r} has rank {len(dims)}; expected (batch, {n_in}) or a Flatten "
            "before the first affine layer"
        )
    feature = dims[1:]
    if feature and all(d for d in feature):
        size = int(np.prod(feature))
        if size != n_in:
            raise ValueError(
                f"graph input {name!r} has {size} features per example (shape {dims}) but the "
                f"first affine layer expects {n_in}"
            )


def layers_from_onnx(path_or_model: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Weights ``(out, in)`` and biases (float64) of the ReLU network in an ONNX file or
    ``onnx.ModelProto``. See the module docstring for the supported graphs."""
    model = _load(path_or_model)
    from onnx import numpy_helper

    graph = model.graph
    consts: dict[str, np.ndarray] = {
        init.name: numpy_helper.to_array(init) for init in graph.initializer
    }
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            consts[node.output[0]] = _constant_value(node)

    inputs = [i for i in graph.input if i.name not in consts]
    if len(inputs) != 1:
        names = [i.name for i in inputs]
        raise ValueError(f"the ONNX graph must have exactly one (non-constant) input, got {names}")
    if len(graph.output) != 1:
        names = [o.name for o in graph.output]
        raise ValueError(f"the ONNX graph must have exactly one output, got {names}")
    out_name = graph.output[0].name

    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        if node.op_type == "Constant":
            continue
        for name in dict.fromkeys(node.input):  # a node using a tensor twice counts once
            if name:
                consumers.setdefault(name, []).append(node)

    def const(name: str, node: Any, what: str) -> np.ndarray:
        if name not in consts:
            raise ValueError(
                f"{_node_label(node)}: the {what} {name!r} must be a constant (initializer or "
                "Constant node), not computed from the input"
            )
        if np.iscomplexobj(consts[name]):
            raise TypeError(
                f"{_node_label(node)}: the {what} {name!r} is complex: the network's weights "
                "and biases must be real"
            )
        return np.asarray(consts[name], dtype=float)

    weights: list[np.ndarray] = []
    biases: list[np.ndarray] = []
    pending: tuple[np.ndarray, np.ndarray] | None = None  # affine layer awaiting its Relu
    pending_op = ""  # op type that produced ``pending``; "Add" once its bias was added
    started = False  # an affine layer has been read (Flatten no longer allowed)
    flattened = False
    prev_relu = False
    cur = inputs[0].name
    seen = 0
    while cur != out_name:
        nodes = consumers.get(cur, [])
        if not nodes:
            raise ValueError(
                f"tensor {cur!r} is used by no node and is not the graph output {out_name!r}"
            )
        if len(nodes) > 1:
            labels = ", ".join(_node_label(n) for n in nodes)
            raise ValueError(
                f"tensor {cur!r} feeds {len(nodes)} nodes ({labels}): only a chain of layers "
                "is supported"
            )
        node = nodes[0]
        seen += 1
        if seen > len(graph.node):
            raise ValueError("the ONNX graph has a cycle")
        op = node.op_type
        if node.domain not in ("", "ai.onnx"):
            raise ValueError(f"unsupported {_node_label(node)} (supported: {SUPPORTED})")
        if len(node.output) != 1:
            raise ValueError(f"{_node_label(node)} has {len(node.output)} outputs, expected 1")
        attrs = _attrs(node)

        if op in ("Gemm", "MatMul"):
            if pending is not None:
                raise ValueError(
                    f"{_node_label(node)}: two affine layers ({pending_op}, {op}) without a Relu "
                    "between them; compose them into one layer before export"
                )
            if node.input[0] != cur:
                raise ValueError(
                    f"{_node_label(node)}: the layer input must be the first operand (x @ W), "
                    "got it as the second"
                )
            B = const(node.input[1], node, "weight")
            if B.ndim != 2:
                raise ValueError(f"{_node_label(node)}: weight must be 2-D, got shape {B.shape}")
            if op == "Gemm":
                if attrs.get("transA", 0) != 0:
                    raise ValueError(f"{_node_label(node)}: transA=1 is not supported")
                alpha = float(attrs.get("alpha", 1.0))
                beta = float(attrs.get("beta", 1.0))
                W = alpha * (B if attrs.get("transB", 0) else B.T)
                if len(node.input) > 2 and node.input[2]:
                    b = beta * _bias(const(node.input[2], node, "bias"), W.shape[0], node)
                else:
                    b = np.zeros(W.shape[0])
            else:
                W = B.T.copy()
                b = np.zeros(W.shape[0])
            pending, pending_op, started, prev_relu = (W, b), op, True, False
        elif op == "Add":
            if pending is None or pending_op not in ("Gemm", "MatMul"):
                raise ValueError(
                    f"{_node_label(node)}: Add is supported only as the bias right after a "
                    "Gemm or MatMul"
                )
            others = [n for n in node.input if n != cur]
            if len(others) != 1 or len(node.input) != 2:
                raise ValueError(f"{_node_label(node)}: expected Add(x, bias) or Add(bias, x)")
            W, b = pending
            pending = (W, b + _bias(const(others[0], node, "bias"), W.shape[0], node))
            pending_op = "Add"
        elif op == "Relu":
            if pending is None:
                where = "two Relu in a row" if prev_relu else "a Relu before any affine layer"
                raise ValueError(f"{_node_label(node)}: {where}")
            weights.append(pending[0])
            biases.append(pending[1])
            pending, pending_op, prev_relu = None, "", True
        elif op == "Flatten":
            if started:
                raise ValueError(
                    f"{_node_label(node)}: Flatten is only supported before the first affine layer"
                )
            if attrs.get("axis", 1) != 1:
                raise ValueError(
                    f"{_node_label(node)}: only Flatten with axis=1 is supported, "
                    f"got axis={attrs['axis']}"
                )
            flattened = True
        elif op == "Identity":
            pass
        else:
            raise ValueError(f"unsupported {_node_label(node)} (supported: {SUPPORTED})")
        cur = node.output[0]

    if pending is None:
        if prev_relu:
            raise ValueError("the ONNX graph ends with a Relu; the output layer must be affine")
        raise ValueError("the ONNX graph has no affine (Gemm / MatMul) layer")
    weights.append(pending[0])
    biases.append(pending[1])
    _check_input_shape(inputs[0], weights[0].shape[1], flattened)
    if len(weights) < 2:
        raise ValueError(
            "a single affine layer and no Relu: the network needs at least one hidden Relu layer"
        )
    return weights, biases
