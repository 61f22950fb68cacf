"""Facial reduction of forced kernels (polyopt.facial): the reduced program has the value of
the original, the lifted dual point certifies on the original, and the arrow solver's bounds
with and without it agree and bracket exact values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lipschitz as lp
import polyopt as po
from lipschitz.lcep import build_lcep
from lipschitz.random_nets import random_network
from lipschitz.spec import resolve_output
from polyopt.backends.base import SolverOptions
from polyopt.backends.clarabel_backend import ClarabelBackend
from polyopt.backends.sdpa_backend import SDPABackend
from polyopt.facial import forced_kernels, reduce_faces


def _hr2_program(sizes, seed):
    net = random_network(sizes, sparsity=None, seed=seed)
    box = lp.Box(np.zeros(sizes[0]), 1.0)
    lc = build_lcep(net, box, "inf", resolve_output(None, 1), affine_links=True)
    rel = po.relax(lc.problem, order=2, sparsity="nearly", cliques=lc.cliques, bad=lc.bad)
    program = rel.program  # the solvers other than the low-rank one get the expanded rows
    return net, box, program if program.factored is None else program.expanded()


def _clarabel(program):
    res = ClarabelBackend().solve(program, "moment", SolverOptions(tol=1e-9))
    assert res.status == "optimal"
    return res


def _sdpa(program):
    res = SDPABackend().solve(program, "auto", SolverOptions())
    assert res.status == "optimal"
    return res


def test_forced_kernels_are_kernels_at_every_feasible_point():
    # the kernel vectors found for HR-2 of a two-hidden-layer network annihilate the blocks
    # at an optimal point, and at the moments of points of the network itself
    _, _, P = _hr2_program((4, 5, 4), 0)
    ker = forced_kernels(P)
    assert ker, "the lifted y = u z and y (y - z) = 0 give forced kernels"
    res = _sdpa(P)
    blocks = P.block_matrices(res.y)
    for k, (piv, R) in ker.items():
        M = blocks[k]
        scale = max(1.0, np.abs(M).max())
        assert np.abs(R @ M).max() <= 1e-5 * scale
        assert np.allclose(R[:, piv], np.eye(piv.size))


@pytest.mark.parametrize("sizes, seed", [((4, 5, 4), 0), ((5, 6, 5), 1)])
def test_reduced_program_has_the_original_value_and_lifts_back(sizes, seed):
    _, _, P = _hr2_program(sizes, seed)
    red = reduce_faces(P)
    assert red is not None and red.dropped > 0
    assert sum(red.program.block_sizes) < sum(P.block_sizes)
    assert red.program.A_eq.shape[0] < P.A_eq.shape[0]
    full, small = _sdpa(P), _sdpa(red.program)
    assert small.primal_objective == pytest.approx(full.primal_objective, abs=1e-5)
    # the lifted dual point is a dual point of the original with the same objective
    y, mu, z, X = red.lift(small.y, small.mu, small.z, small.X)
    residual = P.dual_residual(mu, z, X)
    assert np.abs(residual).max() <= 1e-7
    assert P.dual_objective(mu, z, X) == pytest.approx(small.dual_objective, abs=1e-9)
    assert min(np.linalg.eigvalsh(Xk).min() for Xk in X) >= -1e-7
    # the lifted moments satisfy the original's equality rows
    assert np.abs(P.A_eq @ y - P.b_eq).max() <= 1e-6


@pytest.mark.parametrize("sizes, seed", [((4, 5, 4), 2), ((5, 6, 5), 0)])
def test_arrow_with_and_without_reduction_bracket_the_exact_constant(sizes, seed):
    net = random_network(sizes, sparsity=None, seed=seed)
    dom = lp.Box(np.zeros(sizes[0]), 1.0)
    exact = lp.exact(net, domain=dom).value
    ref = lp.upper_bound(net, method="hr", order=2, domain=dom, solver="sdpa")
    on = lp.upper_bound(net, method="hr", order=2, domain=dom, solver="arrow")
    off = lp.upper_bound(
        net, method="hr", order=2, domain=dom, solver="arrow", solver_options={"facial": False}
    )
    assert on.sound and off.sound
    assert exact <= on.value + 1e-9 and exact <= off.value + 1e-9
    assert on.value == pytest.approx(ref.value, rel=1e-5)
    assert on.info["result"].raw.get("facial_reduction", {}).get("dropped", 0) > 0


def test_equality_constrained_pop_reduces_and_keeps_its_value():
    # min over the circle: the moment matrix of order 2 has x^2 + y^2 - 1 in its kernel
    x, y = po.variables("x"), po.variables("y")
    prob = po.Problem(minimize=x**3 - 2 * x * y + y, constraints=[x**2 + y**2 - 1 == 0])
    rel = po.relax(prob, order=2)
    red = reduce_faces(rel.program)
    assert red is not None and red.dropped >= 1
    assert _clarabel(red.program).primal_objective == pytest.approx(
        _clarabel(rel.program).primal_objective, abs=1e-6
    )
    r = prob.solve(order=2, solver="arrow")
    grid = np.linspace(0, 2 * np.pi, 20001)
    truth = float(np.min(np.cos(grid) ** 3 - 2 * np.cos(grid) * np.sin(grid) + np.sin(grid)))
    assert r.certified and r.status == "optimal"
    assert r.bound <= truth + 1e-9
    assert r.bound == pytest.approx(prob.solve(order=2, solver="clarabel").bound, abs=1e-6)


def test_programs_without_forced_kernels_are_left_alone():
    x, y = po.variables("x"), po.variables("y")
    prob = po.Problem(minimize=x**4 + y**2 - x * y, constraints=[1 - x**2 >= 0, 1 - y**2 >= 0])
    assert reduce_faces(po.relax(prob, order=2).program) is None


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    coef=st.lists(st.floats(-2, 2, allow_nan=False), min_size=6, max_size=6),
)
def test_reduction_never_changes_the_value_of_random_equality_pops(seed, coef):
    rng = np.random.default_rng(seed)
    x, y, w = po.variables("x"), po.variables("y"), po.variables("w")
    f = (
        x
        + coef[0] * x * y
        + coef[1] * y * w
        + coef[2] * x**2 * w
        + coef[3] * w
        + coef[4] * x * y * w
        + coef[5] * y**2
    )
    a = float(rng.uniform(0.2, 1.0))
    cons = [x**2 + y**2 + w**2 - 1 == 0, w * (w - a) == 0]
    prob = po.Problem(minimize=f, constraints=cons)
    rel = po.relax(prob, order=2)
    red = reduce_faces(rel.program)
    assert red is not None
    # the arrow solver on the reduced program, certified on the original, against Clarabel
    # on the original
    on = prob.solve(order=2, solver="arrow")
    ref = prob.solve(order=2, solver="clarabel")
    assert on.certified and ref.certified
    assert on.bound == pytest.approx(ref.bound, abs=1e-5)
