"""Fully connected ReLU networks: construction, forward pass, Jacobians, interval bounds."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .spec import Box


def _as_matrix(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (out, in), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    return arr


def _as_vector(a: Any, name: str, size: int) -> np.ndarray:
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
            ws.append(W)
            bs.append(_as_vector(b, f"biases[{k}]", W.shape[0]))
        self.weights: list[np.ndarray] = ws
        self.biases: list[np.ndarray] = bs

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
        over the input box."""
        if box.dim != self.input_dim:
            raise ValueError(f"box has dimension {box.dim}, network input {self.input_dim}")
        lo, hi = box.lower, box.upper
        out = []
        for W, b in zip(self.weights[:-1], self.biases[:-1]):
            mid, rad = (lo + hi) / 2, (hi - lo) / 2
            c = W @ mid + b
            r = np.abs(W) @ rad
            zl, zu = c - r, c + r
            out.append((zl, zu))
            lo, hi = np.maximum(zl, 0.0), np.maximum(zu, 0.0)
        return out
