"""Read the affine layers of a PyTorch ``Sequential`` ReLU network.

``torch`` is imported inside :func:`layers_from_torch` only: the rest of the package works
without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SUPPORTED = "Linear, ReLU, Flatten"


def _flatten(seq: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """The leaf modules of nested ``Sequential`` containers, in order, with their names."""
    import torch

    out: list[tuple[str, Any]] = []
    for name, mod in seq.named_children():
        full = f"{prefix}{name}"
        if isinstance(mod, torch.nn.Sequential):
            out.extend(_flatten(mod, full + "."))
        else:
            out.append((full, mod))
    return out


def _to_numpy(t: Any, what: str) -> np.ndarray:
    import torch

    if isinstance(t, torch.nn.parameter.UninitializedParameter):
        raise ValueError(f"{what} is not initialized (lazy module): run one forward pass first")
    if t.is_complex():
        raise TypeError(f"{what} is complex: the network's weights and biases must be real")
    return t.detach().cpu().to(torch.float64).numpy().copy()


def layers_from_torch(model: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Weights ``(out, in)`` and biases (float64) of a ``torch.nn.Sequential`` of the form
    ``[Flatten] Linear (ReLU Linear)*`` with at least one ``ReLU``.

    Nested ``Sequential`` containers are flattened; layer numbers (``#k``) in error messages
    count the flattened leaf layers from 0. A ``Linear`` without bias gets a zero bias.
    """
    import torch

    if not isinstance(model, torch.nn.Module):
        raise TypeError(
            f"expected a torch.nn.Sequential of Linear/ReLU/Flatten layers, "
            f"got {type(model).__name__}"
        )
    if not isinstance(model, torch.nn.Sequential):
        raise ValueError(
            f"expected a torch.nn.Sequential, got {type(model).__name__}: the forward pass of "
            f"an arbitrary module cannot be read; wrap its layers ({SUPPORTED}) in a Sequential"
        )
    layers = _flatten(model)
    if not layers:
        raise ValueError("empty Sequential: expected [Flatten] Linear (ReLU Linear)*")

    def where(k: int, name: str) -> str:
        return f"#{k}" if name == str(k) else f"#{k} ('{name}')"

    weights: list[np.ndarray] = []
    biases: list[np.ndarray] = []
    prev: str | None = None  # "flatten", "linear" or "relu"
    for k, (name, mod) in enumerate(layers):
        kind = type(mod).__name__
        if isinstance(mod, torch.nn.Linear):
            if prev == "linear":
                raise ValueError(
                    f"layer {where(k, name)}: two Linear layers in a row without a ReLU between "
                    "them (compose them into one Linear first)"
                )
            W = _to_numpy(mod.weight, f"layer {where(k, name)} weight")
            if mod.bias is None:
                b = np.zeros(W.shape[0])
            else:
                b = _to_numpy(mod.bias, f"layer {where(k, name)} bias")
            weights.append(W)
            biases.append(b)
            prev = "linear"
        elif isinstance(mod, torch.nn.ReLU):
            if prev is None or prev == "flatten":
                raise ValueError(
                    f"layer {where(k, name)}: the network starts with a ReLU; "
                    "expected [Flatten] Linear (ReLU Linear)*"
                )
            if prev == "relu":
                raise ValueError(f"layer {where(k, name)}: two ReLU layers in a row")
            prev = "relu"
        elif isinstance(mod, torch.nn.Flatten):
            if prev is not None:
                raise ValueError(
                    f"layer {where(k, name)}: Flatten is only supported as the first layer"
                )
            if mod.start_dim != 1 or mod.end_dim != -1:
                raise ValueError(
                    f"layer {where(k, name)}: only Flatten(start_dim=1, end_dim=-1) is "
                    f"supported, got start_dim={mod.start_dim}, end_dim={mod.end_dim}"
                )
            prev = "flatten"
        else:
            raise ValueError(f"unsupported layer {where(k, name)}: {kind} (supported: {SUPPORTED})")
    if prev == "relu":
        raise ValueError(
            "the network ends with a ReLU; the last layer must be the Linear output layer"
        )
    if not weights:
        raise ValueError("no Linear layer: expected [Flatten] Linear (ReLU Linear)*")
    if len(weights) < 2:
        raise ValueError(
            "a single Linear layer and no ReLU: the network needs at least one hidden ReLU layer"
        )
    return weights, biases
