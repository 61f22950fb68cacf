"""Time limits hold for every solver and for the whole call (build and fallbacks included).

Each problem here needs far longer than its limit (the order-3 relaxation of an 8-variable
quartic: one Clarabel iteration alone takes over a minute); the call must come back within
the limit plus 10 % plus a second, with status "time_limit" and either no bound or a bound
that is certified and valid.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import lipschitz
import polyopt as po
from lipschitz.random_nets import random_network

LIMIT = 2.0
SLACK = 0.1 * LIMIT + 1.0


def _quartic() -> tuple[po.Problem, float]:
    """An 8-variable quartic on the box [-1, 1]^8 and its value at a feasible point."""
    n = 8
    x = po.variables("x", n)
    w = np.random.default_rng(0).normal(size=n)
    f = sum((x[i] ** 2 - x[(i + 1) % n]) ** 2 for i in range(n)) + sum(
        float(w[i]) * x[i] * x[(i + 2) % n] for i in range(n)
    )
    prob = po.Problem(minimize=f, constraints=[1 - x[i] ** 2 >= 0 for i in range(n)])
    return prob, float(f.evaluate({v: 0.3 for v in x}))


@pytest.fixture(scope="module")
def quartic():
    return _quartic()


def _assert_stopped_in_time(r, seconds: float, feasible_value: float) -> None:
    assert seconds <= LIMIT + SLACK, f"{r.solver}: {seconds:.2f} s for a {LIMIT} s limit"
    assert r.status == "time_limit"
    if not np.isnan(r.bound):  # a bound that comes back must be certified and valid
        assert r.certified
        assert r.bound <= feasible_value


@pytest.mark.parametrize(
    "solver", ["clarabel", "sdpa", "arrow", "scs", "lowrank", "cvxpy:CLARABEL", "cvxpy:SCS"]
)
def test_each_solver_stops_at_the_limit(quartic, solver):
    prob, feasible_value = quartic
    t0 = time.perf_counter()
    r = prob.solve(order=3, solver=solver, time_limit=LIMIT)
    _assert_stopped_in_time(r, time.perf_counter() - t0, feasible_value)


def test_default_solver_stops_at_the_limit(quartic):
    prob, feasible_value = quartic
    t0 = time.perf_counter()
    r = prob.solve(order=3, time_limit=LIMIT)
    _assert_stopped_in_time(r, time.perf_counter() - t0, feasible_value)


def test_the_limit_covers_the_relaxation_build(quartic):
    # the degree-6 LP hierarchy takes several seconds to build, before HiGHS starts
    prob, feasible_value = quartic
    t0 = time.perf_counter()
    r = prob.solve(method="lp", degree=6, time_limit=1.0)
    seconds = time.perf_counter() - t0
    assert seconds <= 1.0 + 0.1 + 1.0
    assert r.status == "time_limit" and np.isnan(r.bound)
    assert "built" in str(r)


def test_a_solve_within_the_limit_is_unchanged():
    x = po.variables("x", 2)
    prob = po.Problem(minimize=x[0] ** 2 + x[1] ** 2 - x[0], constraints=[1 - x[0] ** 2 >= 0])
    for solver in ("clarabel", "sdpa", "arrow"):
        r = prob.solve(order=2, solver=solver, time_limit=60)
        assert r.status == "optimal"
        assert r.bound == pytest.approx(-0.25, abs=1e-6)


def test_a_solver_error_in_the_child_process_reaches_the_caller():
    x = po.variables("x", 2)
    prob = po.Problem(minimize=x[0] ** 2 + x[1] ** 2, constraints=[1 - x[0] ** 2 >= 0])
    with pytest.raises(ValueError, match="Clarabel setting"):
        prob.solve(solver="clarabel", time_limit=30, solver_options={"no_such_setting": 1})


def test_upper_bound_holds_its_limit_through_fallbacks_with_a_sound_value():
    # HR-2 of a deep network: the arrow solver, then the fallbacks and HR-1, would take
    # about a minute; the value that comes back is sound (HR-2's last iterate or Fast-Lip)
    net = random_network([40, 40, 40, 10], seed=0)
    t0 = time.perf_counter()
    b = lipschitz.upper_bound(net, order=2, time_limit=LIMIT)
    seconds = time.perf_counter() - t0
    assert seconds <= LIMIT + SLACK
    assert b.status == "time_limit"
    assert b.sound and np.isfinite(b.value)
    assert b.value >= lipschitz.lower_bound(net).value
    # never above the cheap sound bound it falls back on
    assert b.value <= lipschitz.upper_bound(net, method="fastlip").value


@pytest.mark.parametrize("seed", [0, 2])
def test_exact_holds_its_limit_with_an_honest_bracket(seed):
    # L-inf on He networks [16, 16, 16, 2]: these take minutes to prove; the MILPs leave part
    # of the limit to the proofs, and no proof starts past it
    net = lipschitz.he_network([16, 16, 16, 2], seed=seed)
    spec = dict(norm="inf", output=(0, 1))
    t0 = time.perf_counter()
    r = lipschitz.exact(net, time_limit=LIMIT, **spec)
    seconds = time.perf_counter() - t0
    assert seconds <= LIMIT + SLACK
    assert r.status == "time_limit"
    assert r.lower <= r.upper
    assert lipschitz.lower_bound(net, **spec).value <= r.upper


def test_a_solver_that_would_not_fit_raises_before_allocating_and_the_default_moves_on(
    monkeypatch,
):
    # a budget of ~1 KiB stands for a relaxation larger than the machine's memory
    x = po.variables("x", 3)
    prob = po.Problem(
        minimize=sum((x[i] ** 2 - x[(i + 1) % 3]) ** 2 for i in range(3)) + x[0],
        constraints=[1 - x[i] ** 2 >= 0 for i in range(3)],
    )
    with pytest.raises(po.SolverMemoryError, match="GiB"):
        prob.solve(order=2, solver="arrow", solver_options={"max_memory_gb": 1e-6})
    reference = prob.solve(order=2, solver="clarabel")
    import sys

    import polyopt.solvers.memory as memory

    solve_module = sys.modules["polyopt.solve"]  # (polyopt.solve is also the function)

    monkeypatch.setattr(solve_module, "default_solver", lambda program, **hints: "arrow")
    monkeypatch.setattr(memory, "available_bytes", lambda: 1024)
    r = prob.solve(order=2)
    assert r.solver == "scs" and "GiB" in r.raw["memory_fallback"]
    assert r.certified and r.bound <= reference.bound + 1e-6
    assert r.bound == pytest.approx(reference.bound, abs=1e-3)


@pytest.mark.parametrize("solver", ["clarabel", "sdpa"])
def test_interior_point_solvers_estimate_their_memory_before_allocating(solver, monkeypatch):
    # Clarabel aborts the whole process when an allocation fails: the estimate must come first
    x = po.variables("x", 3)
    prob = po.Problem(
        minimize=sum((x[i] ** 2 - x[(i + 1) % 3]) ** 2 for i in range(3)) + x[0],
        constraints=[1 - x[i] ** 2 >= 0 for i in range(3)],
    )
    with pytest.raises(po.SolverMemoryError, match=f"(?i){solver}.*GiB.*sparsity='auto'"):
        prob.solve(order=2, solver=solver, solver_options={"max_memory_gb": 1e-6})
    reference = prob.solve(order=2, solver=solver, solver_options={"max_memory_gb": 4.0})
    import sys

    import polyopt.solvers.memory as memory

    solve_module = sys.modules["polyopt.solve"]
    monkeypatch.setattr(solve_module, "default_solver", lambda program, **hints: solver)
    monkeypatch.setattr(memory, "available_bytes", lambda: 1024)
    r = prob.solve(order=2)
    assert r.solver == "scs" and solver in r.raw["memory_fallback"].lower()
    assert r.certified and r.bound <= reference.bound + 1e-6


def test_small_programs_are_solved_in_this_process_under_a_limit(monkeypatch):
    import polyopt.backends.deadline as deadline

    def no_child(*args):
        raise AssertionError("a small program started a child process")

    monkeypatch.setattr(deadline, "_solve_in_child", no_child)
    x = po.variables("x", 2)
    prob = po.Problem(minimize=x[0] ** 2 + x[1] ** 2 - x[0], constraints=[1 - x[0] ** 2 >= 0])
    for solver in ("clarabel", "sdpa", "arrow"):
        r = prob.solve(order=2, solver=solver, time_limit=30)
        assert r.status == "optimal" and r.bound == pytest.approx(-0.25, abs=1e-6)
