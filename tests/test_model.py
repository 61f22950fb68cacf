"""Tests for polyopt.model: Constraint, Problem construction, variable_bounds and JSON I/O.

No solver is called. Polynomials are compared by name-matched ``equals`` or by evaluation at
random points against formulas written out by hand.
"""

import json
import math
import pathlib

import numpy as np
import pytest

import polyopt as po
from polyopt.model import Constraint, parse_constraint

RNG = np.random.default_rng(2024)


# ----------------------------------------------------------------- helpers
def rename(poly, variables):
    """The same polynomial over the variables in ``variables`` with matching names."""
    table = {v.name: v for v in variables}
    return po.Polynomial([table[v.name] for v in poly.variables], poly.exponents, poly.coefficients)


def values_by_name(poly, point):
    """Evaluate ``poly`` with ``point`` a dict name -> value."""
    return poly.evaluate({n: point[n] for n in (v.name for v in poly.variables)})


def random_points(names, k=20):
    return [dict(zip(names, RNG.uniform(-2, 2, size=len(names)))) for _ in range(k)]


def assert_poly_matches(poly, func, names):
    """``poly`` evaluated by name agrees with a hand-written function of a name dict."""
    for pt in random_points(names):
        assert values_by_name(poly, pt) == pytest.approx(func(pt), rel=1e-12, abs=1e-12)


@pytest.fixture
def x():
    return po.variables("x", 3)


# ----------------------------------------------------------------- Constraint
def test_constraint_kinds_and_text(x):
    x1, x2, _ = x
    c = Constraint(x1 - x2, "ineq")
    assert c.kind == "ineq" and c.poly.equals(x1 - x2)
    assert c.to_string().endswith(">= 0")
    assert (x1 == 1).to_string().endswith("== 0")
    assert "Constraint(" in repr(c)
    num = Constraint(3, "eq")
    assert num.poly.is_constant() and num.poly.constant_term() == 3.0
    with pytest.raises(ValueError, match="'ineq' or 'eq'"):
        Constraint(x1, ">=")
    with pytest.raises(TypeError):
        Constraint("x1", "eq")


