"""Unconstrained degenerate problems (singular Gram matrices at the optimum, no certificate):
the defaults reach the known optimum 0 of the classic chained test functions."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import polyopt as po

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from instances import (  # noqa: E402
    broyden_tridiagonal,
    chained_singular,
    generalized_rosenbrock,
)


@pytest.mark.parametrize(
    "make, n, sparsity",
    [
        (chained_singular, 8, None),
        (chained_singular, 200, "correlative"),
        (chained_singular, 16, "correlative+term"),
        (generalized_rosenbrock, 200, "correlative"),
        (broyden_tridiagonal, 200, "correlative"),
        (generalized_rosenbrock, 8, None),
    ],
)
def test_default_options_reach_the_optimum_of_chained_problems(make, n, sparsity):
    inst = make(n)
    r = inst.problem.solve(order=2, sparsity=sparsity)
    assert r.status == "optimal" and not r.certified  # nothing bounds the variables
    assert inst.known - 1e-5 <= r.bound <= inst.known + 1e-7
    # both forms were solved; the other one is recorded
    assert (
        r.raw["other_form"]["form"] in ("gram", "moment") and r.raw["other_form"]["form"] != r.form
    )


def test_explicit_tolerance_and_form_are_taken_as_given():
    inst = chained_singular(8)
    r = inst.problem.solve(order=2, solver="clarabel", form="gram", tol=1e-8)
    assert "other_form" not in r.raw and r.form == "gram"
    # the former default: the Gram form at 1e-8 stops far short on this degenerate problem
    assert r.bound < -1e-4


def test_an_inaccurate_default_solve_is_repeated_with_clarabel(monkeypatch):
    solve_module = sys.modules["polyopt.solve"]  # (polyopt.solve is also the function)
    monkeypatch.setattr(solve_module, "default_solver", lambda program, **hints: "sdpa")
    inst = chained_singular(8)
    sdpa = inst.problem.solve(order=2, solver="sdpa")
    assert sdpa.status == "inaccurate" and sdpa.bound < -0.1  # SDPA stalls here
    r = inst.problem.solve(order=2)
    assert r.solver == "clarabel" and r.raw["recovered_from"]["solver"] == "sdpa"
    assert r.status == "optimal" and -1e-6 <= r.bound <= 1e-7


def test_bounded_problems_keep_the_default_tolerance(monkeypatch):
    # a certified bound does not rest on the solver's accuracy: one run, default tolerance
    x = po.variables("x", 2)
    box = [1 - x[0] ** 2 >= 0, 1 - x[1] ** 2 >= 0]
    prob = po.Problem(minimize=x[0] ** 4 + x[1] ** 2 - x[0], constraints=box)
    seen = []
    clarabel = sys.modules["polyopt.backends.clarabel_backend"].ClarabelBackend
    original = clarabel._solve

    def spy(self, program, form, options):
        seen.append((form, options.tol))
        return original(self, program, form, options)

    monkeypatch.setattr(clarabel, "_solve", spy)
    r = prob.solve(order=2, solver="clarabel")
    assert r.certified and seen == [("gram", None)]


def test_scs_is_asked_for_more_when_nothing_bounds_the_moments():
    """Without a certificate the bound is only as accurate as the solver: SCS runs at 1e-9
    then (a dense unconstrained quartic in 20 variables: 8e-6 below its minimum at the usual
    1e-7, 2.4e-8 at 1e-9), at 1e-7 when the moments are bounded, and at a caller's tol."""
    x = po.variables("x", 3)
    f = (x[0] - 1) ** 4 + x[1] ** 2 + x[0] * x[2] + x[2] ** 2
    free = po.Problem(minimize=f).solve(order=2, solver="scs")
    assert free.raw["eps"] == 1e-9 and "other_form" not in free.raw
    boxed = po.Problem(minimize=f, constraints=[1 - xi**2 >= 0 for xi in x])
    assert boxed.solve(order=2, solver="scs").raw["eps"] == 1e-7
    assert po.Problem(minimize=f).solve(order=2, solver="scs", tol=1e-6).raw["eps"] == 1e-6
