"""Solver backends and forms: agreement on known optima, statuses, sound bounds and bad input.

Expected values are analytic or recomputed here by brute force (grid + local polish); published
values are cited where used.
"""

from __future__ import annotations

import math

import cvxpy
import numpy as np
import pytest
from scipy.optimize import minimize as local_minimize

import polyopt as po

NATIVE = ["clarabel", "scs", "sdpa"]
CVXPY = [f"cvxpy:{s}" for s in ("CLARABEL", "SCS") if s in cvxpy.installed_solvers()]
ALL_SOLVERS = NATIVE + CVXPY
FORMS = ["moment", "gram"]
BAD_STATUSES = ("infeasible", "unbounded", "solver_error")


def each(solvers):
    return [pytest.param(s, f, id=f"{s}-{f}") for s in solvers for f in FORMS]


def grid_then_polish(poly, variables, lo, hi, num=801) -> float:
    """Minimum of ``poly`` on the box [lo, hi]^2: grid search polished by L-BFGS-B."""
    axis = np.linspace(lo, hi, num)
    pts = np.column_stack([m.ravel() for m in np.meshgrid(axis, axis, indexing="ij")])
    vals = poly.evaluate(pts, variables)
    best = pts[int(np.argmin(vals))]
    res = local_minimize(
        lambda z: poly.evaluate(z, variables),
        best,
        method="L-BFGS-B",
        bounds=[(lo, hi)] * 2,
        options={"ftol": 1e-15, "gtol": 1e-12},
    )
    return min(float(res.fun), float(vals.min()))


# --------------------------------------------------------------------------- test problems
X, Y = po.variables("x"), po.variables("y")
CAMEL = 4 * X**2 - 2.1 * X**4 + X**6 / 3 + X * Y - 4 * Y**2 + 4 * Y**4
BOXF = X**4 - 3 * X**2 * Y + Y**3 + X * Y - 2 * X
BOX = [1 - X**2 >= 0, 1 - Y**2 >= 0]


@pytest.fixture(scope="module")
def camel_min() -> float:
    # global minimizers lie in [-2, 2] x [-1, 1]; GloptiPoly 3 paper (Henrion, Lasserre,
    # Loefberg 2009, Sec. 2): global minimum -1.0316
    fstar = min(grid_then_polish(CAMEL, (X, Y), -2.0, 2.0), 0.0)
    assert round(fstar, 4) == -1.0316
    return fstar


@pytest.fixture(scope="module")
def box_min() -> float:
    return grid_then_polish(BOXF, (X, Y), -1.0, 1.0)


# --------------------------------------------------------------------------- agreement
@pytest.mark.parametrize("solver,form", each(ALL_SOLVERS))
def test_all_solvers_and_forms_agree_on_the_camel_back(solver, form, camel_min):
    r = po.Problem(minimize=CAMEL).solve(order=3, solver=solver, form=form, tol=1e-8)
    assert r.status == "optimal"
    assert r.form == form
    assert abs(r.bound - camel_min) <= 1e-5


@pytest.mark.parametrize("solver,form", each(ALL_SOLVERS))
def test_all_solvers_and_forms_agree_on_a_box_problem(solver, form, box_min):
    r = po.Problem(minimize=BOXF, constraints=BOX).solve(
        order=2, solver=solver, form=form, tol=1e-8
    )
    assert r.status in ("optimal", "inaccurate")
    assert abs(r.bound - box_min) <= 1e-5
    # the sound bound holds without tolerance and stays close to the solver's bound
    assert r.sound_bound is not None
    assert r.sound_bound <= box_min
    assert r.bound - r.sound_bound <= 1e-5 * abs(r.bound)


@pytest.mark.parametrize("solver,form", each(ALL_SOLVERS))
def test_all_solvers_and_forms_agree_with_an_equality_constraint(solver, form):
    # analytic (Cauchy-Schwarz): min x + y on x^2 + y^2 = 1 is -sqrt(2)
    r = po.Problem(minimize=X + Y, constraints=[X**2 + Y**2 == 1]).solve(
        order=2, solver=solver, form=form, tol=1e-8
    )
    assert r.status == "optimal"
    assert abs(r.bound + math.sqrt(2)) <= 1e-5