@pytest.mark.parametrize(
    "text, kind, func",
    [
        ("x1^2 + x2^2 <= 1", "ineq", lambda p: 1 - p["x1"] ** 2 - p["x2"] ** 2),
        ("x1 >= 2*x2", "ineq", lambda p: p["x1"] - 2 * p["x2"]),
        ("x1 => x2", "ineq", lambda p: p["x1"] - p["x2"]),
        ("x1 =< x2", "ineq", lambda p: p["x2"] - p["x1"]),
        ("x1*x2 == 3", "eq", lambda p: p["x1"] * p["x2"] - 3),
        ("x1 = x2 - 1", "eq", lambda p: p["x1"] - p["x2"] + 1),
        ("0 <= x1", "ineq", lambda p: p["x1"]),
    ],
)
def test_parse_constraint(x, text, kind, func):
    c = parse_constraint(text, x)
    assert c.kind == kind
    assert_poly_matches(c.poly, func, ["x1", "x2"])


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("x1 + x2", "exactly one of"),
        ("0 <= x1 <= 1", "exactly one of"),
        ("x1 > 0", "strict inequality"),
        ("x1 < 0", "strict inequality"),
        ("x1 != 0", "exactly one of"),
        ("x1 >= y", "y"),
        ("x1 >= ", "nonempty expression"),
    ],
)
def test_parse_constraint_errors(x, text, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_constraint(text, x)


def test_parse_constraint_not_a_string(x):
    with pytest.raises(ValueError, match="must be a string"):
        parse_constraint(x[0] >= 0, x)


# ----------------------------------------------------------------- Problem construction
def test_minimize_maximize_exclusive(x):
    x1 = x[0]
    with pytest.raises(ValueError, match="exactly one"):
        po.Problem(minimize=x1, maximize=x1)
    with pytest.raises(ValueError, match="exactly one"):
        po.Problem()
    with pytest.raises(ValueError, match="exactly one"):
        po.Problem(constraints=[x1 >= 0])


def test_basic_problem(x):
    x1, x2, x3 = x
    f = x1**4 + x2**2 - x1 * x3
    prob = po.Problem(minimize=f, constraints=[1 - (x**2).sum() >= 0, x1 == x2])
    assert prob.sense == "min"
    assert prob.variables == (x1, x2, x3)
    assert prob.nvars == 3
    assert prob.objective is f
    assert prob.min_objective() is f
    assert prob.degree == 4
    assert len(prob.constraints) == 2
    assert len(prob.inequalities) == 1 and len(prob.equalities) == 1
    assert prob.inequalities[0].equals(1 - x1**2 - x2**2 - x3**2)
    assert prob.equalities[0].equals(x1 - x2)
    assert "minimize" in repr(prob) and "s.t." in repr(prob)


def test_maximize_min_objective(x):
    x1, x2, _ = x
    f = x1 * x2 - x1**2 + 3
    prob = po.Problem(maximize=f, constraints=[x1 >= -1])
    assert prob.sense == "max"
    assert prob.objective.equals(f)
    g = prob.min_objective()
    assert g.equals(-f)
    assert g.equals(x1**2 - x1 * x2 - 3)
    assert "maximize" in repr(prob)


def test_variables_in_creation_order(x):
    x1, x2, x3 = x
    prob = po.Problem(minimize=x3**2 + x1, constraints=[x2 >= 0])
    assert [v.name for v in prob.variables] == ["x1", "x2", "x3"]


def test_string_objective_and_constraints_share_variables():
    prob = po.Problem(
        minimize="x1^2 + x2 - 3*x1*x2",
        constraints=["x1 + x2 <= 1", "x1 == x2^2", "y >= 0"],
    )
    assert [v.name for v in prob.variables] == ["x1", "x2", "y"]
    assert prob.nvars == 3  # one Variable per name
    by_name = {v.name: v for v in prob.variables}
    for c in prob.constraints:
        for v in c.poly.variables:
            assert v is by_name[v.name]
    for v in prob.objective.variables:
        assert v is by_name[v.name]
    names = ["x1", "x2", "y"]
    assert_poly_matches(
        prob.objective, lambda p: p["x1"] ** 2 + p["x2"] - 3 * p["x1"] * p["x2"], names
    )
    c1, c2, c3 = prob.constraints
    assert (c1.kind, c2.kind, c3.kind) == ("ineq", "eq", "ineq")
    assert_poly_matches(c1.poly, lambda p: 1 - p["x1"] - p["x2"], names)
    assert_poly_matches(c2.poly, lambda p: p["x1"] - p["x2"] ** 2, names)
    assert_poly_matches(c3.poly, lambda p: p["y"], names)


def test_strings_reuse_python_variables(x):
    x1, x2, _ = x
    prob = po.Problem(minimize=x1**2 + x2, constraints=["x1 >= 0", "x2 <= x1"])
    assert prob.variables == (x1, x2)
    assert prob.constraints[0].poly.equals(x1)
    assert prob.constraints[1].poly.equals(x1 - x2)
    prob = po.Problem(minimize="x1*x2", constraints=[x1 >= 0, x2 <= 1])
    assert prob.variables == (x1, x2)
    assert prob.objective.equals(x1 * x2)


def test_single_constraint_not_in_a_list(x):
    x1, x2, _ = x
    prob = po.Problem(minimize=x1 + x2, constraints=x1 >= 0)
    assert len(prob.constraints) == 1
    assert prob.constraints[0].poly.equals(x1)
    prob = po.Problem(minimize="x1 + x2", constraints="x1 <= 1")
    assert len(prob.constraints) == 1
    assert prob.constraints[0].kind == "ineq"
    assert prob.nvars == 2


def test_constraint_arrays_flattened(x):
    x1, x2, x3 = x
    nonneg = np.greater_equal(x, 0, dtype=object)  # object array of 3 constraints
    assert nonneg.shape == (3,) and isinstance(nonneg[0], Constraint)
    grid = np.array([[x1 <= 1, x2 <= 1], [x3 <= 1, x1 + x2 <= 1]], dtype=object)
    prob = po.Problem(
        minimize=(x**2).sum(),
        constraints=[nonneg, [x1 == x2, (x3 >= -5, [x2 >= -5])], grid, 1 - (x**2).sum() >= 0],
    )
    assert len(prob.constraints) == 3 + 3 + 4 + 1
    assert all(isinstance(c, Constraint) for c in prob.constraints)
    assert [c.kind for c in prob.constraints].count("eq") == 1
    assert prob.constraints[0].poly.equals(x1)
    assert prob.constraints[-1].poly.equals(1 - x1**2 - x2**2 - x3**2)
    # a whole 2-d array as the constraints argument
    prob = po.Problem(minimize=x1, constraints=grid)
    assert len(prob.constraints) == 4


def test_bad_constraint_items(x):
    x1 = x[0]
    with pytest.raises(TypeError, match="bool"):
        po.Problem(minimize=x1, constraints=[1 >= 0])
    with pytest.raises(TypeError, match="constraints must be built"):
        po.Problem(minimize=x1, constraints=[x1])
    with pytest.raises(TypeError, match="constraints must be built"):
        po.Problem(minimize=x1, constraints=[3.0])


def test_bad_objective_type(x):
    with pytest.raises(TypeError, match="objective"):
        po.Problem(minimize=[x[0]])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nonfinite_coefficients_rejected(x, bad):
    x1, x2, _ = x
    with pytest.raises(ValueError, match="NaN or infinite"):
        po.Problem(minimize=x1**2 + bad * x2)
    with pytest.raises(ValueError, match="NaN or infinite"):
        po.Problem(minimize=x1**2 + bad)
    with pytest.raises(ValueError, match="NaN or infinite"):
        po.Problem(minimize=x1**2, constraints=[x1 >= 0, bad * x2 <= 1])
    with pytest.raises(ValueError, match="NaN or infinite"):
        po.Problem(minimize=x1**2, constraints=[x1 * x2 == bad])


def test_nonfinite_in_strings_rejected():
    with pytest.raises(ValueError, match="NaN or infinite"):
        po.Problem(minimize="1e999*x1")
    with pytest.raises(ValueError, match="NaN or infinite"):
        po.Problem(minimize="x1", constraints=["x1 <= 1e400"])


def test_constant_objective_rejected(x):
    x1 = x[0]
    with pytest.raises(ValueError, match="constant"):
        po.Problem(minimize=5, constraints=[x1 >= 0])
    with pytest.raises(ValueError, match="constant"):
        po.Problem(maximize=po.Polynomial.constant(2.0), constraints=[x1 <= 1])
    with pytest.raises(ValueError, match="constant"):
        po.Problem(minimize=x1 - x1 + 3, constraints=[x1 <= 1])
    with pytest.raises(ValueError, match="constant"):
        po.Problem(minimize="4", constraints=["x1 >= 0"])


def test_no_variables_rejected():
    with pytest.raises(ValueError, match="no variables"):
        po.Problem(minimize=3.0)
    with pytest.raises(ValueError, match="no variables"):
        po.Problem(minimize="2 + 3")
    with pytest.raises(ValueError, match="no variables"):
        po.Problem(minimize=po.Polynomial.constant(1.0), constraints=[])


def test_declared_variables(x):
    x1, x2, x3 = x
    prob = po.Problem(minimize=x1**2, constraints=[x2 >= 0], variables=[x3, x2, x1])
    assert prob.variables == (x3, x2, x1)  # declared order kept, free x3 kept
    prob = po.Problem(minimize="x2^2 + x1", variables=x)
    assert prob.variables == (x1, x2, x3)
    assert prob.objective.equals(x2**2 + x1)
    assert prob.objective.variables[0] is x1


def test_declared_variables_errors(x):
    x1, x2, x3 = x
    with pytest.raises(ValueError, match="x2"):
        po.Problem(minimize=x1**2 + x2, variables=[x1])
    with pytest.raises(ValueError, match="x3"):
        po.Problem(minimize=x1**2, constraints=[x3 >= 0], variables=[x1, x2])
    with pytest.raises(ValueError, match="y"):
        po.Problem(minimize="x1^2 + y", variables=[x1])
    with pytest.raises(ValueError, match="z"):
        po.Problem(minimize="x1^2", constraints=["z >= 0"], variables=[x1])
    # a different Variable that only shares the name is still unknown
    with pytest.raises(ValueError, match="x1"):
        po.Problem(minimize=x1**2, variables=[po.Variable("x1")])
    with pytest.raises(ValueError, match="twice"):
        po.Problem(minimize=x1**2, variables=[x1, x1])
    with pytest.raises(TypeError, match="Variable"):
        po.Problem(minimize=x1**2, variables=[x1, "x2"])


# ----------------------------------------------------------------- variable_bounds
def test_bounds_boxes(x):
    x1, x2, x3 = x
    prob = po.Problem(
        minimize=x1 + x2 + x3,
        constraints=[x1 >= -1, x1 <= 2, x2 >= 0, 2 * x3 + 1 >= 0, 3 - x3 >= 0],
    )
    # x1 in [-1, 2] -> 2; x2 only bounded below -> inf; x3 in [-0.5, 3] -> 3
    np.testing.assert_array_equal(prob.variable_bounds(), [2.0, np.inf, 3.0])


def test_bounds_tightest_box_wins(x):
    x1, x2, _ = x
    prob = po.Problem(
        minimize=x1 + x2,
        constraints=[x1 >= -5, x1 >= -1, x1 <= 4, 0.5 - 0.25 * x1 >= 0, x2 <= 1],
    )
    # lo = max(-5, -1) = -1, hi = min(4, 2) = 2 -> 2; x2 has no lower bound -> inf
    np.testing.assert_array_equal(prob.variable_bounds(), [2.0, np.inf])


def test_bounds_balls(x):
    x1, x2, x3 = x
    prob = po.Problem(minimize=x1 + x2 + x3, constraints=[4 - (x**2).sum() >= 0])
    np.testing.assert_allclose(prob.variable_bounds(), [2.0, 2.0, 2.0])
    # ellipsoid 1 - x1^2 - 4 x2^2 >= 0: |x1| <= 1, |x2| <= 1/2; x3 free
    prob = po.Problem(minimize=x1 + x2 + x3, constraints=[1 - x1**2 - 4 * x2**2 >= 0])
    np.testing.assert_allclose(prob.variable_bounds(), [1.0, 0.5, np.inf])
    # single-variable square and combination with a box: the smaller bound wins
    prob = po.Problem(
        minimize=x1 + x2,
        constraints=[9 - x1**2 >= 0, 100 - x1**2 - x2**2 >= 0, x2 <= 1, x2 >= -0.5],
    )
    np.testing.assert_allclose(prob.variable_bounds(), [3.0, 1.0])


def test_bounds_finite_sets(x):
    x1, x2, x3 = x
    prob = po.Problem(
        minimize=x1 + x2 + x3,
        constraints=[x1 * (x1 - 1) == 0, x2**2 - 4 == 0, x3**2 + 1 == 0],
    )
    # x1 in {0, 1}; x2 in {-2, 2}; x3^2 = -1 has no real root -> inf
    np.testing.assert_allclose(prob.variable_bounds(), [1.0, 2.0, np.inf])
    prob = po.Problem(minimize=x1, constraints=[(x1 + 3) * (x1 - 1) * x1 == 0])
    np.testing.assert_allclose(prob.variable_bounds(), [3.0])
    prob = po.Problem(minimize=x1, constraints=["x1 == 0.5"])
    np.testing.assert_allclose(prob.variable_bounds(), [0.5])


def test_bounds_not_recognized(x):
    x1, x2, x3 = x
    cons = [
        1 - x1 * x2 >= 0,  # cross term
        1 - x1**2 + x2**2 >= 0,  # indefinite
        x3**2 - 1 >= 0,  # exterior of a ball
        x1 + x2 <= 1,  # two variables
        x1 * x2 == 0,  # two variables
    ]
    prob = po.Problem(minimize=x1 + x2 + x3, constraints=cons)
    np.testing.assert_array_equal(prob.variable_bounds(), [np.inf] * 3)
    prob = po.Problem(minimize=x1, variables=[x1, x2])
    np.testing.assert_array_equal(prob.variable_bounds(), [np.inf, np.inf])


def test_bounds_quadratics_with_linear_terms(x):
    x1, x2, x3 = x
    # (x1 - 1)(3 - x1) >= 0 -> [1, 3]; 1 - x3^2 - x3 >= 0 -> roots (-1 -+ sqrt 5) / 2
    prob = po.Problem(minimize=x1 + x3, constraints=[(x1 - 1) * (3 - x1) >= 0, 1 - x3**2 - x3 >= 0])
    lo, hi = prob.variable_box()
    r = (np.sqrt(5) - 1) / 2
    np.testing.assert_allclose([lo[0], hi[0], lo[1], hi[1]], [1, 3, -1 - r, r], rtol=1e-12)
    assert lo[0] <= 1 and hi[0] >= 3 and lo[1] <= -1 - r and hi[1] >= r
    # a ball with a center: 4 - (x1 - 10)^2 - (x2 + 5)^2 >= 0
    prob = po.Problem(minimize=x1, constraints=[4 - (x1 - 10) ** 2 - (x2 + 5) ** 2 >= 0])
    lo, hi = prob.variable_box()
    np.testing.assert_allclose([lo[0], hi[0], lo[1], hi[1]], [8, 12, -7, -3], rtol=1e-12)


def test_bounds_propagate_through_linear_constraints(x):
    # the GloptiPoly manual's example: x >= 0, x1 + x2 + x3 <= 4, 3 x2 + x3 <= 6, x1 <= 2, x3 <= 3
    x1, x2, x3 = x
    cons = [x1 >= 0, x2 >= 0, x3 >= 0, x1 <= 2, x3 <= 3, x1 + x2 + x3 <= 4, 3 * x2 + x3 <= 6]
    prob = po.Problem(minimize=-2 * x1 + x2 - x3, constraints=cons)
    lo, hi = prob.variable_box()
    np.testing.assert_array_equal(lo, [0, 0, 0])
    np.testing.assert_allclose(hi, [2, 2, 3], rtol=1e-12)
    assert hi[1] >= 2


def test_implied_bounds_hold_in_exact_arithmetic():
    # bounds whose float computation rounds: the reported ends must contain every solution
    from fractions import Fraction

    rng = np.random.default_rng(0)
    x = po.variables("x")
    for _ in range(200):
        a, b, c = -rng.uniform(0.1, 10), rng.uniform(-1e3, 1e3), rng.uniform(0, 1e4)
        lo, hi = po.Problem(minimize=x, constraints=[a * x**2 + b * x + c >= 0]).variable_box()
        for end, step in ((lo[0], -1), (hi[0], 1)):
            # the quadratic is <= 0 at the reported ends, beyond the vertex (exactly)
            fx = Fraction(float(end))
            assert Fraction(a) * fx * fx + Fraction(b) * fx + Fraction(c) <= 0
            assert step * (fx - Fraction(b) / (-2 * Fraction(a))) > 0
        k = rng.uniform(0.1, 10)
        off = rng.uniform(-1e3, 1e3) / 3
        lo, hi = po.Problem(minimize=x, constraints=[k * x - off >= 0]).variable_box()
        assert Fraction(k) * Fraction(float(lo[0])) <= Fraction(off)


def test_bounds_follow_declared_order(x):
    x1, x2, x3 = x
    prob = po.Problem(minimize=x1 + x3, constraints=[x1 <= 1, x1 >= -1], variables=[x3, x2, x1])
    np.testing.assert_array_equal(prob.variable_bounds(), [np.inf, np.inf, 1.0])


# ----------------------------------------------------------------- JSON input
PROBLEM = {
    "variables": ["x", "y"],
    "minimize": "x^4 - 3*x*y + y^2 + 0.5",
    "constraints": ["x^2 + y^2 <= 4", "x >= -1", "x*y == 1"],
    "known_optimum": -1.234,
    "source": "hand-written test problem",
}


def f_obj(p):
    return p["x"] ** 4 - 3 * p["x"] * p["y"] + p["y"] ** 2 + 0.5


CONS = [
    ("ineq", lambda p: 4 - p["x"] ** 2 - p["y"] ** 2),
    ("ineq", lambda p: p["x"] + 1),
    ("eq", lambda p: p["x"] * p["y"] - 1),
]


def check_reference_problem(prob):
    assert prob.sense == "min"
    assert [v.name for v in prob.variables] == ["x", "y"]
    assert_poly_matches(prob.objective, f_obj, ["x", "y"])
    assert len(prob.constraints) == len(CONS)
    for c, (kind, func) in zip(prob.constraints, CONS):
        assert c.kind == kind
        assert_poly_matches(c.poly, func, ["x", "y"])
    # all polynomials share the problem's Variable objects
    ids = {v.id for v in prob.variables}
    for poly in [prob.objective] + [c.poly for c in prob.constraints]:
        assert {v.id for v in poly.variables} <= ids


def test_from_json_text_ignores_unknown_keys():
    prob = po.Problem.from_json(json.dumps(PROBLEM))
    check_reference_problem(prob)
    assert not hasattr(prob, "known_optimum")


def test_from_json_text_with_leading_whitespace():
    check_reference_problem(po.Problem.from_json("\n  " + json.dumps(PROBLEM)))


def test_from_json_file(tmp_path):
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(PROBLEM, indent=2), encoding="utf-8")
    check_reference_problem(po.Problem.from_json(path))
    check_reference_problem(po.Problem.from_json(str(path)))


