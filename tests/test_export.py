"""Exported relaxations (polyopt.write_sdpa, polyopt.to_cvxpy) against known optima.

Every SDPA file is read back by the small parser below (independent of the writer) and solved
with cvxpy / Clarabel, and with SDPA itself (sdpa-python) when it is installed. The optima are
analytic (or, for the six-hump camel, the published global minimum), and each exported
problem is also evaluated at the moment vector of a known minimizer.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse as sp

import polyopt as po
from polyopt.conic import ConicProgram
from polyopt.monomials import lower_triangle

# the camel case: Clarabel through cvxpy warns that its (accurate enough) solution is inaccurate
pytestmark = pytest.mark.filterwarnings("ignore:Solution may be inaccurate:UserWarning")

# ----------------------------------------------------------------------------- SDPA reader


@dataclass
class SDPAFile:
    """A parsed ``.dat-s`` file: ``min c @ x`` s.t. ``sum_m F_m x_m - F_0`` PSD per block."""

    header: dict[str, str]
    c: np.ndarray
    kinds: list[str]  # "S" (PSD) or "L" (diagonal LP block)
    sizes: list[int]
    F: list[sp.csc_matrix]  # per block: (s*s or s, m+1), column m = vec(F_m) (column-major)
    entries: list[tuple[int, int, int, int]]  # (matno, block, i, j) as written

    @property
    def m(self) -> int:
        return self.c.size

    def pop_value(self, file_value: float) -> float:
        h = self.header
        return float(h["sign"]) * float(h["obj_scale"]) * (file_value + float(h["c0"]))

    def affine(self, k: int, x):
        """``sum_m F_m x_m - F_0`` of block ``k`` (vectorized), for arrays or cvxpy expressions."""
        F = self.F[k]
        return F[:, 1:] @ x - F[:, 0].toarray().ravel()


def read_sdpa(path: Path) -> SDPAFile:
    header: dict[str, str] = {}
    body: list[str] = []
    for line in Path(path).read_text().splitlines():
        if line.startswith(('"', "*")):
            key, eq, val = line[1:].partition("=")
            if eq:
                header[key.strip()] = val.strip()
        elif line.strip():
            body.append(line)
    m, nblocks = int(body[0]), int(body[1])
    struct = [int(t) for t in body[2].replace(",", " ").split()]
    assert len(struct) == nblocks
    c = np.array([float(t) for t in body[3].replace(",", " ").strip("{}() ").split()])
    assert c.size == m
    kinds = ["S" if s > 0 else "L" for s in struct]
    sizes = [abs(s) for s in struct]
    triplets: list[list[tuple[int, int, float]]] = [[] for _ in struct]
    entries = []
    for line in body[4:]:
        mat, blk, i, j, val = line.split()
        mat, blk, i, j = int(mat), int(blk) - 1, int(i) - 1, int(j) - 1
        v = float(val)
        s = sizes[blk]
        assert 0 <= i < s and 0 <= j < s and 0 <= mat <= m
        entries.append((mat, blk + 1, i + 1, j + 1))
        if kinds[blk] == "L":
            assert i == j
            triplets[blk].append((i, mat, v))
        else:
            triplets[blk].append((i + j * s, mat, v))
            if i != j:
                triplets[blk].append((j + i * s, mat, v))
    F = []
    for k, trip in enumerate(triplets):
        rows = sizes[k] ** 2 if kinds[k] == "S" else sizes[k]
        r, col, v = (np.array(t) for t in zip(*trip)) if trip else ([], [], [])
        F.append(sp.csc_matrix((v, (r, col)), shape=(rows, m + 1)))
    return SDPAFile(header, c, kinds, sizes, F, entries)


def cvxpy_of_file(f: SDPAFile) -> tuple[cp.Problem, cp.Variable]:
    x = cp.Variable(f.m)
    cons = []
    for k, (kind, s) in enumerate(zip(f.kinds, f.sizes)):
        expr = f.affine(k, x)
        if kind == "S":
            cons.append(cp.reshape(expr, (s, s), order="F") >> 0)
        else:
            cons.append(expr >= 0)
    return cp.Problem(cp.Minimize(f.c @ x), cons), x


def min_eigenvalue(f: SDPAFile, x: np.ndarray) -> float:
    """Smallest eigenvalue over the file's blocks at ``x`` (LP entries count as 1x1 blocks)."""
    low = np.inf
    for k, (kind, s) in enumerate(zip(f.kinds, f.sizes)):
        v = f.affine(k, x)
        if kind == "S":
            low = min(low, float(np.linalg.eigvalsh(v.reshape(s, s, order="F")).min()))
        else:
            low = min(low, float(v.min()))
    return low


