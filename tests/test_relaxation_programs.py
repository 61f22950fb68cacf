"""Exact programs of the relaxation builders: a tiny problem in, the expected blocks out.

In the style of MathOptInterface's bridge tests: each test writes down, by hand, the conic
program (:class:`polyopt.ConicProgram`, moment form) that :func:`polyopt.relax` must build
for a tiny polynomial problem, and compares every part exactly: the objective ``c`` and
``c0``, the PSD rows ``A_psd`` / ``b_psd`` (each block's lower triangle, column by column),
the block sizes and names, the scalar rows ``A_ineq y + b_ineq >= 0`` and the equality rows
``A_eq y == b_eq``.

Rows are written over monomials: ``{"": 1, "xx": -1}`` is ``1 - y_{x^2}`` (a string lists
the variables of a monomial, repeated for powers; ``""`` is the constant, which goes to
``b``). The columns follow the relaxation's own moment order (``Relaxation.exponents()``),
whose set is checked separately, so the tests pin the program, not an enumeration order.
Variable scaling is off (``scale=False``) except in the test that checks it; every
constraint is still normalized by its largest coefficient and the objective by its own.
"""

from __future__ import annotations

import numpy as np
import pytest

import polyopt as po

x, y, z = po.variables("x"), po.variables("y"), po.variables("z")
NAMES = "xyz"


def monomial(word: str, nvars: int) -> tuple[int, ...]:
    """``"xxy"`` -> the exponent tuple of ``x^2 y`` over the first ``nvars`` of x, y, z."""
    return tuple(word.count(v) for v in NAMES[:nvars])


def moments(relaxation) -> set[str]:
    """The moments of a relaxation as words (``""`` for the constant)."""
    out = set()
    for row in relaxation.exponents():
        out.add("".join(v * int(e) for v, e in zip(NAMES, row)))
    return out


def rows(relaxation, spec: list[dict[str, float]]) -> tuple[np.ndarray, np.ndarray]:
    """``(A, b)`` of rows written over monomials, in the relaxation's moment columns."""
    n = relaxation.nvars
    column = {tuple(int(e) for e in row): k - 1 for k, row in enumerate(relaxation.exponents())}
    A = np.zeros((len(spec), relaxation.program.n))
    b = np.zeros(len(spec))
    for i, row in enumerate(spec):
        for word, coef in row.items():
            k = column[monomial(word, n)]
            if k < 0:
                b[i] += coef
            else:
                A[i, k] += coef
    return A, b


def assert_rows(relaxation, family: str, spec: list[dict[str, float]]) -> None:
    """``A_<family>`` and ``b_<family>`` equal ``spec`` exactly (``family``: psd, ineq, eq)."""
    prog = relaxation.program
    A_want, b_want = rows(relaxation, spec)
    A = getattr(prog, f"A_{family}").toarray()
    b = getattr(prog, f"b_{family}")
    assert A.shape == A_want.shape, family
    np.testing.assert_array_equal(A, A_want, err_msg=f"A_{family}")
    np.testing.assert_array_equal(b, b_want, err_msg=f"b_{family}")


def assert_objective(relaxation, spec: dict[str, float]) -> None:
    (c_want,), (c0_want,) = rows(relaxation, [spec])
    np.testing.assert_array_equal(relaxation.program.c, c_want)
    assert relaxation.program.c0 == c0_want


# --------------------------------------------------------------------------- dense
def test_dense_order_one_with_a_ball_constraint():
    """min x^2 s.t. 1 - x^2 >= 0, order 1: M_1 = [[1, y1], [y1, y2]] and the localizing
    matrix of 1 - x^2 at order 0, the 1 x 1 block 1 - y2."""
    r = po.relax(po.Problem(minimize=x**2, constraints=[1 - x**2 >= 0]), 1, scale=False)
    prog = r.program
    assert (r.kind, r.order, r.sense) == ("dense", 1, "min")
    assert moments(r) == {"", "x", "xx"}
    assert r.exponents()[0].tolist() == [0]  # moment 0 is the constant monomial
    assert prog.block_sizes == [2, 1]
    assert prog.block_names == ["moment matrix", "localizing g0"]
    assert_objective(r, {"xx": 1.0})
    assert_rows(r, "psd", [{"": 1.0}, {"x": 1.0}, {"xx": 1.0}, {"": 1.0, "xx": -1.0}])
    assert_rows(r, "ineq", [])
    assert_rows(r, "eq", [])
    assert r.var_scale.tolist() == [1.0] and r.obj_scale == 1.0


