"""Property tests: nothing claimed sound or certified lies on the wrong side of the truth.

Every example is one integer seed, turned into a case by :mod:`soundness_cases` (so a
failure reported as ``seed=...`` is reproduced by ``network_case(seed, norms)`` or
``pop_case(seed)``). The truths are exact rationals:

* networks: the largest exact gradient dual norm over the activation regions of the box,
  evaluated in :class:`fractions.Fraction` arithmetic from the float weights
  (:func:`soundness_cases.network_truth`); a sound upper bound must be ``>=`` it, a lower
  bound ``<=`` it, and :func:`lipschitz.exact`'s bracket must enclose it;
* polynomial problems: the exact objective at an exactly feasible point; a certified bound
  must be ``<=`` it (minimize) or ``>=`` it (maximize).

The comparisons are exact (the float bound read as a rational). Each check asserts twice:
first that a violation, if any, is within rounding (``soundness_cases.ROUNDING`` relative),
then that there is none at all, so that gross and rounding-level violations are reported as
separate failures. The default run is small; the ``slow`` variants draw many more seeds.
"""

from __future__ import annotations

import pytest
from soundness_cases import (
    NETWORK_METHODS,
    POP_SOLVERS,
    judge_network,
    judge_pop,
    network_case,
    network_truth,
    pop_case,
    pop_truth,
    run_network_method,
    run_pop,
)
from strategies import seeded

from polyopt import NotArrow, SolverUnavailable

UPPER_METHODS = ("shor", "hr-1", "hr-2", "fastlip", "naive", "lipsdp", "lipopt", "liplp")


def assert_valid(verdict) -> None:
    """Fail on a claim on the wrong side: first for a gross violation, then for any."""
    assert not verdict.gross, "gross violation: " + verdict.message
    assert not verdict.invalid, "rounding-level violation: " + verdict.message


def check_network(method: str, seed: int) -> None:
    case = network_case(seed, NETWORK_METHODS[method])
    truth = network_truth(seed)
    result = run_network_method(method, case)
    assert_valid(judge_network(method, case, result, truth))


def check_pop(solver: str, seed: int) -> None:
    case = pop_case(seed)
    truth = pop_truth(seed)
    if truth is None:  # no exactly feasible point found: nothing to compare with
        return
    try:
        result = run_pop(solver, case, seed)
    except NotArrow:  # the block-arrow solver does not apply to this relaxation
        return
    except SolverUnavailable:
        pytest.skip(f"{solver} is not installed")
    assert_valid(judge_pop(solver, case, result, truth))


# ---------------------------------------------------------------------- default run


@pytest.mark.parametrize("method", UPPER_METHODS)
@seeded(25)
def test_sound_upper_bounds_are_above_the_exact_constant(method, seed):
    check_network(method, seed)


@seeded(25)
def test_exact_bracket_encloses_the_exact_constant(seed):
    check_network("exact", seed)


@seeded(25)
def test_lower_bounds_are_below_the_exact_constant(seed):
    check_network("lower", seed)


@pytest.mark.parametrize("solver", POP_SOLVERS)
@seeded(15)
def test_certified_pop_bounds_are_on_the_right_side(solver, seed):
    check_pop(solver, seed)


# ---------------------------------------------------------------------- many more seeds


@pytest.mark.slow
@pytest.mark.parametrize("method", UPPER_METHODS)
@seeded(400, derandomize=False)
def test_sound_upper_bounds_many(method, seed):
    check_network(method, seed)


@pytest.mark.slow
@seeded(400, derandomize=False)
def test_exact_bracket_many(seed):
    check_network("exact", seed)


@pytest.mark.slow
@seeded(400, derandomize=False)
def test_lower_bounds_many(seed):
    check_network("lower", seed)


@pytest.mark.slow
@pytest.mark.parametrize("solver", POP_SOLVERS)
@seeded(200, derandomize=False)
def test_certified_pop_bounds_many(solver, seed):
    check_pop(solver, seed)
