"""Fully connected ReLU networks: construction, forward pass, Jacobians, interval bounds."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .spec import Box

U = 2.0**-53
"""Unit roundoff of float64 (round to nearest)."""
ETA = 2.0**-1074
"""Smallest positive (subnormal) float64: the absolute error bound of one underflowing product
is half of it."""


def gamma(n: int) -> float:
    """Higham's ``gamma_n = n u / (1 - n u)``, rounded up: a sum of ``n`` products computed in
    floating point is within ``gamma_n`` times the sum of the magnitudes of its terms (plus
    ``n ETA`` for underflow)."""
    nu = (int(n) + 1) * U
    return float(np.nextafter(nu / (1.0 - nu) * (1.0 + 4.0 * U), np.inf))


def round_up(x: Any) -> np.ndarray:
    """The next float above ``x`` (elementwise): an upper bound of a value computed with one
    rounding to nearest."""
    return np.nextafter(np.asarray(x, dtype=float), np.inf)


def round_down(x: Any) -> np.ndarray:
    """The next float below ``x`` (elementwise)."""
    return np.nextafter(np.asarray(x, dtype=float), -np.inf)


def dot_error(magnitude: Any, n: int) -> np.ndarray:
    """Upper bound on ``|fl(a . b) - a . b|`` for dot products of length ``n`` whose computed
    sum of magnitudes ``fl(|a| . |b|)`` is ``magnitude`` (elementwise).

    The bound is relative to the magnitude of the summed terms, not to the result, so it stays
    valid under cancellation; ``n ETA`` covers products that underflow, and ``gamma(n + 2)``
    also covers the rounding of ``magnitude`` itself.
    """
    g = gamma(n + 2)
    return round_up(np.asarray(magnitude, dtype=float) * (2.0 * g) + (n + 2) * ETA)


def _check_real(a: Any, name: str) -> None:
    if np.iscomplexobj(a) or (
        hasattr(a, "is_complex") and callable(a.is_complex) and a.is_complex()
    ):
        raise TypeError(f"{name} is complex: the network's weights and biases must be real")


def _readonly(arr: np.ndarray) -> np.ndarray:
    out = np.array(arr, dtype=float, copy=True)
    out.setflags(write=False)
    return out


def _as_matrix(a: Any, name: str) -> np.ndarray:
    _check_real(a, name)
    arr = np.asarray(a, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (out, in), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    return arr


def _as_vector(a: Any, name: str, size: int) -> np.ndarray:
    _check_real(a, name)
    arr = np.asarray(a, dtype=float).reshape(-1) if np.ndim(a) <= 1 else np.asarray(a, float)
    if arr.ndim != 1 or arr.shape[0] != size:
        raise ValueError(f"{name} must have shape ({size},), got {np.shape(a)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    return arr


class ReLUNetwork:
    """``f(x) = W_L relu(... relu(W_1 x + b_1) ...) + b_L``: ReLU hidden layers, affine output.

    ``weights[k]`` has shape ``(out, in)`` as in ``torch.nn.Linear``; the last pair
    ``(weights[-1], biases[-1])`` is the output layer, all others are followed by a ReLU.
    """

    def __init__(self, weights: Sequence[Any], biases: Sequence[Any]) -> None:
        if len(weights) == 0:
            raise ValueError("empty network: give at least one hidden layer and an output layer")
        if len(weights) != len(biases):
            raise ValueError(f"{len(weights)} weight matrices but {len(biases)} bias vectors")
        if len(weights) < 2:
            raise ValueError(
                "the network needs at least one hidden ReLU layer before the output layer "
                "(an affine map's Lipschitz constant is the dual norm of its row)"
            )
        ws, bs = [], []
        for k, (w, b) in enumerate(zip(weights, biases)):
            W = _as_matrix(w, f"weights[{k}]")
            if ws and W.shape[1] != ws[-1].shape[0]:
                raise ValueError(
                    f"weights[{k}] has {W.shape[1]} input columns but layer {k - 1} has "
                    f"{ws[-1].shape[0]} outputs"
                )
            ws.append(_readonly(W))
            bs.append(_readonly(_as_vector(b, f"biases[{k}]", W.shape[0])))
        self.weights: list[np.ndarray] = ws
        self.biases: list[np.ndarray] = bs

    def check(self) -> None:
        """Raise ``ValueError`` unless the weights and biases are still real, finite and of
        consistent shapes.

        The arrays are read-only, but the lists can be reassigned after construction; every
        bound calls this before using them, so that NaN, infinite or complex entries set later
        are reported instead of propagating into a claimed bound.
        """
        ws, bs = self.weights, self.biases
        if len(ws) != len(bs) or len(ws) < 2:
            raise ValueError(
                f"the network has {len(ws)} weight matrices and {len(bs)} bias vectors: it "
                "needs the same number, at least 2"
            )
        prev = None
        for k, (W, b) in enumerate(zip(ws, bs)):
            for arr, name in ((W, f"weights[{k}]"), (b, f"biases[{k}]")):
                _check_real(arr, name)
                arr = np.asarray(arr)
                if arr.dtype.kind not in "fiub":
                    raise ValueError(f"{name} has dtype {arr.dtype}, expected real numbers")
                if not np.all(np.isfinite(arr)):
                    raise ValueError(f"{name} contains NaN or infinite entries")
            W, b = np.asarray(W), np.asarray(b)
            if W.ndim != 2 or b.shape != (W.shape[0],):
                raise ValueError(
                    f"layer {k}: weights of shape {W.shape} and bias of shape {b.shape} do not "
                    "match (expected (out, in) and (out,))"
                )
            if prev is not None and W.shape[1] != prev:
                raise ValueError(
                    f"weights[{k}] has {W.shape[1]} input columns but layer {k - 1} has "
                    f"{prev} outputs"
                )
            prev = W.shape[0]

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_numpy(cls, weights: Sequence[Any], biases: Sequence[Any]) -> ReLUNetwork:
        """From lists of arrays, ``weights[k]`` of shape ``(out, in)``."""
        return cls(weights, biases)

    @classmethod
    def from_torch(cls, model: Any) -> ReLUNetwork:
        """From a ``torch.nn.Sequential`` of ``Linear``, ``ReLU`` and ``Flatten`` layers:
        ``Linear (ReLU Linear)*``, optionally preceded by ``Flatten``."""
        from .io_torch import layers_from_torch

        return cls(*layers_from_torch(model))

    @classmethod
    def from_onnx(cls, path: str | os.PathLike[str] | Any) -> ReLUNetwork:
        """From an ONNX file (or ``onnx.ModelProto``) made of ``Gemm`` / ``MatMul`` + ``Add``,
        ``Relu`` and ``Flatten`` nodes in a chain."""
        from .io_onnx import layers_from_onnx

        return cls(*layers_from_onnx(path))

    def to_torch(self) -> Any:
        """The same network as a ``torch.nn.Sequential`` (float64)."""
        import torch

        mods: list[Any] = []
        for k, (W, b) in enumerate(zip(self.weights, self.biases)):
            lin = torch.nn.Linear(W.shape[1], W.shape[0], dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W))
                lin.bias.copy_(torch.from_numpy(b))
            mods.append(lin)
            if k < self.depth:
                mods.append(torch.nn.ReLU())
        return torch.nn.Sequential(*mods)

    # ------------------------------------------------------------------ shapes
    @property
    def depth(self) -> int:
        """Number of hidden ReLU layers."""
        return len(self.weights) - 1

    @property
    def input_dim(self) -> int:
        return self.weights[0].shape[1]

    @property
    def output_dim(self) -> int:
        return self.weights[-1].shape[0]

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return tuple(W.shape[0] for W in self.weights[:-1])

    def __repr__(self) -> str:
        sizes = (self.input_dim, *self.hidden_sizes, self.output_dim)
        return f"ReLUNetwork({' -> '.join(map(str, sizes))})"

    def content_hash(self) -> str:
        """SHA-256 (hex) of the weights and biases, stable across processes and platforms.

        The digest covers the number of layers and, per layer, the shapes and the float64
        little-endian bytes (C order) of the weight matrix and the bias vector; ``-0.0`` is
        hashed as ``0.0``. Two networks have the same hash exactly when they compute with the
        same numbers.

        Raises
        ------
        ValueError
            When the weights or biases are no longer finite and consistent (see
            :meth:`check`).
        """
        import hashlib

        self.check()
        h = hashlib.sha256(b"lipschitz.ReLUNetwork/v1")
        h.update(len(self.weights).to_bytes(8, "little"))
        for W, b in zip(self.weights, self.biases):
            for arr in (W, b):
                a = np.ascontiguousarray(np.asarray(arr, dtype="<f8") + 0.0, dtype="<f8")
                h.update(len(a.shape).to_bytes(8, "little"))
                for n in a.shape:
                    h.update(int(n).to_bytes(8, "little"))
                h.update(a.tobytes(order="C"))
        return h.hexdigest()

    def _batch(self, x: Any) -> tuple[np.ndarray, bool]:
        X = np.asarray(x, dtype=float)
        single = X.ndim == 1
        X = X.reshape(1, -1) if single else X
        if X.ndim != 2 or X.shape[1] != self.input_dim:
            raise ValueError(
                f"inputs must have shape ({self.input_dim},) or (batch, {self.input_dim}), "
                f"got {np.shape(x)}"
            )
        return X, single

    # ------------------------------------------------------------------ evaluation
    def preactivations(self, x: Any) -> list[np.ndarray]:
        """Pre-activations ``z_k`` of every hidden layer, each of shape ``(batch, p_k)``."""
        X, _ = self._batch(x)
        zs = []
        a = X
        for W, b in zip(self.weights[:-1], self.biases[:-1]):
            z = a @ W.T + b
            zs.append(z)
            a = np.maximum(z, 0.0)
        return zs

    def forward(self, x: Any) -> np.ndarray:
        """Logits for one input ``(n,)`` or a batch ``(batch, n)``."""
        X, single = self._batch(x)
        a = X
        for W, b in zip(self.weights[:-1], self.biases[:-1]):
            a = np.maximum(a @ W.T + b, 0.0)
        out = a @ self.weights[-1].T + self.biases[-1]
        return out[0] if single else out

    __call__ = forward

    def activation_pattern(self, x: Any) -> list[np.ndarray]:
        """Boolean masks ``z_k > 0`` per hidden layer (batch-shaped)."""
        return [z > 0 for z in self.preactivations(x)]

    def jacobian(self, x: Any, relu_grad_at_zero: float = 0.0) -> np.ndarray:
        """Generalized Jacobian of the logits by the chain rule, shape ``(batch, out, in)``
        (``(out, in)`` for one input); ``ReLU'(0)`` is ``relu_grad_at_zero`` (in [0, 1])."""
        if not 0.0 <= relu_grad_at_zero <= 1.0:
            raise ValueError(f"relu_grad_at_zero must lie in [0, 1], got {relu_grad_at_zero}")
        X, single = self._batch(x)
        J = np.broadcast_to(self.weights[0], (X.shape[0], *self.weights[0].shape))
        for k, z in enumerate(self.preactivations(X)):
            d = np.where(z > 0, 1.0, np.where(z < 0, 0.0, relu_grad_at_zero))
            J = self.weights[k + 1] @ (d[:, :, None] * J)
        return J[0] if single else J

    def gradients(self, x: Any, c: Any, relu_grad_at_zero: float = 0.0) -> np.ndarray:
        """Gradients of ``c . f(x)`` at a batch of inputs, shape ``(batch, in)``."""
        X, single = self._batch(x)
        c = np.asarray(c, dtype=float)
        g = np.broadcast_to(c @ self.weights[-1], (X.shape[0], self.weights[-1].shape[1]))
        zs = self.preactivations(X)
        for k in range(self.depth - 1, -1, -1):
            z = zs[k]
            d = np.where(z > 0, 1.0, np.where(z < 0, 0.0, relu_grad_at_zero))
            g = (g * d) @ self.weights[k]
        return g[0] if single else g

    def interval_bounds(self, box: Box) -> list[tuple[np.ndarray, np.ndarray]]:
        """Interval (IBP) bounds ``(lower, upper)`` of each hidden layer's pre-activations
        over the input box, rounded outward: every pre-activation of every point of the box,
        in exact arithmetic, lies in its interval (so a neuron whose interval excludes 0 is
        provably stable)."""
        self.check()
        if box.dim != self.input_dim:
            raise ValueError(f"box has dimension {box.dim}, network input {self.input_dim}")
        lo, hi = box.lower, box.upper
        out = []
        for W, b in zip(self.weights[:-1], self.biases[:-1]):
            zl, zu = affine_enclosure(W, b, lo, hi)
            out.append((zl, zu))
            lo, hi = np.maximum(zl, 0.0), np.maximum(zu, 0.0)
        return out


