"""The block-arrow interior point backend: agreement with Clarabel / SDPA on dense, sparse and
nearly sparse relaxations, sound bounds against brute force and exact Lipschitz constants,
and its structure and options."""

from __future__ import annotations

import numpy as np
import pytest

import lipschitz as lp
import polyopt as po
from lipschitz.lcep import build_lcep
from lipschitz.random_nets import random_network
from lipschitz.spec import resolve_output
from polyopt.solvers.arrow import NotArrow, build_arrow_form


def _grid_min(f, xs, lo=-1.0, hi=1.0, k=201):
    axis = np.linspace(lo, hi, k)
    pts = np.column_stack([m.ravel() for m in np.meshgrid(*[axis] * len(xs), indexing="ij")])
    return float(f.evaluate(pts, tuple(xs)).min())


def test_dense_box_pop_matches_clarabel_and_the_grid():
    x, y = po.variables("x"), po.variables("y")
    f = x**4 - 3 * x**2 * y + y**3 + x * y - 2 * x
    prob = po.Problem(minimize=f, constraints=[1 - x**2 >= 0, 1 - y**2 >= 0])
    grid = _grid_min(f, (x, y), k=801)
    for order in (2, 3):
        ref = prob.solve(order=order, solver="clarabel")
        r = prob.solve(order=order, solver="arrow")
        assert r.solver == "arrow" and r.status == "optimal" and r.certified
        assert r.bound <= grid + 1e-12
        assert r.bound == pytest.approx(ref.bound, abs=1e-6)


def test_chain_of_cliques_with_equalities_and_inequality_rows():
    # a correlative-sparse chain (overlapping cliques: local rows of neighbours link through
    # shared moments) with a +-1 equality and linear inequalities (1 x 1 blocks)
    xs = po.variables("x", 5)
    f = po.polysum([xs[i] * xs[i + 1] - 0.3 * xs[i] ** 2 * xs[i + 1] for i in range(4)])
    cons = [1 - xi**2 >= 0 for xi in xs] + [xs[0] ** 2 - 1 == 0, xs[2] + 0.5 >= 0]
    prob = po.Problem(minimize=f, constraints=cons)
    ref = prob.solve(order=2, sparsity="correlative", solver="clarabel")
    r = prob.solve(order=2, sparsity="correlative", solver="arrow")
    assert r.certified and r.status == "optimal"
    assert r.bound == pytest.approx(ref.bound, abs=1e-6)
    # brute force over the feasible grid: the bound is below the minimum
    axis = np.linspace(-1, 1, 21)
    pts = np.array(np.meshgrid(*[axis] * 5, indexing="ij")).reshape(5, -1).T
    pts = pts[(np.abs(pts[:, 0]) == 1) & (pts[:, 2] >= -0.5)]
    assert r.bound <= float(f.evaluate(pts, tuple(xs)).min()) + 1e-9


@pytest.mark.parametrize(
    "sizes, seed, rel", [((5, 8), 0, 1e-5), ((5, 8), 1, 1e-5), ((4, 5, 4), 2, 1e-5)]
)
def test_hr2_of_small_networks_agrees_with_sdpa_and_brackets_the_exact_constant(sizes, seed, rel):
    # one hidden layer and two (lifted, y = u z leaves the moment matrices no interior
    # point; the primal residual is paced by mu): the same value as SDPA
    net = random_network(sizes, sparsity=None, seed=seed)
    dom = lp.Box(np.zeros(sizes[0]), 1.0)
    exact = lp.exact(net, domain=dom).value
    ref = lp.upper_bound(net, method="hr", order=2, domain=dom, solver="sdpa")
    b = lp.upper_bound(net, method="hr", order=2, domain=dom, solver="arrow")
    assert b.sound and b.info["solver"] == "arrow"
    assert exact <= b.value + 1e-9
    assert b.value == pytest.approx(ref.value, rel=rel)


