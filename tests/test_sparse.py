"""Correlative-sparse Lasserre relaxation (MomSpOpt-d) and the nearly-sparse hierarchy HR-d.

Specification: Chen, Magron, Lasserre, Pauwels, "Semialgebraic optimization for Lipschitz
constants of ReLU networks" (NeurIPS 2020), sections 3.2 and 4. Reference values are computed
here without polyopt's relaxations: chain problems by dynamic programming over a fine grid
(polished by L-BFGS-B), binary problems by enumeration, nearly-sparse QCQPs by a feasible grid
search plus multistart SLSQP (numpy closures built from the same random data). Known relations
are asserted where they are theorems:

* sparse <= dense at every order (for min problems), both <= the optimum;
* order 1 sparse == order 1 dense for quadratic chain problems (PSD completion on a chordal
  pattern, Grone et al. 1984);
* order 2 on a chain of +-1 variables is exact (the local marginal polytope of a tree is its
  marginal polytope);
* Shor == HR-1 <= HR-2 <= dense order 2 <= optimum (HR-2's blocks are submatrices of the
  dense order-2 ones; HR-1 keeps the full M_1 and scalar rows of quadratic constraints).
"""

from __future__ import annotations

import itertools
from math import comb

import numpy as np
import pytest
from scipy.optimize import minimize as local_minimize

import polyopt as po
from polyopt.relaxations.sparse import correlative, detect_bad_constraints, nearly_sparse

SOLVE = {"solver": "clarabel", "form": "gram", "tol": 1e-9}


def slack(v: float) -> float:
    """Solver slack for comparing two bounds (relative 1e-6)."""
    return 1e-6 * (1.0 + abs(v))


# --------------------------------------------------------------------------- brute force
def chain_min(phis, n: int, num: int = 2001) -> float:
    """min over [-1, 1]^n of sum_i phis[i](x_i, x_{i+1}): dynamic programming on a grid, then
    L-BFGS-B from the grid minimizer (the grid value is a feasible value, so an upper bound)."""
    axis = np.linspace(-1.0, 1.0, num)
    A, B = np.meshgrid(axis, axis, indexing="ij")
    value = np.zeros(num)
    back = []
    for phi in phis:
        total = value[:, None] + phi(A, B)  # rows: x_i, columns: x_{i+1}
        back.append(np.argmin(total, axis=0))
        value = total[back[-1], np.arange(num)]
    idx = [int(np.argmin(value))]
    for arg in reversed(back):
        idx.append(int(arg[idx[-1]]))
    x0 = axis[idx[::-1]]

    def f(z):
        return float(sum(phi(z[i], z[i + 1]) for i, phi in enumerate(phis)))

    assert abs(f(x0) - value.min()) <= 1e-9 * (1 + abs(value.min()))
    res = local_minimize(f, x0, method="L-BFGS-B", bounds=[(-1, 1)] * n, options={"ftol": 1e-15})
    return min(float(res.fun), float(value.min()))


def box(x) -> list:
    return [1 - xi**2 >= 0 for xi in x]


def chain_qp(seed: int, n: int = 6):
    """sum a_i x_i x_{i+1} + b_i x_i + c_i x_i^2 on [-1, 1]^n, and its chain decomposition."""
    rng = np.random.default_rng(seed)
    a, b, c = rng.normal(size=n - 1), rng.normal(size=n), rng.normal(size=n)
    x = po.variables("x", n)
    f = sum(a[i] * x[i] * x[i + 1] for i in range(n - 1))
    f = f + sum(b[i] * x[i] + c[i] * x[i] ** 2 for i in range(n))

    def phi(i):
        def term(u, v):
            out = a[i] * u * v + b[i] * u + c[i] * u**2
            return out + (b[i + 1] * v + c[i + 1] * v**2 if i == n - 2 else 0.0)

        return term

    return po.Problem(minimize=f, constraints=box(x)), [phi(i) for i in range(n - 1)]