@pytest.mark.parametrize("solver,form", each(NATIVE))
def test_maximize_is_the_negated_minimization(solver, form, box_min):
    rmax = po.Problem(maximize=-BOXF, constraints=BOX).solve(order=2, solver=solver, form=form)
    rmin = po.Problem(minimize=BOXF, constraints=BOX).solve(order=2, solver=solver, form=form)
    assert rmax.sense == "max" and rmax.status in ("optimal", "inaccurate")
    # max(-f) = -min(f): the bound is an upper bound equal to -(brute-force min of f)
    assert abs(rmax.bound + box_min) <= 1e-5
    assert abs(rmax.bound + rmin.bound) <= 1e-9 * (1 + abs(rmin.bound))
    assert rmax.sound_bound is not None and rmax.sound_bound >= -box_min
    assert "upper bound" in rmax.summary()


# --------------------------------------------------------------------------- infeasible
INFEASIBLE = {
    # x^2 + y^2 <= 1 forces x <= 1 < 2
    "disk-and-halfplane": lambda: po.Problem(
        minimize=X + Y, constraints=[X**2 + Y**2 <= 1, X >= 2]
    ),
    # x >= 2 and x <= 1
    "linear": lambda: po.Problem(minimize=X, constraints=[X >= 2, X <= 1]),
    # x^2 = -1 has no real solution
    "negative-square": lambda: po.Problem(minimize=X * Y, constraints=[X**2 + Y**2 == -1]),
    # the disk x^2 + y^2 <= 1 and the outside of the circle of radius 2 do not meet
    "annulus": lambda: po.Problem(
        minimize=X**4 + Y**2, constraints=[1 - X**2 - Y**2 >= 0, X**2 + Y**2 - 4 >= 0]
    ),
}


@pytest.mark.parametrize("name", sorted(INFEASIBLE))
@pytest.mark.parametrize("solver,form", each(ALL_SOLVERS))
def test_infeasible_problems_are_reported_infeasible(solver, form, name):
    prob = INFEASIBLE[name]()
    r = prob.solve(solver=solver, form=form)
    assert r.status == "infeasible"
    assert r.bound == math.inf  # min over the empty set
    assert r.minimizers() == [] and not r.minimizers().certified


@pytest.mark.parametrize("solver,form", each(NATIVE))
def test_infeasible_maximization_gives_minus_infinity(solver, form):
    r = po.Problem(maximize=X + Y, constraints=[X**2 + Y**2 <= 1, X >= 2]).solve(
        solver=solver, form=form
    )
    assert r.status == "infeasible"
    assert r.bound == -math.inf  # max over the empty set


# --------------------------------------------------------------------------- unbounded / not SOS
@pytest.mark.parametrize("solver,form", each(NATIVE))
def test_motzkin_order_three_is_never_optimal_with_a_finite_bound(solver, form):
    # Motzkin (1967): M = x^4 y^2 + x^2 y^4 - 3 x^2 y^2 + 1 >= 0 (AM-GM), min 0 at (+-1, +-1), but
    # M - gamma is not a sum of squares for any gamma, so the order-3 SOS problem is infeasible
    # and the moment relaxation unbounded
    M = X**4 * Y**2 + X**2 * Y**4 - 3 * X**2 * Y**2 + 1
    assert M.evaluate(np.array([1.0, 1.0]), (X, Y)) == 0.0
    r = po.Problem(minimize=M).solve(order=3, solver=solver, form=form)
    assert not (r.status == "optimal" and math.isfinite(r.bound)), (r.status, r.bound)
    assert r.status != "infeasible"  # the moment relaxation is feasible (Dirac at any point)
    if r.status == "unbounded":
        assert r.bound == -math.inf


