"""Hypothesis strategies and settings shared by the tests."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

SEEDS = st.integers(0, 2**32 - 1)


def seeded(examples: int, derandomize: bool = True):
    """``@given(seed=SEEDS)`` with ``examples`` examples, no deadline and no shrinking (a
    smaller seed is not a simpler case)."""

    def wrap(test):
        return settings(
            max_examples=examples,
            deadline=None,
            derandomize=derandomize,
            phases=(Phase.explicit, Phase.reuse, Phase.generate),
            suppress_health_check=[HealthCheck.too_slow],
        )(given(seed=SEEDS)(test))

    return wrap


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