# ----------------------------------------------------------------------------- cases


@dataclass
class Case:
    name: str
    problem: po.Problem
    order: int | None
    optimum: float
    minimizer: tuple[float, ...]
    tol: float = 1e-6
    method: str = "sdp"
    statuses: tuple[str, ...] = ("optimal",)  # cvxpy statuses accepted from Clarabel

    def relax(self):
        if self.method == "lp":
            return po.relax(self.problem, method="lp", degree=self.order)
        return po.relax(self.problem, self.order)

    def solve(self):
        if self.method == "lp":
            return self.problem.solve(method="lp", degree=self.order)
        return self.problem.solve(order=self.order)


CAMEL_MIN = -1.0316284534898774  # six-hump camel, global minimum (Dixon & Szego 1978)
CAMEL_ARG = (0.08984201368301331, -0.7126564032704135)


def cases() -> list[Case]:
    x = po.variables("x", 1)[0]
    u, v = po.variables("u", 2)
    camel = 4 * u**2 - 2.1 * u**4 + u**6 / 3 + u * v - 4 * v**2 + 4 * v**4
    s2 = 1 / math.sqrt(2)
    return [
        Case("univariate", po.Problem(minimize=x**2 - 2 * x, constraints=[x >= -1, x <= 3]),
             1, -1.0, (1.0,)),
        Case("rosenbrock", po.Problem(minimize=(1 - u) ** 2 + (v - u**2) ** 2 + 3), 2, 3.0,
             (1.0, 1.0)),
        # x^4 + y^4 - 4xy + 2 is nonnegative, hence SOS (bivariate quartic): order 2 is exact
        Case("quartic", po.Problem(minimize=u**4 + v**4 - 4 * u * v + 1,
             constraints=[u >= -2, u <= 2, v >= -2, v <= 2]), 2, -1.0, (1.0, 1.0)),
        # degree 6 on a wide box: obj_scale 243 multiplies the solvers' absolute accuracy, and
        # Clarabel through cvxpy stops at "optimal_inaccurate" (value still within 1e-5)
        Case("camel", po.Problem(minimize=camel, constraints=[u >= -3, u <= 3, v >= -2, v <= 2]),
             3, CAMEL_MIN, CAMEL_ARG, tol=1e-5, statuses=("optimal", "optimal_inaccurate")),
        Case("maximize", po.Problem(maximize=u + 2 * v, constraints=[u**2 + v**2 <= 1]), 1,
             math.sqrt(5), (1 / math.sqrt(5), 2 / math.sqrt(5))),
        Case("equality", po.Problem(minimize=u + v + 1, constraints=[u**2 + v**2 == 1]), 2,
             1 - math.sqrt(2), (-s2, -s2)),
        Case("lp", po.Problem(minimize=2 * u - v + 4, constraints=[u >= -1, u <= 2, v >= 0,
             v <= 1]), 1, 1.0, (-1.0, 1.0), method="lp"),
    ]  # fmt: skip


CASES = {c.name: c for c in cases()}


def moments_at(relax, point) -> np.ndarray:
    """The moment vector ``y`` (constant moment dropped) of the point mass at ``point``."""
    z = np.asarray(point, dtype=float) / relax.var_scale
    return np.prod(z ** relax.exponents(), axis=1)[1:]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, tuple[Case, object, Path]]:
    out = {}
    for name, case in CASES.items():
        rel = case.relax()
        path = tmp_path_factory.mktemp("sdpa") / f"{name}.dat-s"
        po.write_sdpa(rel, path)
        out[name] = (case, rel, path)
    return out


SDP_CASES = [n for n, c in CASES.items() if c.method == "sdp"]


# ----------------------------------------------------------------------------- to_cvxpy


@pytest.mark.parametrize("name", list(CASES))
def test_to_cvxpy_matches_solve_and_known_optimum(name, exported):
    case, rel, _ = exported[name]
    prob, y = po.to_cvxpy(rel)
    assert isinstance(prob, cp.Problem) and y.shape == (rel.program.n,)
    assert isinstance(prob.objective, cp.Maximize if case.problem.sense == "max" else cp.Minimize)
    value = prob.solve(solver="CLARABEL")
    assert prob.status in case.statuses
    assert value == pytest.approx(case.optimum, abs=case.tol)
    assert value == pytest.approx(case.solve().bound, abs=case.tol)


@pytest.mark.parametrize("name", SDP_CASES)
def test_to_cvxpy_at_minimizer_moments(name, exported):
    """The point mass at a known minimizer is feasible and has the optimal value."""
    case, rel, _ = exported[name]
    prob, y = po.to_cvxpy(rel)
    y.value = moments_at(rel, case.minimizer)
    assert prob.objective.value == pytest.approx(case.optimum, abs=1e-9)
    for con in prob.constraints:
        assert float(np.max(con.violation())) <= 1e-9


