"""Term sparsity: TSSOS, CS-TSSOS (``sparsity="term"`` / ``"correlative+term"``) and
``sparsity="auto"``.

Specification: Wang, Magron, Lasserre, "TSSOS: a moment-SOS hierarchy that exploits term
sparsity", SIAM J. Optim. 31 (2021); Wang, Magron, Lasserre, Mai, "CS-TSSOS", ACM TOMS 48
(2022); the construction as :mod:`polyopt.relaxations.term` documents it. Every value compared
with is known without the relaxation under test:

* random box-constrained sparse POPs (some variables binary, some constraints coupling two
  variables): the best objective value over a feasible grid (an upper bound on the minimum,
  a lower bound on the maximum), the dense and correlative relaxations' values; the theorems
  asserted are the sandwich CS-TS <= CS <= dense <= optimum and TS <= dense (every TS block
  is a principal submatrix of a dense / correlative one), monotone TS steps with
  ``ts_chordal="block"``, and min_degree blocks no stronger than block ones;
* the blocks themselves against a reference written here from the module docstring (pure
  Python on exponent tuples, networkx for components / chordality);
* classic instances with published or brute-force optima (benchmarks/instances.py);
* minimizers from a KKT enumeration of a convex box QP (and derived by hand).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
from dataclasses import dataclass
from functools import cache
from math import comb
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from strategies import seeded

import polyopt as po
from polyopt.cli import main
from polyopt.relaxations.auto import GAIN, SMALL_DENSE, block_sizes
from polyopt.relaxations.term import plan_term, term_sparse

SOLVE = {"solver": "clarabel", "tol": 1e-9}
ROOT = Path(__file__).resolve().parent.parent


def slack(v: float) -> float:
    """Solver slack for comparing two bounds (relative 1e-6)."""
    return 1e-6 * (1.0 + abs(v))


def weaker(a: float, b: float, sense: str) -> bool:
    """``a`` is a bound no tighter than ``b`` (up to solver slack): ``a <= b`` for min."""
    if sense == "min":
        return a <= b + slack(b)
    return a >= b - slack(b)


# --------------------------------------------------------------------------- random POPs
@dataclass
class Case:
    """A random sparse POP: chain-structured objective on boxes ``|x_i| <= r_i`` or binary
    ``x_i^2 = 1`` variables, and optionally one constraint coupling ``x_i, x_{i+1}``."""

    n: int
    radius: np.ndarray  # 0 marks a binary variable
    objective: list[tuple[float, tuple[int, ...]]]
    coupling: list[tuple[float, tuple[int, ...]]]  # [] when absent
    sense: str

    def problem(self) -> tuple[po.Problem, tuple]:
        x = tuple(po.variables("x", self.n))

        def poly(terms):
            out = po.Polynomial.constant(0.0)
            for c, e in terms:
                mono = po.Polynomial.constant(c)
                for k, p in enumerate(e):
                    if p:
                        mono = mono * x[k] ** p
                out = out + mono
            return out

        cons = [
            (x[i] ** 2 - 1 == 0) if r == 0 else (r**2 - x[i] ** 2 >= 0)
            for i, r in enumerate(self.radius)
        ]
        if self.coupling:
            cons.append(poly(self.coupling) >= 0)
        key = "minimize" if self.sense == "min" else "maximize"
        return po.Problem(**{key: poly(self.objective)}, constraints=cons), x


def random_case(seed: int, sense: str = "min") -> Case:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 6))
    radius = rng.choice([1.0, 2.0], size=n)
    radius[rng.random(n) < 0.25] = 0.0  # binary
    objective = []
    for i in range(n - 1):
        for _ in range(int(rng.integers(1, 4))):
            while True:
                a, b = (int(v) for v in rng.integers(0, 4, size=2))
                if 1 <= a + b <= 4:
                    break
            e = [0] * n
            e[i], e[i + 1] = a, b
            objective.append((float(np.round(rng.normal(), 3)), tuple(e)))
    for i in range(n):
        if rng.random() < 0.5:
            e = [0] * n
            e[i] = int(rng.integers(1, 5))
            objective.append((float(np.round(rng.normal(), 3)), tuple(e)))
    coupling: list[tuple[float, tuple[int, ...]]] = []
    if rng.random() < 0.6:
        i = int(rng.integers(0, n - 1))
        for _ in range(2):
            e = [0] * n
            e[i], e[i + 1] = (int(v) for v in rng.integers(0, 3, size=2))
            if 1 <= sum(e) <= 3:
                coupling.append((float(np.round(rng.normal(), 3)), tuple(e)))
        # feasible at p (0 for a box variable, 1 for a binary one), a grid point
        p = np.where(radius == 0, 1.0, 0.0)
        rest = sum(c * np.prod(p ** np.array(e)) for c, e in coupling)
        coupling.append((float(np.round(max(0.0, -rest) + 0.5, 3)), (0,) * n))
    return Case(n, radius, objective, coupling, sense)


def values(terms, X: np.ndarray) -> np.ndarray:
    out = np.zeros(X.shape[0])
    for c, e in terms:
        out += c * np.prod(X ** np.array(e), axis=1)
    return out


def grid_truth(case: Case) -> tuple[float, np.ndarray]:
    """Best objective value over feasible grid points (each one feasible, so its value is an
    upper bound on the min / lower bound on the max) and the point attaining it."""
    k = 11 if case.n <= 4 else 9
    axes = [np.array([-1.0, 1.0]) if r == 0 else np.linspace(-r, r, k) for r in case.radius]
    X = np.array(list(itertools.product(*axes)))
    if case.coupling:
        X = X[values(case.coupling, X) >= 0]
    assert X.shape[0] > 0  # the point p above is on the grid
    v = values(case.objective, X)
    best = int(np.argmin(v) if case.sense == "min" else np.argmax(v))
    return float(v[best]), X[best]


def solve(problem: po.Problem, sparsity=None, **kw):
    return problem.solve(order=2, sparsity=sparsity, **SOLVE, **kw)


def exponent_rows(codes: np.ndarray, n: int) -> list[tuple[int, ...]]:
    """Monomial codes (sorted variable positions, sentinel ``n``) as exponent tuples."""
    return [tuple(int(v) for v in np.bincount(row[row < n], minlength=n)) for row in codes]


def check_sandwich(seed: int, sense: str) -> None:
    case = random_case(seed, sense)
    P, x = case.problem()
    truth, point = grid_truth(case)
    # the problem polyopt sees is the one evaluated on the grid
    assert P.objective.evaluate(point, x) == pytest.approx(truth, abs=1e-9)

    dense = solve(P)
    cs = solve(P, "correlative")
    ts = {k: solve(P, "term", ts_step=k, ts_chordal="block") for k in (1, 2, 3)}
    csts = {k: solve(P, "correlative+term", ts_step=k, ts_chordal="block") for k in (1, 2, 3)}
    ts_md = solve(P, "term", ts_step=1, ts_chordal="min_degree")
    csts_md = solve(P, "correlative+term", ts_step=2, ts_chordal="min_degree")

    compared = 0

    def check(a, b, what: str) -> None:
        """``a`` no tighter than ``b``; ``b`` a Result or a known value."""
        nonlocal compared
        bval = b if isinstance(b, float) else b.bound
        if a.status != "optimal" or (not isinstance(b, float) and b.status != "optimal"):
            return
        compared += 1
        assert weaker(a.bound, bval, sense), f"{what}: {a.bound!r} vs {bval!r} (seed {seed})"

    everything = [dense, cs, ts_md, csts_md, *ts.values(), *csts.values()]
    for r in everything:
        check(r, truth, f"{r.relaxation} vs the grid optimum")
    check(cs, dense, "CS vs dense")
    for k in (1, 2, 3):
        check(ts[k], dense, f"TS step {k} vs dense")
        check(csts[k], cs, f"CS-TS step {k} vs CS")
    for k in (1, 2):
        check(ts[k], ts[k + 1], f"TS step {k} vs step {k + 1} (block)")
        check(csts[k], csts[k + 1], f"CS-TS step {k} vs step {k + 1} (block)")
    check(ts_md, ts[1], "TS min_degree vs block, step 1")
    check(csts_md, csts[2], "CS-TS min_degree vs block, step 2")
    assert compared > 0

    dense_side = comb(case.n + 2, 2)
    objective = {tuple(int(v) for v in row) for row in P.objective.aligned(P.variables)}
    for r, k in [(ts[1], 1), (ts[3], 3), (csts[2], 2), (ts_md, 1)]:
        assert r.relaxation in ("term", "correlative+term")
        info = r.relax.info
        assert info["ts_step"] == k and 1 <= info["ts_steps_taken"] <= k
        history = info["largest_block_by_step"]
        assert len(history) == info["ts_steps_taken"]
        assert history == sorted(history)  # blocks only grow with the step
        assert history[-1] == info["block_sizes"][0] <= dense_side
        # L(f) is a combination of moments that the blocks hold
        moments = {tuple(int(v) for v in row) for row in r.relax.exponents()}
        assert objective <= moments


@seeded(30)
def test_sandwich_random_minimization(seed):
    check_sandwich(seed, "min")


@seeded(8)
def test_sandwich_random_maximization(seed):
    check_sandwich(seed, "max")


# --------------------------------------------------------------------------- the blocks
def monomials(positions, degree: int, n: int) -> list[tuple[int, ...]]:
    out = []
    for k in range(degree + 1):
        for combo in itertools.combinations_with_replacement(positions, k):
            e = [0] * n
            for v in combo:
                e[v] += 1
            out.append(tuple(e))
    return out


def plus(*monos: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(sum(v)) for v in zip(*monos))


@dataclass
class RefMatrix:
    basis: list[tuple[int, ...]]
    g: list[tuple[int, ...]]  # supp(g); [0] for a moment matrix


def reference(problem: po.Problem, d: int, cliques, assignment):
    """Matrices, equalities ``(supp h, clique, max multiplier degree)`` and the step-1
    support of the module docstring's construction."""
    n = problem.nvars
    zero = (0,) * n

    def supp(poly):
        return [tuple(int(v) for v in row) for row in poly.aligned(problem.variables)]

    matrices = [RefMatrix(monomials(c, d, n), [zero]) for c in cliques]
    equalities = []
    for i, c in enumerate(problem.constraints):
        clique = cliques[assignment[i]]
        h = supp(c.poly)
        if c.kind == "ineq":
            matrices.append(RefMatrix(monomials(clique, d - (c.poly.degree + 1) // 2, n), h))
        else:
            equalities.append((h, clique, 2 * d - c.poly.degree))
    support = set(supp(problem.objective))
    for c in problem.constraints:
        support |= set(supp(c.poly))
    for m in matrices[: len(cliques)]:
        support |= {plus(b, b) for b in m.basis}
    return matrices, equalities, support


def term_graph(m: RefMatrix, support: set) -> nx.Graph:
    """``{b, c}`` is an edge when ``b + c + t`` lies in the support for some ``t`` in
    ``supp(g)`` (self-loops dropped: every node is a vertex)."""
    G = nx.Graph()
    G.add_nodes_from(m.basis)
    for b, c in itertools.combinations(m.basis, 2):
        if any(plus(b, c, t) in support for t in m.g):
            G.add_edge(b, c)
    return G


def plan_blocks(plan, n: int):
    """Per matrix: its basis (exponent tuples) and its blocks (frozensets of them)."""
    out = []
    for m in plan.matrices:
        rows = exponent_rows(m.basis, n)
        out.append((rows, [frozenset(rows[i] for i in blk) for blk in m.blocks]))
    return out


def check_blocks_against_reference(problem: po.Problem, correlative: bool, ts_chordal: str):
    n, d = problem.nvars, 2
    plans = {k: plan_term(problem, d, k, ts_chordal, correlative) for k in (1, 2, 3)}
    info = plans[1].info
    cliques = info["cliques"] if correlative else [tuple(range(n))]
    assignment = info["assignment"] if correlative else [0] * len(problem.constraints)
    matrices, equalities, support = reference(problem, d, cliques, assignment)
    previous = None
    for k in (1, 2, 3):
        plan = plans[k]
        got = plan_blocks(plan, n)
        assert len(got) == len(matrices)
        assert plan.info["ts_steps_taken"] <= k
        for (rows, blocks), m in zip(got, matrices):
            assert sorted(rows) == sorted(m.basis)  # the nodes: the dense (clique) basis
            G = term_graph(m, support)
            if ts_chordal == "block":
                assert len(blocks) == len(set(blocks))
                assert set(blocks) == {frozenset(c) for c in nx.connected_components(G)}
            else:
                H = nx.Graph()
                H.add_nodes_from(m.basis)
                for blk in blocks:
                    H.add_edges_from(itertools.combinations(blk, 2))
                assert all(H.has_edge(b, c) for b, c in G.edges)  # an extension of G
                assert nx.is_chordal(H)
                # the blocks are exactly the maximal cliques of that chordal graph
                assert len(blocks) == len(set(blocks))
                assert set(blocks) == {frozenset(c) for c in nx.find_cliques(H)}
        # equality rows: the multipliers m with m + supp(h) meeting the support
        assert len(plan.equalities) == len(equalities)
        mults = []
        for (_name, _h, codes), (h, clique, top) in zip(plan.equalities, equalities):
            want = {m for m in monomials(clique, top, n) if any(plus(m, t) in support for t in h)}
            assert set(exponent_rows(codes, n)) == want
            mults.append((h, want))
        # every block of step k - 1 lies inside a block of step k (same matrix)
        if previous is not None:
            for (_, before), (_, now) in zip(previous, got):
                assert all(any(b <= c for c in now) for b in before)
        # the support of step k + 1: every monomial the blocks of step k use
        grown = set(support)
        for (_, blocks), m in zip(got, matrices):
            for blk in blocks:
                for b, c in itertools.combinations_with_replacement(sorted(blk), 2):
                    grown |= {plus(b, c, t) for t in m.g}
        for h, want in mults:
            grown |= {plus(m, t) for m in want for t in h}
        if plan.info["ts_steps_taken"] < k:  # stopped early: the support no longer grew
            assert grown == support
        support, previous = grown, got


@seeded(8)
def test_blocks_follow_the_definition(seed):
    P, _ = random_case(seed).problem()
    for correlative in (False, True):
        for ts_chordal in ("block", "min_degree", "min_fill"):
            check_blocks_against_reference(P, correlative, ts_chordal)


def test_blocks_follow_the_definition_with_equalities_and_max():
    # maxcut-like +-1 variables (equalities) on a 5-cycle plus a field term, maximized
    x = po.variables("x", 5)
    f = po.polysum((1 - x[i] * x[(i + 1) % 5]) / 2 for i in range(5)) + 0.3 * x[0]
    P = po.Problem(maximize=f, constraints=[x[i] ** 2 == 1 for i in range(5)])
    for correlative in (False, True):
        for ts_chordal in ("block", "min_degree"):
            check_blocks_against_reference(P, correlative, ts_chordal)


def steps_problem():
    """min y z^3 + y^3 + 2 y^2 + x on [-1, 1]^3. By hand: x = -1, and over z = +-1 the best
    is y = -1/3, z = 1 (y^3 + 2 y^2 + y, stationary at y = -1/3): optimum -1 - 4/27."""
    x, y, z = po.variables("x", 3)
    f = y * z**3 + y**3 + 2 * y**2 + x
    return po.Problem(minimize=f, constraints=[1 - v**2 >= 0 for v in (x, y, z)]), -31 / 27


def test_block_steps_reach_the_dense_relaxation():
    P, fstar = steps_problem()
    g = np.linspace(-1, 1, 61)
    X, Y, Z = np.meshgrid(g, g, g, indexing="ij")
    assert (Y * Z**3 + Y**3 + 2 * Y**2 + X).min() >= fstar - 1e-12  # the hand optimum
    dense = solve(P)
    assert dense.status == "optimal" and abs(dense.bound - fstar) <= 1e-6
    # step 1: z is isolated in the moment graph (z, y z, x z, ... times z are not in supp)
    one = plan_term(P, 2, ts_step=1)
    assert len(one.matrices[0].blocks) > 1
    prev = -np.inf
    for k in (1, 2, 3):
        plan = plan_term(P, 2, ts_step=k)
        r = solve(P, "term", ts_step=k, ts_chordal="block")
        assert r.status == "optimal"
        assert r.bound <= dense.bound + slack(dense.bound)
        assert r.bound >= prev - slack(prev)
        prev = r.bound
        if k >= 2:  # the graphs are connected: one block per matrix, the whole basis
            for m in plan.matrices:
                assert len(m.blocks) == 1 and len(m.blocks[0]) == len(m.basis)
            assert r.relax.info["block_sizes"] == [10, 4, 4, 4]  # = the dense relaxation
            assert abs(r.bound - dense.bound) <= 1e-6
            assert abs(r.bound - fstar) <= 1e-6


def test_scalars_and_localizing_entries_match_a_hand_example():
    # min x^4 - x^2 + y^2 - y s.t. 1 - x^2 >= 0: step 1 support
    # {x^4, x^2, y^2, y, 1} and the diagonals 2b = {1, x^2, y^2, x^4, x^2 y^2, y^4}
    x, y = po.Variable("x"), po.Variable("y")
    P = po.Problem(minimize=x**4 - x**2 + y**2 - y, constraints=[1 - x**2 >= 0])
    plan = plan_term(P, 2, ts_step=1)
    moment, local = plan_blocks(plan, 2)
    # {1, y, x^2, y^2} connected through 1 * y, 1 * x^2, 1 * y^2, x^2 * y^2; x and x y are
    # alone (x * 1 = x, x * y = x y, x * x^2 = x^3, x y * 1 = x y, ...: not in the support)
    assert set(moment[1]) == {
        frozenset({(0, 0), (0, 1), (2, 0), (0, 2)}),
        frozenset({(1, 0)}),
        frozenset({(1, 1)}),
    }
    # localizing basis {1, x, y}: 1 * y * {1, x^2} meets the support in y; x alone
    assert set(local[1]) == {frozenset({(0, 0), (0, 1)}), frozenset({(1, 0)})}
    r = P.solve(order=2, sparsity="term", **SOLVE)
    # the optimum -1/2: x^4 - x^2 >= -1/4 (x^2 = 1/2), y^2 - y >= -1/4 (y = 1/2)
    assert r.status == "optimal" and abs(r.bound + 0.5) <= 1e-6


# --------------------------------------------------------------------------- classic instances
def load_instances():
    spec = importlib.util.spec_from_file_location(
        "benchmark_instances", ROOT / "benchmarks" / "instances.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


INSTANCES = load_instances()


@cache
def instance(name: str, n: int):
    return getattr(INSTANCES, name)(n)


@cache
def dense_bound(name: str, n: int) -> float:
    inst = instance(name, n)
    r = inst.problem.solve(order=inst.order, **SOLVE)
    assert r.status == "optimal"
    return r.bound


# (instance, n, sparsity, ts_chordal, exact): "exact" where TSSOS attains the known optimum
# (checked when writing this test); elsewhere the sandwich with the dense bound is asserted
CLASSIC = [
    ("generalized_rosenbrock", 6, "term", "block", True),
    ("generalized_rosenbrock", 6, "term", "min_degree", True),
    ("generalized_rosenbrock", 6, "correlative+term", "block", True),
    ("generalized_rosenbrock", 8, "term", "block", True),
    ("generalized_rosenbrock", 8, "term", "min_degree", True),
    ("generalized_rosenbrock", 8, "correlative+term", "min_degree", True),
    ("broyden_tridiagonal", 6, "term", "block", True),
    ("broyden_tridiagonal", 6, "term", "min_degree", True),
    ("broyden_tridiagonal", 6, "correlative+term", "block", True),
    ("random_box_qp", 6, "term", "block", True),
    ("random_box_qp", 6, "term", "min_degree", False),
    ("random_box_qp", 6, "correlative+term", "min_degree", False),
    ("maxcut", 8, "term", "block", True),
    ("maxcut", 8, "correlative+term", "block", True),
    ("maxcut", 8, "term", "min_degree", False),
]


@pytest.mark.parametrize("name, n, sparsity, ts_chordal, exact", CLASSIC)
def test_classic_instances(name, n, sparsity, ts_chordal, exact):
    inst = instance(name, n)
    P, known, sense = inst.problem, inst.known, inst.problem.sense
    r = P.solve(order=inst.order, sparsity=sparsity, ts_chordal=ts_chordal, **SOLVE)
    assert r.status == "optimal" and r.relaxation == sparsity
    assert weaker(r.bound, known, sense)  # a bound on the right side of the optimum
    sizes = r.relax.info["block_sizes"]
    assert sizes == sorted(sizes, reverse=True) and r.sizes["largest_block"] <= sizes[0]
    dense_side = comb(n + inst.order, inst.order)
    if name == "random_box_qp" and (sparsity, ts_chordal) == ("term", "block"):
        # a dense Q: every x_i x_j is in supp(f), so the moment graph is connected
        assert sizes[0] == dense_side
    else:
        assert sizes[0] < dense_side
    if exact:
        assert abs(r.bound - known) <= 1e-5
    else:
        dense = dense_bound(name, n)
        assert weaker(r.bound, dense, sense) and weaker(dense, known, sense)
        if sparsity == "correlative+term":
            cs = P.solve(order=inst.order, sparsity="correlative", **SOLVE)
            assert cs.status == "optimal" and weaker(r.bound, cs.bound, sense)


# --------------------------------------------------------------------------- sparsity="auto"
def documented_choice(sizes: dict[str, int]) -> str:
    """The rule of polyopt.relaxations.auto's docstring, from the sizes."""
    if sizes["dense"] <= SMALL_DENSE:
        return "dense"
    chosen = "dense"
    for kind in ("correlative", "term", "correlative+term"):  # tightest to sparsest
        if kind in sizes and sizes[kind] <= GAIN * sizes[chosen]:
            chosen = kind
    return chosen


@pytest.mark.parametrize("name, n, expected", [("generalized_rosenbrock", 20, "correlative")])
def test_auto_picks_correlative_for_a_chain(name, n, expected):
    inst = instance(name, n)
    P = inst.problem
    r = P.solve(order=2, sparsity="auto", **SOLVE)
    auto = r.relax.info["auto"]
    sizes = auto["largest_block"]
    # the sizes, independently: dense C(n + 2, 2); cliques {x_i, x_i+1} give C(4, 2); the
    # term candidates are the largest blocks of the assembled relaxations
    assert sizes["dense"] == comb(n + 2, 2) and sizes["correlative"] == comb(4, 2)
    for kind in ("term", "correlative+term"):
        assert sizes[kind] == po.relax(P, 2, kind).program.sizes()["largest_block"]
    assert sizes == block_sizes(P, 2)
    assert auto["chosen"] == documented_choice(sizes) == expected == r.relaxation
    assert r.sizes["largest_block"] == sizes[expected]
    assert r.status == "optimal" and abs(r.bound - inst.known) <= 1e-5


def test_auto_picks_cs_ts_for_maxcut_and_stays_exact():
    inst = instance("maxcut", 12)  # known: brute force over 2^11 cuts
    r = inst.problem.solve(order=2, sparsity="auto", **SOLVE)
    sizes = r.relax.info["auto"]["largest_block"]
    assert sizes["dense"] == comb(14, 2)
    assert r.relax.info["auto"]["chosen"] == documented_choice(sizes) == r.relaxation
    assert r.relaxation == "correlative+term"
    assert r.status == "optimal" and weaker(r.bound, inst.known, "max")
    assert abs(r.bound - inst.known) <= 1e-5


def test_auto_stays_dense_on_a_tiny_problem():
    x, y = po.Variable("x"), po.Variable("y")
    P = po.Problem(minimize=x**4 + y**4 - x * y + x, constraints=[2 - x**2 - y**2 >= 0])
    r = P.solve(order=2, sparsity="auto", **SOLVE)
    assert r.relaxation == "dense"
    assert r.relax.info["auto"] == {"chosen": "dense", "largest_block": {"dense": comb(4, 2)}}
    dense = P.solve(order=2, **SOLVE)
    assert r.status == dense.status == "optimal"
    assert abs(r.bound - dense.bound) <= slack(dense.bound)


# --------------------------------------------------------------------------- bad input
def small_problem() -> po.Problem:
    x = po.variables("x", 3)
    return po.Problem(
        minimize=x[0] * x[1] + x[1] * x[2] + x[0], constraints=[1 - v**2 >= 0 for v in x]
    )


@pytest.mark.parametrize(
    "sparsity, options, fragment",
    [
        ("term", {"ts_step": 0}, "ts_step must be an integer >= 1, got 0"),
        ("term", {"ts_step": 1.5}, "ts_step must be an integer >= 1, got 1.5"),
        ("correlative+term", {"ts_step": -2}, "ts_step must be an integer >= 1, got -2"),
        ("term", {"ts_chordal": "foo"}, "unknown ts_chordal 'foo'"),
        ("correlative+term", {"ts_chordal": "maximal"}, "unknown ts_chordal 'maximal'"),
        ("term", {"ball_radii": [1.0]}, r"unknown option\(s\) \['ball_radii'\]"),
        ("term", {"cliques": [[0, 1], [1, 2]]}, r"unknown option\(s\) \['cliques'\]"),
        ("term", {"chordal": "min_fill"}, r"unknown option\(s\) \['chordal'\]"),
        ("correlative+term", {"bad": [0]}, r"unknown option\(s\) \['bad'\]"),
        ("auto", {"cliques": [[0, 1], [1, 2]]}, r"unknown option\(s\) \['cliques'\]"),
    ],
)
def test_bad_input_raises(sparsity, options, fragment):
    with pytest.raises(ValueError, match=fragment):
        small_problem().solve(order=2, sparsity=sparsity, **SOLVE, **options)


def test_bad_input_plan_term():
    P = small_problem()
    with pytest.raises(ValueError, match="ts_step must be an integer"):
        plan_term(P, 2, ts_step=True)
    with pytest.raises(ValueError, match="cliques= needs sparsity='correlative\\+term'"):
        term_sparse(P, 2, cliques=[[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="too small"):
        term_sparse(P, 0)


@pytest.mark.parametrize("options", [{"ts_step": 0}, {"ts_chordal": "foo"}])
def test_auto_rejects_bad_term_options_on_small_problems(options):
    with pytest.raises(ValueError):
        small_problem().solve(order=2, sparsity="auto", **SOLVE, **options)


def test_term_options_without_term_sparsity_name_term():
    with pytest.raises(ValueError, match="term"):
        small_problem().solve(order=2, ts_step=2, **SOLVE)


# --------------------------------------------------------------------------- minimizers
def box_qp_argmin(Q: np.ndarray, c: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, float]:
    """argmin of x'Qx + c'x over |x_i| <= r_i by KKT enumeration (each face solved)."""
    n = len(c)
    best, arg = np.inf, None
    for pattern in itertools.product((-1, 0, 1), repeat=n):
        p = np.array(pattern)
        free = p == 0
        x = p * r
        if free.any():
            H = 2 * Q[np.ix_(free, free)]
            rhs = -(c[free] + 2 * Q[np.ix_(free, ~free)] @ x[~free])
            x[free] = np.linalg.solve(H, rhs)
            if np.any(np.abs(x) > r + 1e-12):
                continue
        v = float(x @ Q @ x + c @ x)
        if v < best:
            best, arg = v, x
    return arg, best


def convex_box_qp():
    """sum (x_i - a_i)^2 + 0.5 x1 x2 - 0.4 x2 x3 + 0.3 x3 x4 on |x_i| <= r_i (strictly
    convex: a unique minimizer). By hand (r = 1): x2 = -1, x4 = 1 at their bounds,
    x1 = 0.3 + 0.25, x3 = 0.5 - 0.2 - 0.15, value 1.375."""
    a = np.array([0.3, -1.6, 0.5, 2.0])
    Q = np.eye(4)
    Q[0, 1] = Q[1, 0] = 0.25
    Q[1, 2] = Q[2, 1] = -0.2
    Q[2, 3] = Q[3, 2] = 0.15
    return a, Q, -2 * a


@pytest.mark.parametrize("radius", [1.0, 2.0])
@pytest.mark.parametrize(
    "sparsity, ts_chordal",
    [("term", "block"), ("term", "min_degree"), ("correlative+term", "min_degree")],
)
def test_certified_minimizer_of_a_convex_box_qp(sparsity, ts_chordal, radius):
    a, Q, c = convex_box_qp()
    r = np.full(4, radius)
    xstar, fstar = box_qp_argmin(Q, c, r)
    fstar += float(a @ a)
    if radius == 1.0:
        assert np.allclose(xstar, [0.55, -1.0, 0.15, 1.0]) and abs(fstar - 1.375) < 1e-12
    x = po.variables("x", 4)
    f = po.polysum((x[i] - a[i]) ** 2 for i in range(4))
    f = f + 0.5 * x[0] * x[1] - 0.4 * x[1] * x[2] + 0.3 * x[2] * x[3]
    P = po.Problem(minimize=f, constraints=[radius**2 - v**2 >= 0 for v in x])
    res = P.solve(order=2, sparsity=sparsity, ts_chordal=ts_chordal, **SOLVE)
    assert res.status == "optimal" and abs(res.bound - fstar) <= 1e-6
    m = res.minimizers()
    assert m.certified, m.reason
    assert len(m) == 1
    assert np.allclose(m[0], xstar, atol=5e-4)


def test_no_first_order_moment_when_a_variable_has_even_powers_only():
    # u occurs only as u^2, u^4: the term graphs never link u to 1, so y_u is no moment
    u, v = po.Variable("u"), po.Variable("v")
    P = po.Problem(
        minimize=u**4 - u**2 + (v - 0.5) ** 2, constraints=[1 - u**2 >= 0, 1 - v**2 >= 0]
    )
    for sparsity in ("term", "correlative+term"):
        r = P.solve(order=2, sparsity=sparsity, **SOLVE)
        # min u^4 - u^2 = -1/4 (u^2 = 1/2), v = 1/2
        assert r.status == "optimal" and abs(r.bound + 0.25) <= 1e-6
        assert (1, 0) not in {tuple(int(e) for e in row) for row in r.relax.exponents()}
        m = r.minimizers()
        assert not m.certified and len(m) == 0
        assert "first-order moment" in m.reason and "u" in m.reason.split()


# --------------------------------------------------------------------------- CLI
def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_cli_term_sparsity(tmp_path, capsys):
    _, fstar = steps_problem()
    data = {
        "variables": ["x", "y", "z"],
        "minimize": "y*z^3 + y^3 + 2*y^2 + x",
        "constraints": ["x^2 <= 1", "y^2 <= 1", "z^2 <= 1"],
    }
    f = tmp_path / "steps.json"
    f.write_text(json.dumps(data))
    base = ["solve", str(f), "--order", "2", "--solver", "clarabel", "--tol", "1e-9", "--json"]

    def run(*extra):
        rc = main(base + list(extra))
        rec = last_json(capsys.readouterr().out)
        assert rc == 0 and rec["status"] == "optimal" and rec["bound_kind"] == "lower"
        return rec

    dense = run()
    assert dense["relaxation"] == "dense" and abs(dense["bound"] - fstar) <= 1e-6
    two = run("--sparsity", "term", "--ts-step", "2")
    assert two["relaxation"] == "term"
    assert abs(two["bound"] - dense["bound"]) <= 1e-6  # step 2: the dense relaxation
    one = run("--sparsity", "term", "--ts-step", "1")
    assert one["bound"] <= two["bound"] + slack(two["bound"])
    assert one["sizes"]["largest_block"] < two["sizes"]["largest_block"] == 10
    md = run("--sparsity", "correlative+term", "--ts-step", "2", "--ts-chordal", "min_degree")
    assert md["relaxation"] == "correlative+term"
    assert md["bound"] <= dense["bound"] + slack(dense["bound"])

    assert main(base + ["--sparsity", "term", "--ts-step", "0"]) == 2
    assert "ts-step" in capsys.readouterr().err