def chain_quartic(n: int):
    """sum_i (x_i - x_{i+1})^2 x_i^2 + x_i x_{i+1} + x_i^3 on [-1, 1]^n."""
    x = po.variables("x", n)
    f = sum((x[i] - x[i + 1]) ** 2 * x[i] ** 2 + x[i] * x[i + 1] + x[i] ** 3 for i in range(n - 1))

    def phi(u, v):
        return (u - v) ** 2 * u**2 + u * v + u**3

    return po.Problem(minimize=f, constraints=box(x)), [phi] * (n - 1)


# --------------------------------------------------------------------------- correlative
@pytest.mark.parametrize("seed", range(5))
def test_chain_qp_sparse_equals_dense(seed):
    P, phis = chain_qp(seed)
    fstar = chain_min(phis, 6)
    bounds = {}
    for order in (1, 2):
        for sp in (None, "correlative"):
            r = P.solve(order=order, sparsity=sp, **SOLVE)
            assert r.status == "optimal"
            assert r.certified and r.sound_bound == r.bound  # the box bounds every variable
            assert r.bound <= fstar + slack(fstar)
            bounds[order, sp] = r.bound
    # order 1: PSD completion on the chordal (chain) pattern makes sparse and dense equal
    assert abs(bounds[1, "correlative"] - bounds[1, None]) <= slack(fstar)
    # order 2 is exact on these instances (dynamic programming), sparse and dense alike
    assert abs(bounds[2, None] - fstar) <= 1e-5 * (1 + abs(fstar))
    assert abs(bounds[2, "correlative"] - fstar) <= 1e-5 * (1 + abs(fstar))
    assert bounds[1, None] <= bounds[2, None] + slack(fstar)


@pytest.mark.parametrize("n", [4, 7])
def test_chain_sum_of_squares_is_solved_exactly(n):
    # generalized Rosenbrock: a sum of squares of clique terms, zero exactly at (1, ..., 1)
    x = po.variables("x", n)
    f = 3 + sum((x[i] ** 2 - x[i + 1]) ** 2 + (x[i] - 1) ** 2 for i in range(n - 1))
    assert f.evaluate(np.ones(n), tuple(x)) == 3.0
    P = po.Problem(minimize=f)
    sparse = P.solve(order=2, sparsity="correlative", **SOLVE)
    dense = P.solve(order=2, **SOLVE)
    for r in (sparse, dense):
        assert r.status == "optimal"
        assert abs(r.bound - 3.0) <= 1e-6
        # unbounded variables: the solver's value, not a certified one
        assert not r.certified and r.sound_bound is None
    assert sparse.sizes["largest_block"] == comb(2 + 2, 2) < dense.sizes["largest_block"]


@pytest.mark.parametrize("n", [6, 8])
def test_chain_ising_with_fields_order_2_is_exact(n):
    rng = np.random.default_rng(n)
    w, h = rng.normal(size=n - 1), rng.normal(size=n)
    x = po.variables("x", n)
    f = sum(w[i] * x[i] * x[i + 1] for i in range(n - 1)) + sum(h[i] * x[i] for i in range(n))
    P = po.Problem(minimize=f, constraints=[xi**2 - 1 == 0 for xi in x])
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=n)))
    values = (signs[:, :-1] * signs[:, 1:]) @ w + signs @ h
    fstar = float(values.min())
    r1 = P.solve(order=1, sparsity="correlative", **SOLVE)
    r2 = P.solve(order=2, sparsity="correlative", **SOLVE)
    assert r1.bound <= r2.bound + slack(fstar)
    assert r1.bound <= fstar + slack(fstar)
    # cliques {i, i+1} of a tree of +-1 variables: the pair marginals define a distribution
    assert abs(r2.bound - fstar) <= 1e-6 * (1 + abs(fstar))
    assert r2.certified  # x_i^2 = 1 bounds the variables
    assert r2.relax.info["cliques"] == [(i, i + 1) for i in range(n - 1)]


