"""Property tests: relaxation bounds against sampled feasible points and brute force.

The independent reference is always the objective evaluated directly (numpy, not polyopt's
relaxation) at feasible points: every lower bound must lie below every sampled value, and the
MaxCut upper bounds above the brute-force maximum over all sign vectors.
"""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import polyopt as po

SETTINGS = settings(
    max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
BOUND_SLACK = 1e-6  # solver tolerance on `bound`
SOUND_SLACK = 1e-9  # `sound_bound` holds exactly (this only absorbs the float evaluation)


def exponents(n: int, degree: int) -> list[tuple[int, ...]]:
    """All nonconstant exponent vectors of total degree <= degree."""
    return [e for e in itertools.product(range(degree + 1), repeat=n) if 0 < sum(e) <= degree]


@st.composite
def box_pops(draw):
    """A random objective on [-1, 1]^n: n in {2, 3}, degree 2 or 4, small coefficients."""
    n = draw(st.integers(2, 3))
    degree = draw(st.sampled_from([2, 4]))
    monos = exponents(n, degree)
    integer = draw(st.booleans())
    coef = (
        st.integers(-3, 3).map(float)
        if integer
        else st.floats(-3, 3, allow_nan=False, allow_infinity=False, width=32)
    )
    chosen = draw(st.lists(st.sampled_from(monos), min_size=1, max_size=8, unique=True))
    coeffs = [draw(coef) for _ in chosen]
    # keep the degree (the smallest valid order depends on it) and a nonconstant objective
    top = [e for e in monos if sum(e) == degree]
    lead = draw(st.sampled_from(top))
    if lead not in chosen:
        chosen.append(lead)
        coeffs.append(draw(st.sampled_from([-2.0, -1.0, 1.0, 2.0])))
    else:
        k = chosen.index(lead)
        coeffs[k] = coeffs[k] or 1.0
    constant = draw(st.integers(-2, 2))
    seed = draw(st.integers(0, 2**32 - 1))
    return n, degree, chosen, coeffs, float(constant), seed


def build(n, chosen, coeffs, constant):
    x = po.variables("x", n)
    f = constant + sum(
        c * np.prod([x[i] ** e[i] for i in range(n)]) for e, c in zip(chosen, coeffs)
    )
    box = [1 - x[i] ** 2 >= 0 for i in range(n)]
    return x, f, box


def direct_values(pts: np.ndarray, chosen, coeffs, constant) -> np.ndarray:
    """The objective evaluated straight from its terms (independent of polyopt)."""
    out = np.full(len(pts), constant)
    for e, c in zip(chosen, coeffs):
        out += c * np.prod(pts ** np.array(e), axis=1)
    return out


def feasible_samples(n: int, seed: int) -> np.ndarray:
    """A few hundred points of [-1, 1]^n: the corners, a coarse grid and uniform samples."""
    rng = np.random.default_rng(seed)
    corners = np.array(list(itertools.product([-1.0, 1.0], repeat=n)))
    axis = np.linspace(-1, 1, 7 if n == 2 else 5)
    coarse = np.array(list(itertools.product(axis, repeat=n)))
    return np.vstack([corners, coarse, rng.uniform(-1, 1, size=(300, n))])


@SETTINGS
@given(box_pops())
def test_box_pop_bounds_are_below_sampled_values_and_monotone(pop):
    n, degree, chosen, coeffs, constant, seed = pop
    x, f, box = build(n, chosen, coeffs, constant)
    pts = feasible_samples(n, seed)
    vals = direct_values(pts, chosen, coeffs, constant)
    # polyopt's own evaluation agrees with the direct one (sanity of the model)
    np.testing.assert_allclose(f.evaluate(pts, tuple(x)), vals, rtol=1e-12, atol=1e-12)
    low = degree // 2  # minimal order: ceil(deg / 2), and the box constraints have degree 2
    prob = po.Problem(minimize=f, constraints=box, variables=list(x))
    bounds = []
    for order in (low, low + 1):
        r = prob.solve(order=order)
        assert r.order == order
        # the feasible set is a nonempty compact box: the relaxation is feasible and bounded
        assert r.status in ("optimal", "inaccurate"), r.status
        assert np.isfinite(r.bound)
        assert r.bound <= vals.min() + BOUND_SLACK, (order, r.bound, vals.min())
        assert r.sound_bound is not None
        assert r.sound_bound <= vals.min() + SOUND_SLACK, (order, r.sound_bound, vals.min())
        assert r.sound_bound <= r.bound + SOUND_SLACK
        bounds.append(r.bound)
    # the Lasserre hierarchy is monotone: order d + 1 is at least as tight as order d
    assert bounds[1] >= bounds[0] - BOUND_SLACK


@SETTINGS
@given(box_pops())
def test_maximize_upper_bound_is_above_sampled_values(pop):
    n, degree, chosen, coeffs, constant, seed = pop
    x, f, box = build(n, chosen, coeffs, constant)
    vals = direct_values(feasible_samples(n, seed), chosen, coeffs, constant)
    r = po.Problem(maximize=f, constraints=box).solve()
    assert r.status in ("optimal", "inaccurate"), r.status
    assert r.bound >= vals.max() - BOUND_SLACK
    assert r.sound_bound is not None and r.sound_bound >= vals.max() - SOUND_SLACK
    # the minimization of -f is the same relaxation: the bounds are negatives of each other
    rmin = po.Problem(minimize=-f, constraints=box).solve()
    assert abs(r.bound + rmin.bound) <= 1e-9 * (1 + abs(r.bound))


@st.composite
def graphs(draw):
    n = draw(st.integers(4, 6))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    edges = draw(st.lists(st.sampled_from(pairs), min_size=1, unique=True))
    weights = draw(st.lists(st.integers(1, 3), min_size=len(edges), max_size=len(edges)))
    return n, edges, weights


@SETTINGS
@given(graphs())
def test_maxcut_relaxations_bound_the_brute_force_cut(graph):
    n, edges, weights = graph
    best = max(
        sum(w * (1 - s[i] * s[j]) / 2 for (i, j), w in zip(edges, weights))
        for s in itertools.product([-1, 1], repeat=n)
    )
    x = po.variables("x", n)
    cut = sum(w * (1 - x[i] * x[j]) / 2 for (i, j), w in zip(edges, weights))
    prob = po.Problem(maximize=cut, constraints=[x[i] ** 2 == 1 for i in range(n)])
    r1 = prob.solve(order=1)
    assert r1.status == "optimal"
    assert r1.bound >= best - BOUND_SLACK
    assert r1.sound_bound is not None and r1.sound_bound >= best - SOUND_SLACK
    # Goemans-Williamson (1995): the SDP bound is at most best / 0.87856
    assert r1.bound <= best / 0.87856 + BOUND_SLACK
    r2 = prob.solve(order=2)
    assert r2.status in ("optimal", "inaccurate")
    assert r2.bound >= best - BOUND_SLACK
    assert r2.sound_bound is not None and r2.sound_bound >= best - SOUND_SLACK
    assert r2.bound <= r1.bound + BOUND_SLACK
