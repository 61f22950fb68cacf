"""The solver registry and policy (:mod:`polyopt.backends.registry`, :mod:`.policy`): the
choices are those polyopt and ``lipschitz.upper_bound`` made before the policy had one home
(the previous rules are spelled out here as the reference), over a grid of sizes."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest

import polyopt as po
from polyopt.backends import (
    REGISTRY,
    SOLVERS,
    STATUSES,
    MosekBackend,
    SolverHints,
    choose_solvers,
    default_solver,
    fallback_worth_trying,
    get_backend,
    policy,
    solver_entry,
)
from polyopt.backends.policy import LOWRANK_MIN_SIDE
from polyopt.conic import EXPAND_MAX_TERMS

SIDES = (1, 20, 40, 41, 150, 200, 201, 400, 401, 1000)


def _old_default(program, mosek, reducible, homes):
    if not program.block_sizes:
        return "highs"
    if mosek:
        return "mosek"
    if max(program.block_sizes) <= 40:
        return "clarabel"
    if program.n + 1 <= 4000 or reducible:
        return "sdpa"
    return "arrow" if homes else "scs"


def _old_upper_first(side, order, depth, mosek):
    if mosek:
        return None
    if order == 1 and depth == 1 and side >= 401:
        return "lowrank"
    if side > 40 and (order == 1 or depth == 1):
        return "arrow"
    return None


def _old_uses_mixing(side, mosek):
    return not mosek and side >= 401


@pytest.fixture(params=[False, True], ids=["no-mosek", "mosek"])
def mosek(request, monkeypatch):
    monkeypatch.setattr(MosekBackend, "available", lambda self: request.param)
    return request.param


@pytest.mark.parametrize("reducible", [False, True])
@pytest.mark.parametrize("homes", [False, True])
def test_default_solver_is_the_previous_choice(mosek, reducible, homes, monkeypatch):
    monkeypatch.setattr(policy, "fully_reducible", lambda program: reducible)
    monkeypatch.setattr(policy, "has_homes", lambda program: homes)
    monkeypatch.setattr(policy, "dense_rows_estimate", lambda program: 0)  # see below
    for blocks, n in itertools.product(([], [1, 1], [40, 3], [41], [90, 10], [500]), SIDES):
        program = SimpleNamespace(block_sizes=blocks, n=n * 10)
        want = _old_default(program, mosek, reducible, homes)
        assert default_solver(program) == want, (blocks, n)
        plan = choose_solvers(program)
        assert plan[0] == want
        if blocks:  # fallbacks: Clarabel while the moment matrix fits, then SDPA
            side = max(blocks)
            fallbacks = [f for f in ("clarabel", "sdpa") if f != want]
            if side > 200:
                fallbacks = [f for f in fallbacks if f != "clarabel"]
            assert plan[1:] == fallbacks
        else:
            assert plan == ["highs"]


def test_upper_bound_choices_are_the_previous_ones(mosek):
    for side, order, depth in itertools.product(SIDES, (1, 2), (1, 2, 3)):
        hints = SolverHints(moment_side=side, first_order=order == 1, depth=depth)
        plan = choose_solvers(hints=hints)
        old = _old_upper_first(side, order, depth, mosek)
        if order == 2 and depth == 1 and side >= LOWRANK_MIN_SIDE:
            old = None  # wide one-hidden-layer HR-2: decided on the built program
        assert plan[0] == ("mosek" if mosek else old), (side, order, depth)
        fallbacks = [f for f in ("clarabel", "sdpa") if not (f == "clarabel" and side > 200)]
        assert plan[1:] == [f for f in fallbacks if f != plan[0]]
        sign = SolverHints(moment_side=side, first_order=True, depth=1, sign_program=True)
        assert (choose_solvers(hints=sign)[0] == "mixing") == _old_uses_mixing(side, mosek)


def test_a_fallback_is_skipped_only_past_sdpas_size_with_a_certified_bound():
    for moments in (1, 4000, 4001):
        assert fallback_worth_trying(moments, certified=False)
        assert fallback_worth_trying(moments, certified=True) == (moments <= 4000)


def test_choose_solvers_needs_a_program_or_a_side():
    with pytest.raises(ValueError, match="moment_side"):
        choose_solvers(hints=SolverHints(first_order=True))


def test_registry_entries_declare_what_their_backends_do():
    names = [entry.name for entry in REGISTRY]
    assert len(set(names)) == len(names)
    for entry in REGISTRY:
        assert entry.time_limit_support in ("holds", "approximate", "none")
        for limit in entry.limits:
            assert isinstance(getattr(policy, limit), int)
        if entry.backend is not None:
            backend = get_backend(entry.name)
            assert (backend.name, backend.forms, backend.requires) == (
                entry.name,
                entry.forms,
                entry.requires,
            )
    assert set(SOLVERS) <= set(names)
    assert {entry.name for entry in REGISTRY if entry.backend} <= set(SOLVERS)
    with pytest.raises(ValueError, match="unknown solver"):
        get_backend("mixing")  # a solver of sign programs, not of conic programs
    assert solver_entry(" Clarabel ").limits == ("CLARABEL_MAX_BLOCK", "CLARABEL_FALLBACK_SIDE")
    assert solver_entry("cvxpy:SCS").name == "cvxpy:<NAME>"
    assert solver_entry("mixing").forms == ("sign",)
    with pytest.raises(ValueError, match="unknown solver"):
        solver_entry("gurobi-sdp")


def test_backends_check_forms_and_statuses():
    x = po.variables("x")
    prob = po.Problem(minimize=x**2 - x, constraints=[1 - x**2 >= 0])
    program = po.relax(prob, 1).program
    options = po.backends.SolverOptions()
    with pytest.raises(ValueError, match="unknown form 'reduced'"):
        get_backend("clarabel").solve(program, "reduced", options)
    res = get_backend("arrow").solve(program, "auto", options)  # "auto": the moment form
    assert res.status in STATUSES


def test_factored_rows_too_large_to_expand_go_to_the_low_rank_solver(mosek):
    fr = SimpleNamespace(expanded_terms=lambda: EXPAND_MAX_TERMS + 1)
    program = SimpleNamespace(block_sizes=[2069, 5], n=2_000_000, factored=fr)
    assert choose_solvers(program)[0] == "lowrank"
    fr_small = SimpleNamespace(expanded_terms=lambda: 1000)
    small = SimpleNamespace(block_sizes=[41], n=100, factored=fr_small)
    assert choose_solvers(small)[0] != "lowrank"


def _broyden_banded(n: int) -> po.Problem:
    """Broyden banded (Waki et al. 2006): degree 6, cliques of 7 variables; optimum 0."""
    x = po.variables("x", n)
    f = 0
    for i in range(n):
        s = sum(x[j] * (1 + x[j]) for j in range(max(0, i - 5), min(n, i + 2)) if j != i)
        f = f + (x[i] * (2 + 5 * x[i] ** 2) + 1 - s) ** 2
    return po.Problem(minimize=f)


def test_high_order_blocks_beyond_sdpas_size_avoid_the_arrow_form():
    """Order-3 moment matrices of side 120 repeat each moment along anti-diagonals: the
    arrow form would couple about 25,000 entry rows densely (4,091 moments), so SDPA is
    taken up to 8,000 moments and SCS beyond; first-order blocks keep the arrow solver."""
    from polyopt.solve import relax
    from polyopt.solvers.arrow import dense_rows_estimate

    small = relax(_broyden_banded(10), 3, "correlative").program
    assert small.n + 1 > 4000
    assert dense_rows_estimate(small) > 6 * small.n
    assert default_solver(small, bounded_moments=False) == "sdpa"
    large = relax(_broyden_banded(20), 3, "correlative").program
    assert default_solver(large, bounded_moments=False) == "scs"
    x = po.variables("x", 60)  # a first-order moment matrix: every entry its own moment
    shor = relax(
        po.Problem(
            minimize=sum(x[i] * x[i + 1] for i in range(59)),
            constraints=[1 - xi**2 >= 0 for xi in x],
        ),
        1,
    ).program
    assert dense_rows_estimate(shor) <= 1  # the constant entry holds no moment