def test_sparse_is_weaker_than_dense_at_order_2_and_converges_at_order_3():
    n = 5
    P, phis = chain_quartic(n)
    fstar = chain_min(phis, n)
    s2 = P.solve(order=2, sparsity="correlative", **SOLVE).bound
    d2 = P.solve(order=2, **SOLVE).bound
    s3 = P.solve(order=3, sparsity="correlative", **SOLVE).bound
    d3 = P.solve(order=3, solver="sdpa", form="gram").bound
    # sparse <= dense <= optimum at every order, both monotone in the order
    for s, d in ((s2, d2), (s3, d3)):
        assert s <= d + slack(fstar)
        assert d <= fstar + slack(fstar)
    assert s2 <= s3 + slack(fstar) and d2 <= d3 + slack(fstar)
    # here the sparse order-2 bound is strictly weaker than the (exact) dense one ...
    assert s2 < fstar - 0.01
    assert abs(d2 - fstar) <= 1e-5
    # ... and order 3 closes the gap
    assert abs(s3 - fstar) <= 1e-5
    assert abs(d3 - fstar) <= 1e-5


def test_chain_quartic_n8_gap_at_order_2_closed_at_order_3():
    n = 8
    P, phis = chain_quartic(n)
    fstar = chain_min(phis, n)
    s2 = P.solve(order=2, sparsity="correlative", **SOLVE).bound
    d2 = P.solve(order=2, solver="sdpa", form="gram").bound
    s3 = P.solve(order=3, sparsity="correlative", **SOLVE).bound
    assert s2 <= d2 + slack(fstar)
    assert s2 < fstar - 0.05
    assert abs(d2 - fstar) <= 1e-5
    assert abs(s3 - fstar) <= 1e-5


@pytest.mark.parametrize("order", [2, 3])
def test_block_structure_of_the_sparse_relaxation(order):
    n = 6
    P, _ = chain_qp(0, n)
    R = po.relax(P, order=order, sparsity="correlative")
    cliques = [(i, i + 1) for i in range(n - 1)]
    assert R.kind == "correlative" and R.order == order
    assert R.info["cliques"] == cliques
    names, sizes = R.program.block_names, R.program.block_sizes
    k = len(cliques)
    # one moment matrix per clique, of size C(|I_k| + d, d)
    assert names[:k] == [f"moment matrix clique {j}" for j in range(k)]
    assert sizes[:k] == [comb(2 + order, order)] * k
    # one localizing matrix M_{d-1}(g_i y, I_k(i)) per box constraint, in a clique holding x_i
    assert len(names) == k + n
    for i, a in enumerate(R.info["assignment"]):
        assert i in cliques[a]
        assert names[k + i] == f"localizing c{i} clique {a}"
        assert sizes[k + i] == comb(2 + order - 1, order - 1)
    # the moments: every monomial of degree <= 2d supported in one clique
    expected = {
        e
        for c in cliques
        for e in itertools.product(range(2 * order + 1), repeat=n)
        if sum(e) <= 2 * order and all(e[v] == 0 for v in range(n) if v not in c)
    }
    assert {tuple(int(v) for v in row) for row in R.exponents()} == expected
    dense = po.relax(P, order=order)
    assert dense.program.block_sizes[0] == comb(n + order, order)
    assert len(dense.moments) == comb(n + 2 * order, 2 * order) > len(expected)


def test_equalities_go_to_their_clique():
    x = po.variables("x", 4)
    P = po.Problem(
        minimize=x[0] * x[1] + x[1] * x[2] + x[2] * x[3],
        constraints=[x[0] * x[1] - x[1] ** 2 == 0, 1 - x[2] ** 2 - x[3] ** 2 >= 0],
    )
    R = correlative(P, order=2)
    a0, a1 = R.info["assignment"]
    assert {0, 1} <= set(R.info["cliques"][a0]) and {2, 3} <= set(R.info["cliques"][a1])
    # L(h m) = 0 for the monomials m of degree <= 2d - deg h on the clique {x1, x2}
    assert R.program.A_eq.shape[0] == comb(2 + 2, 2)