UNBOUNDED = {
    # x -> -inf
    "x-below-zero": lambda: po.Problem(minimize=X, constraints=[X <= 0]),
    # x^3 -> -inf as x -> -inf
    "cubic": lambda: po.Problem(minimize=X**3),
    # -x^4 + x -> -inf
    "negative-quartic": lambda: po.Problem(minimize=-(X**4) + X),
    # -x^2 -> -inf
    "concave": lambda: po.Problem(minimize=-(X**2)),
    # x y -> -inf along x = -y
    "bilinear": lambda: po.Problem(minimize=X * Y),
    # x^2 + y^2 -> +inf on the half plane y >= 0
    "max-half-plane": lambda: po.Problem(maximize=X**2 + Y**2, constraints=[Y >= 0]),
}


@pytest.mark.parametrize("name", sorted(UNBOUNDED))
@pytest.mark.parametrize("solver,form", each(NATIVE))
def test_unbounded_problems_never_get_a_finite_optimal_bound(solver, form, name):
    prob = UNBOUNDED[name]()
    r = prob.solve(solver=solver, form=form)
    assert not (r.status == "optimal" and math.isfinite(r.bound)), (r.status, r.bound)
    # the problems are feasible: calling them infeasible (bound +inf for min) would be wrong
    assert r.status != "infeasible", (r.status, r.bound)
    if r.status == "unbounded":
        assert r.bound == (-math.inf if prob.sense == "min" else math.inf)


# --------------------------------------------------------------------------- badly scaled
# coefficients 1e-4 .. 1e4 on the box [-1000, 1000] x [-1, 1]. Analytic: the terms separate;
# 1e-4 x^4 - 2 x^2 has derivative 4e-4 x (x^2 - 1e4), so its minimum on [-1000, 1000] is at
# x = +-100 with value 1e4 - 2e4, and 1e4 (y - 0.5)^2 >= 0 vanishes at y = 0.5: min f = -1e4.
SCALED_F = 1e-4 * X**4 - 2 * X**2 + 1e4 * (Y - 0.5) ** 2
SCALED_MIN = -1e4
SCALED_BOXES = {
    "quadratic": [1e6 - X**2 >= 0, 1 - Y**2 >= 0],
    "linear": [X >= -1000, X <= 1000, Y >= -1, Y <= 1],
}


def test_badly_scaled_minimum_by_brute_force():
    xs = np.linspace(-1000, 1000, 200_001)  # step 0.01: contains +-100
    assert np.min(1e-4 * xs**4 - 2 * xs**2) == SCALED_MIN
    ys = np.linspace(-1, 1, 2001)
    assert np.min(1e4 * (ys - 0.5) ** 2) == 0.0


@pytest.mark.parametrize("solver,form", each(NATIVE))
@pytest.mark.parametrize("box", sorted(SCALED_BOXES))
def test_badly_scaled_problem_keeps_a_sound_bound(solver, form, box):
    r = po.Problem(minimize=SCALED_F, constraints=SCALED_BOXES[box]).solve(
        order=2, solver=solver, form=form
    )
    assert r.status in ("optimal", "inaccurate")
    assert r.sound_bound is not None
    assert r.sound_bound <= SCALED_MIN  # exact: no tolerance
    # after scaling x = 1000 x' the largest coefficient is 1e-4 * 1000^4 = 1e8, and the solvers
    # are accurate to ~1e-8..1e-7 relative on the normalized problem, i.e. ~1..10 here
    assert r.relax.obj_scale == pytest.approx(1e8)
    assert r.bound <= SCALED_MIN + 1e-6 * r.relax.obj_scale
    assert r.bound >= SCALED_MIN - 1e-2 * abs(SCALED_MIN)  # and not far below either
    # with a box, `bound` is the sound bound: a lower bound with no tolerance
    assert r.certified
    assert r.bound <= SCALED_MIN