def test_from_dict_maximize_and_no_constraints():
    prob = po.Problem.from_dict({"variables": ["a", "b"], "maximize": "a*b - a^2"})
    assert prob.sense == "max" and prob.constraints == []
    assert_poly_matches(prob.objective, lambda p: p["a"] * p["b"] - p["a"] ** 2, ["a", "b"])
    assert_poly_matches(prob.min_objective(), lambda p: p["a"] ** 2 - p["a"] * p["b"], ["a", "b"])


def test_from_dict_keeps_free_declared_variables():
    prob = po.Problem.from_dict({"variables": ["u", "v", "w"], "minimize": "v^2"})
    assert [v.name for v in prob.variables] == ["u", "v", "w"]


# ----------------------------------------------------------------- JSON round trip
def assert_same_problem(p, q):
    assert q.sense == p.sense
    assert [v.name for v in q.variables] == [v.name for v in p.variables]
    assert rename(q.objective, p.variables).equals(p.objective)
    assert len(q.constraints) == len(p.constraints)
    for cq, cp in zip(q.constraints, p.constraints):
        assert cq.kind == cp.kind
        assert rename(cq.poly, p.variables).equals(cp.poly)
    # and independently of the term representation, by evaluation at random points
    order_p, order_q = list(p.variables), list(q.variables)
    pts = RNG.uniform(-2, 2, size=(25, len(order_p)))
    np.testing.assert_allclose(
        q.objective.evaluate(pts, variables=order_q),
        p.objective.evaluate(pts, variables=order_p),
        rtol=1e-13,
        atol=1e-13,
    )


