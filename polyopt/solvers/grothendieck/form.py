"""The data of a sign program ``max t^T G r + r_0 (h . r_{1:})`` (see
:mod:`polyopt.solvers.grothendieck`)."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_sign_program(G: Any, h: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """``(G, h)`` as float arrays, checked (shapes, finite entries); ``h`` is ``None`` when
    absent or zero."""
    G = np.asarray(G, dtype=float)
    if G.ndim != 2 or G.shape[1] < 1:
        raise ValueError(f"G must be a (p, q) matrix with q >= 1, got shape {G.shape}")
    if not np.all(np.isfinite(G)):
        raise ValueError("G has non-finite entries")
    if h is not None:
        h = np.asarray(h, dtype=float).reshape(-1)
        if h.size != G.shape[1] - 1:
            raise ValueError(f"h must have q - 1 = {G.shape[1] - 1} entries, got {h.size}")
        if not np.all(np.isfinite(h)):
            raise ValueError("h has non-finite entries")
        if not np.any(h):
            h = None
    return G, h