def test_ball_radii_add_one_constraint_per_clique():
    n = 5
    P, phis = chain_qp(3, n)
    base = po.relax(P, order=2, sparsity="correlative")
    k = len(base.info["cliques"])
    R = po.relax(P, order=2, sparsity="correlative", ball_radii=2.0)
    assert R.info["cliques"] == base.info["cliques"]
    assert len(R.program.block_sizes) == len(base.program.block_sizes) + k
    # the ball of clique j is assigned to clique j
    assert R.info["assignment"] == base.info["assignment"] + list(range(k))
    assert R.program.block_names[-k:] == [f"localizing c{n + j} clique {j}" for j in range(k)]
    # |x_I|^2 <= 2 < 2^2 on the box: the balls are redundant and the bound does not move
    fstar = chain_min(phis, n)
    cliques = [list(c) for c in base.info["cliques"]]
    with_balls = P.solve(
        order=2, sparsity="correlative", cliques=cliques, ball_radii=[2.0] * k, **SOLVE
    )
    without = P.solve(order=2, sparsity="correlative", **SOLVE)
    assert abs(with_balls.bound - without.bound) <= slack(fstar)
    assert abs(with_balls.bound - fstar) <= 1e-5


def test_ball_radii_bound_an_unconstrained_problem():
    # a sum of squares with minimum 0 at (1, 1, 1, 1): |x_I|^2 = 2 <= 1.5^2 keeps it feasible
    x = po.variables("x", 4)
    f = sum((x[i] ** 2 - x[i + 1]) ** 2 + (x[i] - 1) ** 2 for i in range(3))
    P = po.Problem(minimize=f)
    r = P.solve(order=2, sparsity="correlative", ball_radii=1.5, **SOLVE)
    assert r.status == "optimal"
    assert abs(r.bound) <= 1e-6
    assert r.certified  # the balls bound every variable, so the bound is the sound one


def test_ball_radii_validation():
    P, _ = chain_qp(0, 4)
    with pytest.raises(ValueError, match=r"one radius per clique \(3\), got 2"):
        cliques = [[0, 1], [1, 2], [2, 3]]
        po.relax(P, order=1, sparsity="correlative", cliques=cliques, ball_radii=[1.0, 2.0])
    # a list of radii without the cliques it refers to is ambiguous (detected cliques are
    # reordered): rejected
    with pytest.raises(ValueError, match="needs the cliques"):
        po.relax(P, order=1, sparsity="correlative", ball_radii=[1.0, 2.0, 3.0])
    for bad in (-1.0, 0.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="positive"):
            po.relax(P, order=1, sparsity="correlative", ball_radii=bad)


def test_ball_radii_follow_the_caller_cliques():
    # radii given for caller cliques in an order the clique tree changes: each radius must stay
    # with its clique. With each ball exactly implied by the box, the balls are redundant: the
    # bound must equal the one without balls and stay below the grid minimum.
    x = po.variables("x", 3)
    P = po.Problem(
        minimize=x[2] + x[0] * x[1] + x[1] * x[2],
        constraints=[0.01 - x[0] ** 2 >= 0, 0.01 - x[1] ** 2 >= 0, 100 - x[2] ** 2 >= 0],
    )
    cliques = [[1, 2], [0, 1]]
    radii = [np.sqrt(100.01), np.sqrt(0.02)]  # exactly the box's ball for each clique
    with_balls = P.solve(order=2, sparsity="correlative", cliques=cliques, ball_radii=radii)
    without = P.solve(order=2, sparsity="correlative", cliques=cliques)
    assert with_balls.bound == pytest.approx(without.bound, abs=1e-6)
    grid = np.linspace(-1, 1, 41)
    best = min(
        float(P.objective.evaluate(np.array([a * 0.1, b * 0.1, c * 10]), P.variables))
        for a in grid
        for b in grid
        for c in grid
    )
    assert with_balls.bound <= best