def test_to_cvxpy_conic_program_is_unscaled(exported):
    case, rel, _ = exported["maximize"]
    prob, _ = po.to_cvxpy(rel.program)
    assert isinstance(prob.objective, cp.Minimize)
    value = prob.solve(solver="CLARABEL")
    assert -rel.obj_scale * value == pytest.approx(case.optimum, abs=1e-6)


# ----------------------------------------------------------------------------- write_sdpa


@pytest.mark.parametrize("name", list(CASES))
def test_sdpa_file_solved_by_cvxpy(name, exported):
    case, rel, path = exported[name]
    f = read_sdpa(path)
    assert f.header["sense"] == case.problem.sense
    assert float(f.header["sign"]) == (-1.0 if case.problem.sense == "max" else 1.0)
    prob, _ = cvxpy_of_file(f)
    value = prob.solve(solver="CLARABEL")
    assert prob.status in case.statuses
    assert f.pop_value(value) == pytest.approx(case.optimum, abs=case.tol)
    assert f.pop_value(value) == pytest.approx(case.solve().bound, abs=case.tol)


@pytest.mark.parametrize("name", SDP_CASES)
def test_sdpa_file_at_minimizer_moments(name, exported):
    case, rel, path = exported[name]
    f = read_sdpa(path)
    x = moments_at(rel, case.minimizer)
    assert f.pop_value(float(f.c @ x)) == pytest.approx(case.optimum, abs=1e-9)
    assert min_eigenvalue(f, x) >= -1e-9


@pytest.mark.parametrize("name", list(CASES))
def test_sdpa_file_round_trips_exactly(name, exported):
    """The file holds the program's doubles bit for bit, each entry once, upper triangle."""
    _, rel, path = exported[name]
    prog = rel.program
    f = read_sdpa(path)
    assert len(set(f.entries)) == len(f.entries)
    assert all(i <= j for _, _, i, j in f.entries)
    assert np.array_equal(f.c, prog.c)
    assert float(f.header["c0"]) == prog.c0
    assert float(f.header["obj_scale"]) == rel.obj_scale
    psd = [k for k, kind in enumerate(f.kinds) if kind == "S"]
    assert [f.sizes[k] for k in psd] == [s for s in prog.block_sizes if s]
    blocks = [prog.block(k) for k, s in enumerate(prog.block_sizes) if s]
    for k, (A_k, b_k) in zip(psd, blocks, strict=True):
        s = f.sizes[k]
        i, j = lower_triangle(s)
        rows = f.F[k][i + j * s]  # the lower triangle, column by column
        assert np.array_equal(rows[:, 1:].toarray(), A_k.toarray())
        assert np.array_equal(-rows[:, 0].toarray().ravel(), b_k)
    lp = [k for k, kind in enumerate(f.kinds) if kind == "L"]
    q, p = prog.A_ineq.shape[0], prog.A_eq.shape[0]
    assert [f.sizes[k] for k in lp] == ([q + 2 * p] if q + p else [])
    if lp:
        F = f.F[lp[0]]
        A = np.vstack([prog.A_ineq.toarray(), prog.A_eq.toarray(), -prog.A_eq.toarray()])
        b = np.concatenate([prog.b_ineq, -prog.b_eq, prog.b_eq])
        assert np.array_equal(F[:, 1:].toarray(), A)
        assert np.array_equal(-F[:, 0].toarray().ravel(), b)


@pytest.mark.parametrize("name", list(CASES))
def test_sdpa_file_solved_by_sdpa(name, exported):
    sdpap = pytest.importorskip("sdpap")
    case, rel, path = exported[name]
    f = read_sdpa(path)
    A, b, c, K, J = sdpap.importsdpa(str(path))
    with warnings.catch_warnings():  # sdpap's own error recomputation (eigs on tiny blocks)
        warnings.simplefilter("ignore", RuntimeWarning)
        _, _, _, _, info = sdpap.solve(A, b, c, K, J, {"print": "no", "numThreads": 1})
    assert info["phasevalue"] in ("pdOPT", "pdFEAS")
    # importsdpa negates the data: sdpap's primal objective is minus the file's optimum
    file_value = -float(info["primalObj"])
    expected = case.optimum / (float(f.header["sign"]) * float(f.header["obj_scale"]))
    expected -= float(f.header["c0"])
    assert file_value == pytest.approx(expected, abs=1e-6)  # SDPA's accuracy, file units
    assert f.pop_value(file_value) == pytest.approx(case.optimum, abs=1e-4)


