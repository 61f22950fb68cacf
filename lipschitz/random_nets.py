"""Random networks of the LipOpt / Chen et al. experiments (banded "sparsity s" weights)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .network import ReLUNetwork


def band_mask(rows: int, cols: int, sparsity: int) -> np.ndarray:
    """``M[j, i] = 1`` if ``|i - j| <= (s - 1) / 2`` (``j`` the output row, ``i`` the input
    column): the band structure of equation (2) in Chen et al."""
    if sparsity < 1:
        raise ValueError(f"sparsity must be >= 1, got {sparsity}")
    j, i = np.indices((rows, cols))
    return (np.abs(i - j) <= (sparsity - 1) / 2).astype(float)


def random_network(
    sizes: Sequence[int],
    sparsity: int | None = None,
    outputs: int = 1,
    seed: int | np.random.Generator | None = 0,
) -> ReLUNetwork:
    """A random ReLU network with layer sizes ``sizes = (input, hidden_1, ...)``.

    Weights and biases are uniform in ``+-1/sqrt(fan_in)`` (PyTorch's default ``nn.Linear``
    initialisation, ``fan_in`` the full input width); every layer except the output layer is
    multiplied by :func:`band_mask` when ``sparsity`` is given. The output layer maps the last
    hidden layer to ``outputs`` logits. Seeded.

    ``random_network((80, 80), sparsity=20)`` is the paper's "(80, 80), s = 20" network:
    80 inputs, one hidden layer of 80 neurons, a scalar output.
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must list the input and >= 1 hidden layer widths, got {sizes}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    dims = sizes + [int(outputs)]
    weights, biases = [], []
    for k in range(len(dims) - 1):
        fan_in, fan_out = dims[k], dims[k + 1]
        bound = 1.0 / np.sqrt(fan_in)
        W = rng.uniform(-bound, bound, size=(fan_out, fan_in))
        b = rng.uniform(-bound, bound, size=fan_out)
        if sparsity is not None and k < len(dims) - 2:
            W = W * band_mask(fan_out, fan_in, sparsity)
        weights.append(W)
        biases.append(b)
    return ReLUNetwork(weights, biases)


def he_network(sizes: Sequence[int], seed: int | np.random.Generator | None = 0) -> ReLUNetwork:
    """A ReLU network with He initialization, the random networks of LipMIP's experiments.

    ``sizes`` lists every layer including the output, as LipMIP writes them:
    ``he_network([16, 16, 16, 2])`` has 16 inputs, two hidden layers of 16 and 2 logits.
    Weights are normal with standard deviation ``sqrt(2 / fan_in)`` (He et al. 2015); biases
    uniform in ``+-1/sqrt(fan_in)`` (PyTorch's default). Seeded.
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 3 or min(sizes) < 1:
        raise ValueError(
            f"sizes must list the input, >= 1 hidden layer and the output widths, got {sizes}"
        )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    weights, biases = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        weights.append(rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_out, fan_in)))
        bound = 1.0 / np.sqrt(fan_in)
        biases.append(rng.uniform(-bound, bound, size=fan_out))
    return ReLUNetwork(weights, biases)