def test_caller_cliques_in_solve():
    n = 5
    P, phis = chain_quartic(n)
    fstar = chain_min(phis, n)
    detected = P.solve(order=2, sparsity="correlative", **SOLVE)
    coarse = P.solve(order=2, sparsity="correlative", cliques=[[0, 1, 2], [2, 3, 4]], **SOLVE)
    whole = P.solve(order=2, sparsity="correlative", cliques=[range(n)], **SOLVE)
    dense = P.solve(order=2, **SOLVE)
    assert coarse.relax.info["cliques"] == [(0, 1, 2), (2, 3, 4)]
    # larger cliques contain the smaller ones' blocks: the bounds can only improve
    assert detected.bound <= coarse.bound + slack(fstar)
    assert coarse.bound <= dense.bound + slack(fstar)
    # a single clique holding every variable is the dense relaxation
    assert abs(whole.bound - dense.bound) <= slack(fstar)
    assert dense.bound <= fstar + slack(fstar)


def test_bad_sparsity_options():
    P, _ = chain_qp(0, 4)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['bad'\] for sparsity='correl"):
        po.relax(P, order=1, sparsity="correlative", bad=[0])
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['ball_radii'\] for spars"):
        po.relax(P, order=1, sparsity="nearly", ball_radii=2.0)
    with pytest.raises(ValueError, match="need a sparse relaxation"):
        P.solve(order=1, cliques=[[0, 1], [1, 2], [2, 3]])
    with pytest.raises(ValueError, match="need a sparse relaxation"):
        P.solve(order=1, sparsity="dense", chordal="min_fill")
    with pytest.raises(ValueError, match="unknown sparsity 'chordal'"):
        P.solve(order=1, sparsity="chordal")
    with pytest.raises(ValueError, match="order 1 is too small"):
        chain_quartic(3)[0].solve(order=1, sparsity="correlative")
    with pytest.raises(ValueError, match="degree= applies to method='lp'"):
        P.solve(order=1, sparsity="correlative", degree=2)


def test_objective_term_outside_caller_cliques_is_rejected_by_correlative():
    x = po.variables("x", 4)
    P = po.Problem(minimize=x[0] * x[3] + (x**2).sum(), constraints=box(x))
    with pytest.raises(ValueError, match=r"objective term in \['x1', 'x4'\] lies in no clique"):
        P.solve(order=1, sparsity="correlative", cliques=[[0, 1], [1, 2], [2, 3]])


# --------------------------------------------------------------------------- HR-d
def nearly_sparse_instance(seed: int, n: int = 6, nbad: int = 1):
    """Chain/box QCQP plus ``nbad`` dense quadratic constraints coupling every variable.

    Returns the problem and numpy closures ``f(z)``, ``cons(z)`` (rows of constraint values)
    built from the same random data, independently of polyopt.
    """
    rng = np.random.default_rng(seed)
    C = np.diag(rng.normal(size=n))
    for i in range(n - 1):
        C[i, i + 1] = C[i + 1, i] = rng.normal() / 2
    b = rng.normal(size=n)
    bads = []
    for _ in range(nbad):
        a, Q = rng.normal(size=n), rng.normal(size=(n, n))
        bads.append((0.5 * np.sqrt(n), a, (Q + Q.T) / (2 * n)))

    x = po.variables("x", n)
    f = sum(C[i, j] * x[i] * x[j] for i in range(n) for j in range(n) if C[i, j] != 0)
    f = f + sum(b[i] * x[i] for i in range(n))
    cons = box(x)
    cons += [1.2 - x[i] ** 2 - x[i + 1] ** 2 + 0.5 * x[i] * x[i + 1] >= 0 for i in range(n - 1)]
    for r, a, Q in bads:
        quad = sum(Q[i, j] * x[i] * x[j] for i in range(n) for j in range(n))
        cons.append(r - sum(a[i] * x[i] for i in range(n)) - quad >= 0)
    P = po.Problem(minimize=f, constraints=cons)

    def fn(z):
        return ((z @ C) * z).sum(-1) + z @ b

    def cn(z):
        z = np.atleast_2d(z)
        out = [1 - z**2, 1.2 - z[:, :-1] ** 2 - z[:, 1:] ** 2 + 0.5 * z[:, :-1] * z[:, 1:]]
        for r, a, Q in bads:
            out.append((r - z @ a - ((z @ Q) * z).sum(-1))[:, None])
        return np.hstack(out)

    def grad(z):
        return 2 * C @ z + b

    return P, fn, cn, grad