def test_to_json_round_trip_text(x):
    x1, x2, x3 = x
    prob = po.Problem(
        maximize=x1**3 / 3 - 0.1 * x1 * x2 + 1e-7 * x3**2 - 12345.678 * x2 + 2 / 7,
        constraints=[1 - (x**2).sum() >= 0, x1 * (x1 - 1) == 0, x2 <= x3 / 3, x3 >= -math.pi],
    )
    text = prob.to_json()
    data = json.loads(text)
    assert set(data) == {"variables", "maximize", "constraints"}
    assert data["variables"] == ["x1", "x2", "x3"]
    assert len(data["constraints"]) == 4
    back = po.Problem.from_json(text)
    assert_same_problem(prob, back)
    # a second round trip gives the same text
    assert back.to_json() == text


def test_to_json_round_trip_file(tmp_path, x):
    x1, x2, _ = x
    prob = po.Problem(minimize=(x1 - x2) ** 4 + x1 / 3, constraints=[x1 >= 0, x2 == 0.2])
    path = tmp_path / "out.json"
    text = prob.to_json(path)
    assert path.read_text(encoding="utf-8").strip() == text
    assert_same_problem(prob, po.Problem.from_json(path))
    assert_same_problem(prob, po.Problem.from_json(str(pathlib.Path(path))))