# ----------------------------------------------------------------------------- bare programs


def small_program() -> ConicProgram:
    """min y1 + 0.5 s.t. y2 == 2, y2 - 1 >= 0, [[1, y1], [y1, y2 - 1]] PSD: optimum -0.5."""
    csr = sp.csr_matrix
    return ConicProgram(
        c=np.array([1.0, 0.0]),
        c0=0.5,
        A_eq=csr([[0.0, 1.0]]),
        b_eq=np.array([2.0]),
        A_ineq=csr([[0.0, 1.0]]),
        b_ineq=np.array([-1.0]),
        A_psd=csr([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),
        b_psd=np.array([1.0, 0.0, -1.0]),
        block_sizes=[2],
    )


def test_conic_program_both_exports(tmp_path):
    prog = small_program()
    prob, y = po.to_cvxpy(prog)
    assert prob.solve(solver="CLARABEL") == pytest.approx(-0.5, abs=1e-7)
    assert y.value == pytest.approx([-1.0, 2.0], abs=1e-6)
    path = tmp_path / "small.dat-s"
    po.write_sdpa(prog, path)
    f = read_sdpa(path)
    assert f.sizes == [2, 3] and f.kinds == ["S", "L"]
    assert f.header["sense"] == "min" and float(f.header["obj_scale"]) == 1.0
    fprob, _ = cvxpy_of_file(f)
    assert f.pop_value(fprob.solve(solver="CLARABEL")) == pytest.approx(-0.5, abs=1e-7)


def test_large_relaxation_exports_quickly(tmp_path):
    """6434 moments, a 330 x 330 moment matrix: both exports without a per-entry loop."""
    z = po.variables("z", 7)
    f = sum(t**4 for t in z) + sum(z[i] * z[i + 1] for i in range(6))
    problem = po.Problem(minimize=f, constraints=[1 - sum(t**2 for t in z) >= 0])
    rel = po.relax(problem, 4)
    assert rel.program.n == 6434
    t0 = time.perf_counter()
    prob, y = po.to_cvxpy(rel)
    prob.get_problem_data(cp.CLARABEL)  # canonicalization included
    path = tmp_path / "big.dat-s"
    po.write_sdpa(rel, path)
    assert time.perf_counter() - t0 < 15.0
    point = np.full(7, 0.3) * np.array([1, -1, 1, -1, 1, -1, 1])
    y.value = moments_at(rel, point)
    expected = float(f.evaluate(point[None, :], z)[0])
    assert prob.objective.value == pytest.approx(expected, rel=1e-12)
    for con in prob.constraints:
        assert float(np.max(con.violation())) <= 1e-9
    head = path.read_text().split("\n", 40)
    body = [line for line in head if line and not line.startswith('"')]
    assert body[:3] == ["6434", "2", "330 120"]


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_raise_value_error(tmp_path):
    path = tmp_path / "bad.dat-s"
    x = po.variables("x", 1)[0]
    problem = po.Problem(minimize=x**2)
    for bad in (None, "program", 3.0, problem):
        with pytest.raises(ValueError, match="Relaxation"):
            po.write_sdpa(bad, path)
        with pytest.raises(ValueError, match="Relaxation"):
            po.to_cvxpy(bad)
    with pytest.raises(ValueError, match="polyopt.relax"):
        po.to_cvxpy(problem)

    nan = small_program()
    nan.b_psd = np.array([1.0, np.nan, -1.0])
    shape = small_program()
    shape.b_eq = np.array([2.0, 3.0])
    inf_c = small_program()
    inf_c.c = np.array([np.inf, 0.0])
    for prog, match in ((nan, "non-finite"), (shape, "inconsistent"), (inf_c, "non-finite")):
        with pytest.raises(ValueError, match=match):
            po.write_sdpa(prog, path)
        with pytest.raises(ValueError, match=match):
            po.to_cvxpy(prog)

    empty = sp.csr_matrix((0, 1))
    free = ConicProgram(np.ones(1), 0.0, empty, np.zeros(0), empty, np.zeros(0), empty,
                        np.zeros(0), [])  # fmt: skip
    with pytest.raises(ValueError, match="no constraints"):
        po.write_sdpa(free, path)
    none = sp.csr_matrix((0, 0))
    novars = ConicProgram(np.zeros(0), 1.0, none, np.zeros(0), none, np.zeros(0),
                          sp.csr_matrix((1, 0)), np.ones(1), [1])  # fmt: skip
    for fn in (po.to_cvxpy, lambda p: po.write_sdpa(p, path)):
        with pytest.raises(ValueError, match="no variables"):
            fn(novars)
    assert not path.exists()
