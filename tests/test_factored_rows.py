"""Factored rows ``coef * <f f^T, M_k>`` of a ConicProgram: the same program as their expansion
into monomial terms, for the program's action, its dual, the certificate and the solvers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp
from strategies import seeded

import lipschitz
from lipschitz.lcep import build_lcep
from lipschitz.spec import Box
from polyopt.backends import get_backend
from polyopt.backends.base import BackendResult, SolverOptions
from polyopt.backends.lowrank import LowRankBackend
from polyopt.certificate import sound_lower_bound
from polyopt.conic import ConicProgram, FactoredRows
from polyopt.relaxations.sparse import nearly_sparse


def _random_program(rng: np.random.Generator) -> ConicProgram:
    """Random moment-form data: two PSD blocks, a few equality rows with factored terms."""
    n = int(rng.integers(6, 14))
    sizes = [int(rng.integers(3, 6)), int(rng.integers(2, 5))]
    tri = sum(s * (s + 1) // 2 for s in sizes)
    A_psd = sp.random(tri, n, density=0.3, random_state=rng, format="csr")
    b_psd = rng.standard_normal(tri)
    m = int(rng.integers(2, 5))
    A_eq = sp.random(m, n, density=0.4, random_state=rng, format="csr")
    terms = int(rng.integers(1, 6))
    block = rng.integers(0, 2, terms)
    rows, cols, vals = [], [], []
    for t in range(terms):
        side = sizes[block[t]]
        support = rng.choice(side, size=int(rng.integers(1, side + 1)), replace=False)
        rows += [t] * support.size
        cols += list(support)
        vals += list(rng.standard_normal(support.size))
    F = sp.csr_matrix((vals, (rows, cols)), shape=(terms, max(sizes)))
    factored = FactoredRows(rng.integers(0, m, terms), block, F, rng.standard_normal(terms))
    program = ConicProgram(
        c=rng.standard_normal(n),
        c0=float(rng.standard_normal()),
        A_eq=A_eq,
        b_eq=rng.standard_normal(m),
        A_ineq=sp.csr_matrix((0, n)),
        b_ineq=np.zeros(0),
        A_psd=A_psd,
        b_psd=b_psd,
        block_sizes=sizes,
        factored=factored,
    )
    program.check()
    return program


@seeded(40)
def test_a_factored_row_and_its_expansion_act_alike(seed):
    rng = np.random.default_rng(seed)
    P = _random_program(rng)
    E = P.expanded()
    assert E.factored is None
    y = rng.standard_normal(P.n)
    # the rows' action: A_eq y + sum coef f^T M_k(y) f, against the expanded rows
    direct = P.A_eq @ y - P.b_eq
    M = P.block_matrices(y)
    fr = P.factored
    for t in range(fr.size):
        f = fr.F[t].toarray().ravel()[: P.block_sizes[fr.block[t]]]
        direct[fr.eq_row[t]] += fr.coef[t] * f @ M[fr.block[t]] @ f
    np.testing.assert_allclose(P.eq_values(y) - P.b_eq, direct, atol=1e-10)
    np.testing.assert_allclose(E.A_eq @ y - E.b_eq, direct, atol=1e-10)
    # the dual: residual and objective agree at any dual point
    mu = rng.standard_normal(P.A_eq.shape[0])
    X = [rng.standard_normal((s, s)) for s in P.block_sizes]
    X = [x + x.T for x in X]
    z = np.zeros(0)
    np.testing.assert_allclose(P.dual_residual(mu, z, X), E.dual_residual(mu, z, X), atol=1e-10)
    assert P.dual_objective(mu, z, X) == pytest.approx(E.dual_objective(mu, z, X), abs=1e-10)


def test_factored_rows_are_checked():
    P = _random_program(np.random.default_rng(3))
    P.factored.block[0] = 7
    with pytest.raises(ValueError, match="missing equality rows or blocks"):
        P.check()
    P = _random_program(np.random.default_rng(3))
    P.factored.coef[0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        P.check()


def test_expansion_refuses_past_its_term_limit():
    P = _random_program(np.random.default_rng(5))
    with pytest.raises(ValueError, match="solver='lowrank'"):
        P.expanded(max_terms=0)


def _hr2(sizes, seed, factored_squares=True):
    net = lipschitz.random_network(sizes, seed=seed)
    box = Box(np.zeros(sizes[0]), 1.0)
    lcep = build_lcep(net, box, "linf", np.array([1.0]), substitute=False, affine_links=True)
    relax = nearly_sparse(
        lcep.problem, 2, cliques=lcep.cliques, bad=lcep.bad, factored_squares=factored_squares
    )
    return lcep, relax


def _canonical(A: sp.spmatrix, b: np.ndarray) -> np.ndarray:
    D = np.column_stack([A.toarray(), b])
    return D[np.lexsort(np.round(D, 9).T[::-1])]


@pytest.mark.parametrize("sizes,seed", [([6, 8], 1), ([5, 6, 4], 2)])
def test_hr2_factored_squares_expand_to_the_term_by_term_rows(sizes, seed):
    _, fac = _hr2(sizes, seed)
    _, plain = _hr2(sizes, seed, factored_squares=False)
    assert fac.program.factored is not None and plain.program.factored is None
    # one factored row per eliminated pivot, each L(e^2) over M_1 (block 0)
    assert fac.program.factored.size == len(fac.info["eliminated"])
    assert np.all(fac.program.factored.block == 0)
    E = fac.program.expanded()
    np.testing.assert_allclose(
        _canonical(E.A_eq, E.b_eq), _canonical(plain.program.A_eq, plain.program.b_eq), atol=1e-12
    )
    # the rounding bound of each factored row covers the expanded terms' magnitudes
    assert fac.program.row_l1["eq"].sum() >= plain.program.row_l1["eq"].sum() * (1 - 1e-12)


@pytest.mark.parametrize("sizes,seed", [([6, 8], 1), ([5, 6, 4], 2)])
def test_certificate_of_a_factored_program_matches_its_expansion(sizes, seed):
    _, fac = _hr2(sizes, seed)
    _, plain = _hr2(sizes, seed, factored_squares=False)
    clarabel = get_backend("clarabel")
    opts = SolverOptions(None, None, None, False, {})
    back_f = clarabel.solve(fac.program, "auto", opts)
    back_p = clarabel.solve(plain.program, "auto", opts)
    assert back_f.status == back_p.status == "optimal"
    bound_f = sound_lower_bound(fac, back_f)
    bound_p = sound_lower_bound(plain, back_p)
    assert bound_f is not None and bound_p is not None
    assert bound_f == pytest.approx(bound_p, rel=1e-6, abs=1e-6)
    # the same dual point, certified on the factored program and on its expansion
    expanded = replace(fac, program=fac.program.expanded())
    bound_e = sound_lower_bound(expanded, back_f)
    assert bound_f == pytest.approx(bound_e, rel=1e-7, abs=1e-8)
    # and neither is above the solver's own dual value
    assert bound_f <= back_f.dual_objective + 1e-9


def test_lowrank_takes_factored_rows_and_stays_sound():
    lcep, _ = _hr2([6, 8], 1)
    kw = {"order": 2, "sparsity": "nearly", "cliques": lcep.cliques, "bad": lcep.bad}
    exact = lcep.problem.solve(solver="clarabel", **kw)
    assert LowRankBackend.factored_rows
    low = lcep.problem.solve(solver="lowrank", **kw)
    # minimization of the negated LCEP: the certified bound is an upper bound of HR-2's value
    assert low.certified
    assert low.bound >= exact.bound - 1e-7
    assert low.bound <= exact.bound * 1.2 + 1e-6


def test_backend_result_point_uses_the_factored_dual():
    P = _random_program(np.random.default_rng(11))
    rng = np.random.default_rng(12)
    y = rng.standard_normal(P.n)
    mu = rng.standard_normal(P.A_eq.shape[0])
    X = [np.eye(s) for s in P.block_sizes]
    res = BackendResult("optimal").set_point(P, y, mu, np.zeros(0), X)
    assert res.dual_objective == pytest.approx(P.expanded().dual_objective(mu, np.zeros(0), X))