def test_dense_order_two_localizing_matrix():
    """At order 2 the localizing matrix of 1 - x^2 is M_1((1 - x^2) y), 2 x 2."""
    r = po.relax(po.Problem(minimize=x**2, constraints=[1 - x**2 >= 0]), 2, scale=False)
    assert moments(r) == {"", "x", "xx", "xxx", "xxxx"}
    assert r.program.block_sizes == [3, 2]
    # M_2 over the basis (1, x, x^2), then M_1(g y) over (1, x)
    moment_matrix = [{"": 1}, {"x": 1}, {"xx": 1}, {"xx": 1}, {"xxx": 1}, {"xxxx": 1}]
    localizing = [{"": 1, "xx": -1}, {"x": 1, "xxx": -1}, {"xx": 1, "xxxx": -1}]
    assert_rows(r, "psd", moment_matrix + localizing)
    assert_objective(r, {"xx": 1.0})


def test_dense_constraints_and_objective_are_normalized():
    """Without variable scaling the constraint is still divided by its largest coefficient
    (4 - x^2 -> 1 - x^2 / 4) and the objective by its largest non-constant one
    (3 x^2 + 6 x + 1 -> x^2 / 2 + x + 1/6, obj_scale 6)."""
    p = po.Problem(minimize=3 * x**2 + 6 * x + 1, constraints=[4 - x**2 >= 0])
    r = po.relax(p, 1, scale=False)
    assert r.obj_scale == 6.0
    assert_objective(r, {"xx": 0.5, "x": 1.0, "": 1.0 / 6.0})
    assert_rows(r, "psd", [{"": 1.0}, {"x": 1.0}, {"xx": 1.0}, {"": 1.0, "xx": -0.25}])


def test_dense_variable_scaling():
    """With scaling (the default) x = 2 x' (the bound |x| <= 2 that 4 - x^2 >= 0 implies):
    the objective x^2 = 4 x'^2 (obj_scale 4), the constraint 4 - 4 x'^2 -> 1 - x'^2."""
    r = po.relax(po.Problem(minimize=x**2, constraints=[4 - x**2 >= 0]), 1)
    assert r.var_scale.tolist() == [2.0] and r.obj_scale == 4.0
    assert_objective(r, {"xx": 1.0})
    assert_rows(r, "psd", [{"": 1.0}, {"x": 1.0}, {"xx": 1.0}, {"": 1.0, "xx": -1.0}])
    assert r.moment_bounds.tolist() == [1.0, 1.0, 1.0]  # |x'| <= 1 bounds every moment


# --------------------------------------------------------------------------- equality
def test_dense_equality_rows_for_every_multiplier():
    """min x^2 + y^2 s.t. x + y - 1 == 0, order 1: L(h m) = 0 for m in (1, x, y):
    y_x + y_y = 1, y_xx + y_xy - y_x = 0, y_xy + y_yy - y_y = 0."""
    p = po.Problem(minimize=x**2 + y**2, constraints=[x + y - 1 == 0])
    r = po.relax(p, 1, scale=False)
    assert moments(r) == {"", "x", "y", "xx", "xy", "yy"}
    assert r.program.block_sizes == [3]
    assert r.program.block_names == ["moment matrix"]
    assert_objective(r, {"xx": 1.0, "yy": 1.0})
    # M_1 over (1, x, y): entries (0,0), (1,0), (2,0), (1,1), (2,1), (2,2)
    assert_rows(r, "psd", [{"": 1}, {"x": 1}, {"y": 1}, {"xx": 1}, {"xy": 1}, {"yy": 1}])
    # A_eq y == b_eq: the constant of h m moves to the right-hand side with its sign flipped
    assert_rows(
        r,
        "eq",
        [
            {"x": 1.0, "y": 1.0, "": 1.0},
            {"xx": 1.0, "xy": 1.0, "x": -1.0},
            {"xy": 1.0, "yy": 1.0, "y": -1.0},
        ],
    )
    assert_rows(r, "ineq", [])


