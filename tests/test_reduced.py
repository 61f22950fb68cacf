"""SDPA's reduced form (largest moment matrix eliminated): same bounds as the full forms."""

from __future__ import annotations

import numpy as np
import pytest

import polyopt as po
from polyopt.backends.reduced_form import eliminate_equalities, fully_reducible, reduce_program
from polyopt.solve import relax


def random_qcqp(n: int, seed: int) -> po.Problem:
    """A random nonconvex QCQP on the box [-1, 1]^n with a ball constraint."""
    rng = np.random.default_rng(seed)
    x = po.variables("x", n)
    Q = rng.standard_normal((n, n))
    Q = Q + Q.T
    obj = po.polysum([Q[i, j] * x[i] * x[j] for i in range(n) for j in range(n)])
    obj = obj + po.polysum([rng.standard_normal() * x[i] for i in range(n)])
    cons = [1 - x[i] ** 2 >= 0 for i in range(n)] + [n / 2 - (x**2).sum() >= 0]
    return po.Problem(minimize=obj, constraints=cons)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shor_reduced_matches_clarabel(seed):
    prob = random_qcqp(6, seed)
    ref = prob.solve(order=1, solver="clarabel")
    red = prob.solve(order=1, solver="sdpa", form="reduced")
    assert red.status in ("optimal", "inaccurate")
    assert red.certified
    # both are certified lower bounds of the same relaxation value
    assert red.bound == pytest.approx(ref.bound, rel=1e-5, abs=1e-6)
    assert red.bound <= ref.dual_value + 1e-6


def test_shor_relaxation_is_fully_reducible_and_auto_chooses_it():
    prob = random_qcqp(5, 3)
    program = relax(prob, 1, None, True).program
    assert fully_reducible(program)
    red = reduce_program(program)
    assert red.eq_rows == 0
    # one free variable per multiplier and 1x1 block, not one per moment
    assert red.free < program.n


def test_hr2_reduced_eliminates_leftover_equalities_and_matches():
    # a nearly sparse problem: a chain of 2-variable cliques and one dense ball constraint
    n = 6
    x = po.variables("x", n)
    obj = po.polysum([x[i] * x[i + 1] - x[i] ** 2 * x[i + 1] ** 2 for i in range(n - 1)])
    cons = [1 - x[i] ** 2 >= 0 for i in range(n)] + [3 - (x**2).sum() >= 0]
    prob = po.Problem(minimize=obj, constraints=cons)
    program = relax(prob, 2, "nearly", True).program
    red = reduce_program(program)
    assert red is not None and red.eq_rows > 0
    eliminated = eliminate_equalities(red)
    assert eliminated.eq_rows == 0 and eliminated.T is not None
    ref = prob.solve(order=2, sparsity="nearly", solver="clarabel")
    got = prob.solve(order=2, sparsity="nearly", solver="sdpa", form="reduced")
    assert got.certified
    assert got.bound == pytest.approx(ref.bound, rel=1e-4, abs=1e-5)
    assert got.bound <= ref.dual_value + 1e-6


def test_dense_order2_is_not_reducible_and_reduced_form_says_so():
    x = po.variables("x", 2)
    prob = po.Problem(
        minimize=x[0] ** 4 + x[1] ** 2 - x[0] * x[1], constraints=[1 - x[0] ** 2 >= 0]
    )
    program = relax(prob, 2, None, True).program
    assert reduce_program(program) is None  # M_2 repeats moments (x1*x2 at two entries)
    with pytest.raises(ValueError, match="plain moment matrix"):
        prob.solve(order=2, solver="sdpa", form="reduced")


def test_hr2_is_not_chosen_for_the_reduced_form_by_default():
    n = 6
    x = po.variables("x", n)
    obj = po.polysum([x[i] * x[i + 1] for i in range(n - 1)])
    cons = [1 - x[i] ** 2 >= 0 for i in range(n)] + [3 - (x**2).sum() >= 0]
    program = relax(po.Problem(minimize=obj, constraints=cons), 2, "nearly", True).program
    assert not fully_reducible(program)
