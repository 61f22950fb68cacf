"""Hypothesis strategies shared by the Lipschitz tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st


@st.composite
def output_spec(draw, outputs: int):
    """An output functional as the API takes it: an int, a pair ``(i, r)`` or a vector."""
    kind = draw(st.sampled_from(["int", "pair", "vector"] if outputs > 1 else ["int", "vector"]))
    if kind == "int":
        return draw(st.integers(0, outputs - 1))
    if kind == "pair":
        i, r = draw(st.permutations(range(outputs)))[:2]
        return (i, r)
    coef = st.floats(-2, 2, allow_nan=False).filter(lambda v: abs(v) > 0.05)
    return np.array(draw(st.lists(coef, min_size=outputs, max_size=outputs)))