# --------------------------------------------------------------------------- correlative
def test_correlative_sparsity_with_two_cliques():
    """min xy + yz s.t. 1 - x^2 - y^2 >= 0, 1 - y^2 - z^2 >= 0: cliques {x, y} and {y, z},
    one moment matrix and one localizing block per clique, no moment x z."""
    p = po.Problem(minimize=x * y + y * z, constraints=[1 - x**2 - y**2 >= 0, 1 - y**2 - z**2 >= 0])
    r = po.relax(p, 1, "correlative", scale=False)
    prog = r.program
    assert r.kind == "correlative"
    assert [tuple(c) for c in r.info["cliques"]] == [(0, 1), (1, 2)]
    assert moments(r) == {"", "x", "y", "z", "xx", "xy", "yy", "yz", "zz"}
    assert prog.block_sizes == [3, 3, 1, 1]
    assert prog.block_names == [
        "moment matrix clique 0",
        "moment matrix clique 1",
        "localizing c0 clique 0",
        "localizing c1 clique 1",
    ]
    assert_objective(r, {"xy": 1.0, "yz": 1.0})
    clique0 = [{"": 1}, {"x": 1}, {"y": 1}, {"xx": 1}, {"xy": 1}, {"yy": 1}]
    clique1 = [{"": 1}, {"y": 1}, {"z": 1}, {"yy": 1}, {"yz": 1}, {"zz": 1}]
    localizing = [{"": 1, "xx": -1, "yy": -1}, {"": 1, "yy": -1, "zz": -1}]
    assert_rows(r, "psd", clique0 + clique1 + localizing)
    assert_rows(r, "ineq", [])
    assert_rows(r, "eq", [])


# --------------------------------------------------------------------------- LP hierarchy
def test_lp_hierarchy_products_of_the_box_factors():
    """min x^2 - x on [0, 1], degree 2: the generators x and 1 - x (the bounds themselves are
    the box factors, not extra generators) and their products of degree <= 2 as rows
    L(P) >= 0, no PSD block."""
    p = po.Problem(minimize=x**2 - x, constraints=[x >= 0, 1 - x >= 0])
    r = po.relax(p, method="lp", degree=2, scale=False)
    prog = r.program
    assert (r.kind, r.order) == ("lp", 2)
    assert moments(r) == {"", "x", "xx"}
    assert prog.block_sizes == [] and prog.A_psd.shape == (0, 2)
    assert r.info["factors"] == 1 and r.info["products"] == 5
    assert r.info["center"].tolist() == [0.0]
    assert prog.row_names == ["P(0,)", "P(1,)", "P(0, 0)", "P(0, 1)", "P(1, 1)"]
    assert_objective(r, {"xx": 1.0, "x": -1.0})
    assert_rows(
        r,
        "ineq",
        [
            {"x": 1.0},  # x
            {"": 1.0, "x": -1.0},  # 1 - x
            {"xx": 1.0},  # x^2
            {"x": 1.0, "xx": -1.0},  # x (1 - x)
            {"": 1.0, "x": -2.0, "xx": 1.0},  # (1 - x)^2
        ],
    )
    assert_rows(r, "eq", [])


@pytest.mark.parametrize("scale", [False, True])
def test_the_programs_solve_to_their_known_values(scale):
    """The programs above are the relaxations: min x^2 on [-1, 1] is 0, min xy + yz over the
    two discs is -1 (x = z = -y = 1/sqrt 2), min x^2 + y^2 on x + y = 1 is 1/2."""
    cases = [
        (po.Problem(minimize=x**2, constraints=[1 - x**2 >= 0]), {}, 0.0),
        (
            po.Problem(
                minimize=x * y + y * z,
                constraints=[1 - x**2 - y**2 >= 0, 1 - y**2 - z**2 >= 0],
            ),
            {"sparsity": "correlative"},
            -1.0,
        ),
        (po.Problem(minimize=x**2 + y**2, constraints=[x + y - 1 == 0]), {}, 0.5),
    ]
    for problem, kw, value in cases:
        r = problem.solve(order=1, solver="clarabel", scale=scale, **kw)
        assert r.status == "optimal"
        assert abs(r.bound - value) <= 1e-6
