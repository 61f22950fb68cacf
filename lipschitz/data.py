"""Loaders for the shared real data: the SDP-NN MNIST classifier and the MNIST test set.

The data live outside the repository (``../shared/data``, see its README). A loader given no
``path`` uses the first existing directory among

1. ``$LIPSCHITZ_DATA/<name>`` (when the environment variable is set),
2. ``../shared/data/<name>`` relative to the current directory,
3. ``<repo root>/../shared/data/<name>``, the repo root being the parent of this package,

where ``<name>`` is ``sdp-nn`` or ``mnist``.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import numpy as np

from .network import ReLUNetwork

SDP_NN_FILES = ("W1.npy", "B1.npy", "W2.npy", "B2.npy")
MNIST_IMAGES = "t10k-images-idx3-ubyte.gz"
MNIST_LABELS = "t10k-labels-idx1-ubyte.gz"


def data_candidates(name: str) -> list[Path]:
    """The directories searched for the data set ``name``, in order."""
    out = []
    env = os.environ.get("LIPSCHITZ_DATA")
    if env:
        out.append(Path(env) / name)
    out.append(Path.cwd().parent / "shared" / "data" / name)
    repo_root = Path(__file__).resolve().parent.parent
    out.append(repo_root.parent / "shared" / "data" / name)
    return out


def _find(name: str, files: tuple[str, ...], path: Any) -> Path:
    """The data directory: ``path`` if given, else the first existing candidate; checks that
    it holds ``files``."""
    if path is not None:
        looked = [Path(path)]
        directory: Path | None = Path(path) if Path(path).is_dir() else None
    else:
        looked = data_candidates(name)
        directory = next((d for d in looked if d.is_dir()), None)
    if directory is None:
        where = ", ".join(str(d) for d in looked)
        raise FileNotFoundError(
            f"{name} data directory not found; looked in: {where} (set LIPSCHITZ_DATA to the "
            f"folder that holds {name}/, or pass path=)"
        )
    missing = [f for f in files if not (directory / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{name} data incomplete: {directory} lacks {', '.join(missing)}")
    return directory


def load_sdp_nn(path: str | os.PathLike[str] | None = None) -> ReLUNetwork:
    """The 784-500-10 SDP-NN MNIST classifier (Raghunathan et al. 2018).

    Reads ``W1.npy`` (784, 500), ``B1.npy`` (500,), ``W2.npy`` (500, 10) and ``B2.npy`` (10,)
    from ``path`` (a directory) or the default location (see the module docstring). The files
    compute ``logits = relu(x @ W1 + B1) @ W2 + B2`` on pixels / 255, so the network's weights
    are ``W1.T`` and ``W2.T`` (float64).
    """
    d = _find("sdp-nn", SDP_NN_FILES, path)
    W1, B1, W2, B2 = (np.load(d / f, allow_pickle=False) for f in SDP_NN_FILES)
    for name, arr, nd in (("W1", W1, 2), ("B1", B1, 1), ("W2", W2, 2), ("B2", B2, 1)):
        if arr.ndim != nd:
            raise ValueError(f"{d / (name + '.npy')}: expected a {nd}-D array, got {arr.shape}")
    return ReLUNetwork(
        [np.asarray(W1, dtype=float).T, np.asarray(W2, dtype=float).T],
        [np.asarray(B1, dtype=float), np.asarray(B2, dtype=float)],
    )


def _read_idx(file: Path, magic: int, ndim: int, limit: int | None) -> np.ndarray:
    with gzip.open(file, "rb") as fh:
        header = fh.read(4 + 4 * ndim)
        if len(header) < 4 + 4 * ndim:
            raise ValueError(f"{file}: truncated IDX header")
        got = int.from_bytes(header[:4], "big")
        if got != magic:
            raise ValueError(f"{file}: not an IDX file of the expected kind (magic {got:#010x})")
        dims = [int.from_bytes(header[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
        n = dims[0] if limit is None else min(dims[0], limit)
        item = int(np.prod(dims[1:])) if ndim > 1 else 1
        raw = fh.read(n * item)
    if len(raw) != n * item:
        raise ValueError(f"{file}: truncated data ({len(raw)} of {n * item} bytes)")
    return np.frombuffer(raw, dtype=np.uint8).reshape(n, *dims[1:])


def load_mnist(
    path: str | os.PathLike[str] | None = None, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST test set: images ``(N, 784)`` float64 in [0, 1] (pixel / 255) and labels
    ``(N,)`` int64, from the gzip IDX files in ``path`` or the default ``mnist`` directory.
    ``limit`` keeps the first ``limit`` examples only."""
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 0:
            raise ValueError(f"limit must be a non-negative int or None, got {limit!r}")
        limit = int(limit)
    d = _find("mnist", (MNIST_IMAGES, MNIST_LABELS), path)
    images = _read_idx(d / MNIST_IMAGES, 0x00000803, 3, limit)
    labels = _read_idx(d / MNIST_LABELS, 0x00000801, 1, limit)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{d}: {images.shape[0]} images but {labels.shape[0]} labels")
    X = images.reshape(images.shape[0], -1).astype(np.float64) / 255.0
    return X, labels.astype(np.int64)