def feasible_minimum(fn, cn, grad, n: int, starts: int = 25, seed: int = 0) -> float:
    """Best objective value at a feasible point: a grid (9 points per axis), then SLSQP from
    the best grid points and from random starts. An upper bound on the optimum."""
    axis = np.linspace(-1, 1, 9)
    pts = np.stack(np.meshgrid(*[axis] * n, indexing="ij"), axis=-1).reshape(-1, n)
    vals = np.where(cn(pts).min(axis=1) >= 0, fn(pts), np.inf)
    best = float(vals.min())
    assert np.isfinite(best)
    x0s = np.vstack(
        [pts[np.argsort(vals)[:5]], np.random.default_rng(seed).uniform(-1, 1, (starts, n))]
    )
    for x0 in x0s:
        res = local_minimize(
            fn,
            x0,
            jac=grad,
            method="SLSQP",
            bounds=[(-1, 1)] * n,
            constraints=[{"type": "ineq", "fun": lambda z: cn(z)[0]}],
            options={"ftol": 1e-12, "maxiter": 300},
        )
        if cn(res.x).min() >= -1e-10:
            best = min(best, float(fn(res.x)))
    return best


@pytest.mark.parametrize("seed,nbad", [(2, 1), (9, 1), (9, 2)])
def test_hr_sandwich(seed, nbad):
    n = 6
    P, fn, cn, grad = nearly_sparse_instance(seed, n, nbad)
    coupling = list(range(2 * n - 1, 2 * n - 1 + nbad))  # the appended dense constraints
    assert detect_bad_constraints(P) == coupling
    fstar = feasible_minimum(fn, cn, grad, n)

    shor = P.solve(order=1, **SOLVE)
    hr1 = P.solve(order=1, sparsity="nearly", **SOLVE)
    hr2 = P.solve(order=2, sparsity="nearly", **SOLVE)
    dense2 = P.solve(order=2, **SOLVE)
    chain = [shor.bound, hr1.bound, hr2.bound, dense2.bound, fstar]
    for lo, hi in itertools.pairwise(chain):
        assert lo <= hi + slack(fstar), chain
    for r in (shor, hr1, hr2, dense2):
        assert r.status == "optimal" and r.certified
    assert hr2.relax.kind == "nearly" and hr2.relax.info["bad"] == coupling
    # all constraints are quadratic: HR-1 has exactly Shor's information (full M_1, L(g) >= 0)
    assert abs(hr1.bound - shor.bound) <= slack(fstar)
    # dense order 2 is exact on these instances (matches the multistart optimum) and Shor is not
    assert abs(dense2.bound - fstar) <= 1e-5 * (1 + abs(fstar))
    assert shor.bound < fstar - 1e-3


def test_hr_relaxation_layout():
    n = 6
    P, *_ = nearly_sparse_instance(5, n, nbad=2)
    R = nearly_sparse(P, order=2)
    cliques = [(i, i + 1) for i in range(n - 1)]
    assert R.info["cliques"] == cliques
    assert R.info["bad"] == [2 * n - 1, 2 * n]
    names, sizes = R.program.block_names, R.program.block_sizes
    # M_1(y) on all variables first, then M_2(y, I_k) per clique
    assert names[0] == "first-order moment matrix" and sizes[0] == n + 1
    assert sizes[1 : 1 + len(cliques)] == [comb(2 + 2, 2)] * len(cliques)
    # one localizing block per good constraint (n box + n - 1 chain), none for the bad ones
    assert len(sizes) == 1 + len(cliques) + n + (n - 1)
    assert not any(f"c{2 * n - 1}" in s or f"c{2 * n}" in s for s in names)
    # ... which only get the scalar rows L(g) >= 0
    assert R.program.row_names == [f"L(c{2 * n - 1}) >= 0", f"L(c{2 * n}) >= 0"]
    assert R.program.A_ineq.shape[0] == 2