def test_to_json_round_trip_free_variable_and_string_problem():
    prob = po.Problem(minimize="a^2 - b", constraints=["b <= 1"], variables=None)
    back = po.Problem.from_json(prob.to_json())
    assert_same_problem(prob, back)
    x = po.variables("x", 3)
    prob = po.Problem(minimize=x[0] ** 2, variables=x)
    back = po.Problem.from_json(prob.to_json(indent=None))
    assert [v.name for v in back.variables] == ["x1", "x2", "x3"]
    assert_same_problem(prob, back)


def test_same_name_variables_are_refused():
    # two distinct unknowns with one name would be silently different (or merged on a round
    # trip through JSON / strings): the problem refuses them
    a, b = po.Variable("z"), po.Variable("z")
    with pytest.raises(ValueError, match="both named 'z'"):
        po.Problem(minimize=a + b**2)
    x, x2 = po.variables("x", 2), po.variables("x", 2)
    with pytest.raises(ValueError, match="both named 'x1'"):
        po.Problem(minimize=(x[0] - 2) ** 2, constraints=[x2[0] <= 1])
    with pytest.raises(ValueError, match="both named"):
        po.Problem(minimize=x[0], variables=[x[0], x2[0]])
    # reusing the same objects is fine, and the optimum is the intended one
    r = po.Problem(minimize=(x[0] - 2) ** 2, constraints=[x[0] <= 1]).solve()
    assert r.bound == pytest.approx(1.0, abs=1e-6)