def test_hr2_structure_is_arrow_shaped():
    # (20, 20) with a band of 5: M_1 is the only large block, the cliques are the groups
    net = random_network((20, 20), sparsity=5, seed=0)
    lc = build_lcep(
        net, lp.Box(np.zeros(20), 10.0), "inf", resolve_output(None, 1), affine_links=True
    )
    rel = po.relax(lc.problem, order=2, sparsity="nearly", cliques=lc.cliques, bad=lc.bad)
    form = build_arrow_form(rel.program)
    assert len(form.bigs) == 1
    side = form.bigs[0].side
    assert side == 1 + 3 * 20  # 1, x, t, sg: the z's are eliminated from M_1
    assert np.unique(form.group[form.group >= 0]).size == len(lc.cliques)
    # dense rows: a handful per clique, far fewer than all rows
    assert form.dense.size < 12 * len(lc.cliques)
    assert form.dense.size < form.m / 3


def test_options_and_forms_are_checked():
    x = po.variables("x")
    prob = po.Problem(minimize=x**2 - x, constraints=[1 - x**2 >= 0])
    with pytest.raises(ValueError, match="unknown option"):
        prob.solve(order=1, solver="arrow", solver_options={"stepp": 0.9})
    with pytest.raises(ValueError, match="moment form"):
        prob.solve(order=1, solver="arrow", form="gram")


def test_iteration_limit_gives_a_valid_bound_or_none():
    x, y = po.variables("x"), po.variables("y")
    f = x**4 - 3 * x**2 * y + y**3 + x * y - 2 * x
    prob = po.Problem(minimize=f, constraints=[1 - x**2 >= 0, 1 - y**2 >= 0])
    grid = _grid_min(f, (x, y), k=401)
    r = prob.solve(order=2, solver="arrow", max_iters=4)
    assert r.status == "iteration_limit"
    if r.certified:
        assert r.bound <= grid


def test_a_program_without_plain_entries_is_refused():
    # an LP relaxation has no PSD block in which the moments could live
    x = po.variables("x")
    prob = po.Problem(minimize=x, constraints=[1 - x >= 0, x + 1 >= 0])
    rel = po.relax(prob, method="lp", degree=2)
    with pytest.raises(NotArrow):
        build_arrow_form(rel.program)


@pytest.mark.parametrize("sizes, seed", [((5, 6, 5), 0), ((5, 6, 5), 1), ((6, 6, 4), 0)])
def test_paced_residual_solves_deep_hr2_to_tolerance(sizes, seed):
    # two hidden layers: y = u z and y (y - z) = 0 leave the order-2 moment blocks without an
    # interior point; with the primal residual paced by mu the solve reaches its tolerance
    # and SDPA's value, where the full Newton step on the residual stalls
    net = random_network(sizes, sparsity=None, seed=seed)
    dom = lp.Box(np.zeros(sizes[0]), 1.0)
    ref = lp.upper_bound(net, method="hr", order=2, domain=dom, solver="sdpa")
    b = lp.upper_bound(net, method="hr", order=2, domain=dom, solver="arrow")
    assert b.sound and b.status == "optimal"
    assert b.value == pytest.approx(ref.value, rel=1e-5)
    assert lp.exact(net, domain=dom).value <= b.value + 1e-9
    full = lp.upper_bound(
        net, method="hr", order=2, domain=dom, solver="arrow", solver_options={"pace": None}
    )
    assert full.sound and full.value >= b.value - 1e-6 * abs(b.value)


def test_residual_share_keeps_the_residual_in_step_with_mu():
    from polyopt.solvers.arrow.ipm import residual_share

    assert residual_share(None, 1e-9, 1.0) == 1.0
    assert residual_share(0.5, 1e-3, 1e-3) == pytest.approx(0.5)  # in step: half of it
    assert residual_share(0.5, 1e-6, 1e-2) == pytest.approx(5e-5)  # far ahead: almost none
    assert residual_share(0.5, 1.0, 1e-3) == 1.0  # behind: the full step
    assert residual_share(0.5, np.inf, 0.5) == 1.0  # a feasible start