def test_hr_bad_override():
    n = 6
    P, fn, cn, grad = nearly_sparse_instance(9, n, nbad=1)
    coupling = 2 * n - 1
    default = P.solve(order=2, sparsity="nearly", **SOLVE)
    # no bad constraint: the coupling one needs a clique with every variable = dense order 2
    none_bad = P.solve(order=2, sparsity="nearly", bad=[], **SOLVE)
    dense2 = P.solve(order=2, **SOLVE)
    assert none_bad.relax.info["cliques"] == [tuple(range(n))]
    assert none_bad.relax.info["bad"] == []
    assert abs(none_bad.bound - dense2.bound) <= slack(dense2.bound)
    # marking a chain constraint bad too: fewer blocks, so a weaker (lower) bound
    more_bad = P.solve(order=2, sparsity="nearly", bad=[coupling, n], **SOLVE)
    assert more_bad.relax.info["bad"] == [n, coupling]
    assert more_bad.bound <= default.bound + slack(default.bound)
    # the same list as detected gives the same relaxation
    same = P.solve(order=2, sparsity="nearly", bad=[coupling], **SOLVE)
    assert abs(same.bound - default.bound) <= slack(default.bound)
    fstar = feasible_minimum(fn, cn, grad, n, starts=5)
    assert default.bound <= none_bad.bound + slack(fstar)
    assert none_bad.bound <= fstar + slack(fstar)


def coupled_chain(n: int) -> po.Problem:
    """A chain with the coupling equality x1 + ... + xn = 0.5 (the last constraint)."""
    x = po.variables("x", n)
    f = sum(x[i] * x[i + 1] - 0.3 * x[i] for i in range(n - 1)) + x[n - 1] ** 2
    cons = box(x) + [(x[i] - x[i + 1]) ** 2 <= 1 for i in range(n - 1)]
    cons.append(sum(x[i] for i in range(n)) - 0.5 == 0)
    return po.Problem(minimize=f, constraints=cons)


def test_hr_with_a_coupling_equality():
    n = 5
    P = coupled_chain(n)
    assert detect_bad_constraints(P) == [len(P.constraints) - 1]
    hr1 = P.solve(order=1, sparsity="nearly", **SOLVE).bound
    hr2 = P.solve(order=2, sparsity="nearly", **SOLVE).bound
    d2 = P.solve(order=2, **SOLVE).bound
    R = nearly_sparse(P, order=2, eliminate=False)
    # the affine bad equality: L(h m) = 0 for m in {1, x1, ..., x5}, the rows of M_1 only
    assert R.program.A_eq.shape[0] == 1 + n
    # eliminated (the default): its pivot leaves M_1, which keeps L(h m) = 0 for m in 1 and
    # the pivot's clique mate and L(c^2 v^2 - e^2) = 0; the same relaxation
    E = nearly_sparse(P, order=2)
    (pivot,) = E.info["eliminated"]
    assert E.program.block_sizes[0] == n and R.program.block_sizes[0] == n + 1
    assert E.program.A_eq.shape[0] == 3
    kept = P.solve(order=2, sparsity="nearly", eliminate=False, **SOLVE).bound
    assert abs(kept - hr2) <= slack(hr2)
    # brute force: the equality fixes x5 = 0.5 - (x1 + ... + x4); grid over the other four
    axis = np.linspace(-1, 1, 41)
    z = np.stack(np.meshgrid(*[axis] * (n - 1), indexing="ij"), axis=-1).reshape(-1, n - 1)
    z = np.hstack([z, 0.5 - z.sum(axis=1, keepdims=True)])
    ok = (np.abs(z) <= 1).all(axis=1) & (np.diff(z, axis=1) ** 2 <= 1).all(axis=1)
    vals = (z[:, :-1] * z[:, 1:]).sum(axis=1) - 0.3 * z[:, :-1].sum(axis=1) + z[:, -1] ** 2
    fgrid = float(vals[ok].min())
    assert hr1 <= hr2 + slack(fgrid) and hr2 <= d2 + slack(fgrid) and d2 <= fgrid + slack(fgrid)