# ----------------------------------------------------------------- JSON errors
def _with(**changes):
    data = {k: v for k, v in PROBLEM.items()}
    for k, v in changes.items():
        if v is KeyError:
            data.pop(k)
        else:
            data[k] = v
    return json.dumps(data)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ('{"variables": ["x"], "minimize": "x^2",}', "malformed problem JSON"),
        ('{"variables": ["x"], "minimize": "x^2"', "malformed problem JSON"),
        ("{variables: [x]}", "malformed problem JSON"),
        (_with(minimize=KeyError), 'exactly one of "minimize" or "maximize"'),
        (_with(maximize="x"), 'exactly one of "minimize" or "maximize"'),
        (_with(variables=KeyError), '"variables" must be a nonempty list'),
        (_with(variables=[]), '"variables" must be a nonempty list'),
        (_with(variables="x y"), '"variables" must be a nonempty list'),
        (_with(variables=["x", 2]), '"variables" must be a nonempty list'),
        (_with(variables=["x", "y", "x"]), "twice"),
        (_with(variables=["x", "y", "1z"]), "invalid variable name"),
        (_with(variables=["x", "y z"]), "invalid variable name"),
        (_with(variables=["x"]), "y"),
        (_with(minimize="x^2 + w"), "w"),
        (_with(minimize=["x"]), "expression string"),
        (_with(minimize=None), "expression string"),
        (_with(minimize=3), "constant"),
        (_with(minimize="sin(x)"), "sin"),
        (_with(minimize="x^2 +* y"), "cannot parse"),
        (_with(constraints=["x + y"]), "exactly one of '>=', '<=', '=='"),
        (_with(constraints=["x > 0"]), "strict inequality"),
        (_with(constraints=["x^2 < y"]), "strict inequality"),
        (_with(constraints=["x >= 0", 3]), "must be a string"),
        (_with(constraints="x >= 0"), '"constraints" must be a list'),
        (_with(constraints=["x >= q"]), "q"),
        (_with(constraints=["x >= 1e999"]), "NaN or infinite"),
    ],
)
def test_from_json_errors(text, fragment):
    with pytest.raises(ValueError, match=fragment.replace("^", r"\^").replace("+", r"\+")):
        po.Problem.from_json(text)