def affine_enclosure(
    W: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Outward-rounded bounds of ``W x + b`` over the box ``lo <= x <= hi`` (exact arithmetic);
    ``lo`` and ``hi`` may also hold a batch of boxes as rows.

    Midpoint-radius form: ``c = W mid + b`` and ``r = |W| rad`` are computed in floating point,
    then widened by the rounding error of the midpoint and of both products (relative to the
    magnitudes ``|W| |mid| + |b|`` of the summed terms, see :func:`dot_error`).

    Raises
    ------
    ValueError
        When the bounds overflow float64 (weights or box too large).
    """
    W = np.asarray(W, dtype=float)
    n = W.shape[1]
    with np.errstate(over="ignore", invalid="ignore"):
        mid = lo / 2 + hi / 2
        # any float mid will do: the radius is rounded up so that [lo, hi] lies in mid +- rad
        rad = round_up(np.maximum(hi - mid, mid - lo))
        absW = np.abs(W)
        # row vectors, so that a batch of boxes (rows of lo, hi) works as well as one box
        c = mid @ W.T + b
        mag = np.abs(mid) @ absW.T + np.abs(b)
        r = rad @ absW.T
        err = dot_error(mag, n + 1) + dot_error(r, n) + r
        zl, zu = round_down(c - err), round_up(c + err)
    if not (np.all(np.isfinite(zl)) and np.all(np.isfinite(zu))):
        raise ValueError(
            "interval bounds of the pre-activations overflow float64: the weights or the "
            "domain radius are too large (rescale the inputs or the network)"
        )
    return zl, zu