# --------------------------------------------------------------------------- limits
@pytest.mark.parametrize("max_iters", [1, 2, 3, 5])
@pytest.mark.parametrize("solver,form", each(NATIVE))
def test_iteration_limit_still_gives_a_sound_bound(solver, form, max_iters, box_min):
    r = po.Problem(minimize=BOXF, constraints=BOX).solve(
        order=2, solver=solver, form=form, max_iters=max_iters
    )
    if max_iters == 1:
        assert r.status == "iteration_limit"
    assert r.status in ("iteration_limit", "inaccurate", "optimal")
    # whatever the point the solver stopped at, the corrected bound is below the true minimum
    assert r.sound_bound is not None and r.sound_bound <= box_min


def test_time_limit_still_gives_a_sound_bound(box_min):
    # SCS stops itself at its limit, in this process, with an iterate to certify
    r = po.Problem(minimize=BOXF, constraints=BOX).solve(order=3, solver="scs", time_limit=0.02)
    assert r.status in ("time_limit", "optimal", "inaccurate")
    assert r.sound_bound is not None and r.sound_bound <= box_min


@pytest.mark.parametrize("solver", ["clarabel", "sdpa", "arrow", "lowrank", "scs"])
def test_no_time_left_means_no_bound_and_status_time_limit(solver, box_min):
    # the relaxation's build alone takes longer than this: the solver gets no time
    r = po.Problem(minimize=BOXF, constraints=BOX).solve(order=3, solver=solver, time_limit=1e-6)
    assert r.status == "time_limit"
    assert np.isnan(r.bound) or (r.certified and r.bound <= box_min)


# --------------------------------------------------------------------------- bad input
def small_problem() -> po.Problem:
    return po.Problem(minimize=X**2 + Y**2 - X, constraints=BOX)


def test_unknown_solver_name():
    with pytest.raises(ValueError, match="unknown solver"):
        small_problem().solve(solver="gurobi-sdp")
    with pytest.raises(ValueError):
        small_problem().solve(solver="cvxpy:")


def test_unknown_cvxpy_solver_is_unavailable():
    with pytest.raises(po.SolverUnavailable):
        small_problem().solve(solver="cvxpy:NOSUCHSOLVER")


def test_solver_name_is_case_insensitive():
    r = small_problem().solve(solver="  Clarabel ")
    assert r.solver == "clarabel" and r.status == "optimal"
    assert abs(r.bound + 0.25) <= 1e-6  # analytic: min (x - 1/2)^2 + y^2 - 1/4 = -1/4


def test_unknown_form():
    with pytest.raises(ValueError, match="unknown form"):
        small_problem().solve(form="primal")


def test_order_too_small():
    prob = po.Problem(minimize=X**4 + Y**2, constraints=BOX)  # degree 4: smallest order 2
    with pytest.raises(ValueError, match="too small"):
        prob.solve(order=1)
    with pytest.raises(ValueError):
        prob.solve(order=0)
    with pytest.raises(TypeError):
        prob.solve(order=2.0)


@pytest.mark.parametrize("tol", [-1e-6, 0.0, float("nan"), float("inf")])
def test_bad_tolerance(tol):
    with pytest.raises(ValueError, match="tol"):
        small_problem().solve(tol=tol)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_iters": 0},
        {"max_iters": -3},
        {"max_iters": 2.5},
        {"time_limit": -1.0},
        {"time_limit": 0.0},
    ],
)
def test_bad_limits(kwargs):
    with pytest.raises(ValueError):
        small_problem().solve(**kwargs)


def test_unknown_sparsity_and_solver_setting():
    with pytest.raises(ValueError, match="sparsity"):
        small_problem().solve(sparsity="chordal-ish")
    with pytest.raises(ValueError, match="Clarabel setting"):
        small_problem().solve(solver="clarabel", solver_options={"no_such_setting": 1})


def test_sdpa_takes_a_time_limit_and_solves_within_it():
    r = small_problem().solve(solver="sdpa", time_limit=30.0)
    assert r.status == "optimal"
    assert r.bound == pytest.approx(-0.25, abs=1e-6)


def test_mosek_without_license_is_unavailable():
    from polyopt.backends import MosekBackend

    if MosekBackend().available():
        pytest.skip("MOSEK is installed and licensed here")
    with pytest.raises(po.SolverUnavailable):
        small_problem().solve(solver="mosek")