def test_from_json_file_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"variables": ["x"], "minimize": ', encoding="utf-8")
    with pytest.raises(ValueError, match="malformed problem JSON"):
        po.Problem.from_json(bad)
    arr = tmp_path / "array.json"
    arr.write_text('[{"variables": ["x"], "minimize": "x^2"}]', encoding="utf-8")
    with pytest.raises(ValueError, match="JSON object"):
        po.Problem.from_json(arr)
    with pytest.raises(OSError):
        po.Problem.from_json(tmp_path / "missing.json")


def test_from_dict_not_a_dict():
    with pytest.raises(ValueError, match="JSON object"):
        po.Problem.from_dict([PROBLEM])


def test_sympy_objective_points_to_from_sympy():
    sympy = pytest.importorskip("sympy")
    x = sympy.symbols("x")
    with pytest.raises(TypeError, match="from_sympy"):
        po.Problem(minimize=x**2 - 1)
    assert po.from_sympy(x**2 - 1) is not None


def test_versions():
    import lipschitz

    assert lipschitz.__version__ == po.__version__ and po.__version__.count(".") == 2


def test_result_prints_one_line():
    x = po.variables("x", 2)
    r = po.Problem(minimize=x[0] ** 2 + x[1] ** 2 - x[0], constraints=[1 - x[0] ** 2 >= 0]).solve()
    text = str(r)
    assert "\n" not in text and "lower bound -0.25" in text and "certified" in text
    assert "status optimal" in text
