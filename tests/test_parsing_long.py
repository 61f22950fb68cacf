"""Long polynomial texts: expanded sums read directly, others by sympy in term groups (its
parser recurses once per term)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import polyopt as po
from polyopt.parsing import (
    CHUNK_CHARS,
    _expanded_polynomial,
    parse_polynomial,
    top_level_terms,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from instances import chained_singular  # noqa: E402


def test_a_problem_with_thousands_of_terms_round_trips_through_json(tmp_path):
    prob = chained_singular(1000).problem  # 5,000 terms: sympy alone hits its recursion limit
    path = tmp_path / "cs1000.json"
    prob.to_json(str(path))
    back = po.Problem.from_json(str(path))
    pts = np.random.default_rng(0).normal(size=(5, 1000))
    by_name = {v.name: v for v in back.variables}
    np.testing.assert_allclose(
        back.objective.evaluate(pts, [by_name[v.name] for v in prob.variables]),
        prob.objective.evaluate(pts, prob.variables),
        rtol=1e-12,
    )


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000), terms=st.integers(250, 500), expanded=st.booleans())
def test_long_sums_parse_to_the_same_polynomial(seed, terms, expanded):
    """An expanded sum is read directly, one with a parenthesized term through sympy in
    term groups: both give the polynomial built term by term."""
    rng = np.random.default_rng(seed)
    x = po.variables("x", 6)
    pieces = []
    reference = 0 if expanded else (x[0] - x[1]) ** 2
    for _ in range(terms):
        coef = float(rng.choice([rng.normal(), rng.normal() * 1e-7, rng.integers(-9, 9)]))
        powers = rng.integers(0, 3, size=6)
        mono = "*".join(f"x{i + 1}^{p}" for i, p in enumerate(powers) if p)
        sign = "-" if coef < 0 else "+"
        pieces.append(f" {sign} {abs(coef)!r}" + (f"*{mono}" if mono else ""))
        reference = reference + coef * np.prod([x[i] ** int(p) for i, p in enumerate(powers)])
    text = ("" if expanded else "(x1 - x2)^2") + "".join(pieces)
    assert len(text) > CHUNK_CHARS
    parsed = parse_polynomial(text, x)
    direct = _expanded_polynomial(top_level_terms(text), {v.name: v for v in x})
    assert (direct is not None) == expanded  # the direct reading takes expanded sums only
    pts = rng.uniform(-1, 1, size=(8, 6))
    np.testing.assert_allclose(
        parsed.evaluate(pts, x), reference.evaluate(pts, x), rtol=1e-9, atol=1e-9
    )


def test_cuts_respect_parentheses_and_exponents():
    assert top_level_terms("x^2 - 3*x*y + 2e-5*z - (x - y)^2 + 1.5E+3 - x**-1") == [
        "x^2 ",
        "- 3*x*y ",
        "+ 2e-5*z ",
        "- (x - y)^2 ",
        "+ 1.5E+3 ",
        "- x**-1",
    ]
    assert top_level_terms("(x + y") is None


def test_a_deeply_nested_text_is_a_clear_error():
    text = "(" * 2000 + "x" + ")" * 2000
    with pytest.raises(ValueError, match="cannot parse expression"):
        parse_polynomial(text)