def test_hr_refuses_bad_constraints_beyond_the_term_limit(monkeypatch):
    """The square of an eliminated pivot is counted before it is built; kept factored (the
    default) it costs its own terms only, and the same limit lets it through."""
    import polyopt.relaxations.sparse as sparse_mod

    n = 5
    P = coupled_chain(n)
    assert nearly_sparse(P, order=2).info["eliminated"]
    # h has n + 1 terms: at most (n + 1) (n + 2) / 2 products in its square
    monkeypatch.setattr(sparse_mod, "MAX_TERMS", (n + 1) * (n + 2) // 2 - 1)
    with pytest.raises(ValueError, match="MAX_TERMS"):
        nearly_sparse(P, order=2, factored_squares=False)
    relax = nearly_sparse(P, order=2)
    assert relax.program.factored is not None and relax.program.factored.size == 1


def test_hr_objective_term_of_degree_above_2_must_lie_in_a_clique():
    n = 5
    x = po.variables("x", n)
    cons = box(x) + [1 - x[i] * x[i + 1] >= 0 for i in range(n - 1)]
    cons.append(1 - (x**2).sum() / n - x[0] * x[4] >= 0)  # coupling
    cliques = [[i, i + 1] for i in range(n - 1)]
    # degree 2 terms across cliques are fine: M_1(y) holds every moment of degree <= 2
    ok = po.Problem(minimize=x[0] * x[4] + x[1] * x[3] + (x**2).sum(), constraints=cons)
    r = ok.solve(order=2, sparsity="nearly", cliques=cliques, **SOLVE)
    assert r.status == "optimal"
    # a cubic term x1 x3 x5 lies in no clique: its moment would be in no block
    bad = po.Problem(minimize=x[0] * x[2] * x[4] + (x**2).sum(), constraints=cons)
    with pytest.raises(ValueError, match=r"objective term in \['x1', 'x3', 'x5'\] lies in no"):
        bad.solve(order=2, sparsity="nearly", cliques=cliques)
    # with detected cliques the term joins the sparsity graph and gets a clique
    R = nearly_sparse(bad, order=2)
    assert any({0, 2, 4} <= set(c) for c in R.info["cliques"])
    assert R.info["bad"] == [len(cons) - 1]
    # correlative sparsity (no M_1 on all variables) rejects even the degree-2 cross terms
    with pytest.raises(ValueError, match="lies in no clique"):
        ok.solve(order=2, sparsity="correlative", cliques=cliques)


def test_hr_input_errors():
    n = 4
    x = po.variables("x", n)
    cons = box(x) + [2 - (x**2).sum() - x[0] ** 2 * x[3] ** 2 >= 0]
    P = po.Problem(minimize=x[0] * x[1] + x[2] * x[3], constraints=cons)
    with pytest.raises(ValueError, match="bad constraint 4 has degree > 2"):
        P.solve(order=2, sparsity="nearly", bad=[4])
    with pytest.raises(ValueError, match=r"bad constraint indices must lie in \[0, 5\)"):
        P.solve(order=2, sparsity="nearly", bad=[5])
    with pytest.raises(ValueError, match="must lie in"):
        P.solve(order=2, sparsity="nearly", bad=[-1])
    # a constraint that is not marked bad must fit in a caller clique
    with pytest.raises(ValueError, match="constraint 4 .* no single clique"):
        P.solve(order=2, sparsity="nearly", bad=[], cliques=[[0, 1], [1, 2], [2, 3]])
