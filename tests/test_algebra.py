"""Tests for polyopt.algebra (Variable, Polynomial, variables) and polyopt.parsing.

Expected values come from hand computation or from sympy, used as an independent oracle:
polynomials are compared through their term dictionaries ``{exponent tuple: coefficient}``.
"""

import itertools

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import polyopt as po
from polyopt.model import Constraint


# ----------------------------------------------------------------- helpers
def term_dict(p, names):
    """``{exponents in the order of names: coefficient}`` for a polyopt polynomial."""
    unknown = {v.name for v in p.variables} - set(names)
    assert not unknown, f"unexpected variables {unknown}"
    out = {}
    for mono, coeff in p.terms():
        key = tuple(mono.get(n, 0) for n in names)
        assert key not in out, "terms were not merged"
        out[key] = coeff
    return out


def sympy_term_dict(expr, names):
    """The same dictionary computed by sympy from an expression."""
    syms = [sympy.Symbol(n) for n in names]
    poly = sympy.Poly(sympy.expand(expr), *syms)
    return {k: float(c) for k, c in poly.as_dict().items() if c != 0}


def assert_same_terms(p, expr, names, rel=1e-12):
    got = term_dict(p, names)
    want = sympy_term_dict(expr, names)
    assert set(got) == set(want)
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=rel, abs=1e-14), k


NAMES = ["x1", "x2", "x3"]
S1, S2, S3 = sympy.symbols(NAMES)


@pytest.fixture
def x():
    return po.variables("x", 3)


# ----------------------------------------------------------------- variables()
def test_variables_array_names_and_identity():
    x = po.variables("x", 3)
    assert isinstance(x, np.ndarray)
    assert x.dtype == object and x.shape == (3,)
    assert [v.name for v in x] == ["x1", "x2", "x3"]
    assert all(isinstance(v, po.Variable) for v in x)
    assert len({v.id for v in x}) == 3
    # a second call makes new, distinct variables even with the same names
    y = po.variables("x", 3)
    assert {v.id for v in x}.isdisjoint({v.id for v in y})


def test_variables_single_and_start():
    t = po.variables("t")
    assert isinstance(t, po.Variable) and t.name == "t"
    assert str(t) == "t" and repr(t) == "Variable('t')"
    y = po.variables("y", 2, start=0)
    assert [v.name for v in y] == ["y0", "y1"]


@pytest.mark.parametrize("n", [0, -1, 2.5, "3"])
def test_variables_bad_count(n):
    with pytest.raises(ValueError, match="positive integer"):
        po.variables("x", n)


def test_variable_needs_name():
    with pytest.raises(ValueError, match="nonempty"):
        po.Variable("")


def test_variable_is_degree_one_polynomial(x):
    v = x[0]
    assert v.degree == 1 and v.nterms == 1
    assert v.variables == (v,)
    assert v.evaluate([3.5]) == 3.5


# ----------------------------------------------------------------- arithmetic
def test_add_sub_mul_against_sympy(x):
    x1, x2, x3 = x
    p = (x1 + 2 * x2) * (x3 - 1) - 3 + x1 * x1 - (x2 - x3)
    expr = (S1 + 2 * S2) * (S3 - 1) - 3 + S1 * S1 - (S2 - S3)
    assert_same_terms(p, expr, NAMES)


def test_reflected_operators(x):
    x1, x2, _ = x
    assert_same_terms(5 - x1, 5 - S1, NAMES)
    assert_same_terms(2 + x1, 2 + S1, NAMES)
    assert_same_terms(3 * x1 * x2, 3 * S1 * S2, NAMES)
    assert_same_terms(-x1, -S1, NAMES)
    assert_same_terms(+x1, S1, NAMES)


def test_numpy_scalars_as_operands(x):
    x1 = x[0]
    for p in (np.float64(2.5) * x1, x1 * np.float64(2.5), np.int64(2) * x1 + x1 * 0.5):
        assert isinstance(p, po.Polynomial)
        assert_same_terms(p, 2.5 * S1, NAMES)
    q = np.float64(1.0) - x1
    assert isinstance(q, po.Polynomial)
    assert_same_terms(q, 1 - S1, NAMES)


@pytest.mark.parametrize("k", [0, 1, 2, 3, 5, np.int64(4)])
def test_power_matches_sympy(x, k):
    x1, x2, _ = x
    p = (x1 - 2 * x2 + 1) ** k
    assert_same_terms(p, (S1 - 2 * S2 + 1) ** int(k), NAMES)
    assert p.degree == int(k)


def test_power_zero_is_one(x):
    p = x[0] ** 0
    assert p.is_constant() and p.constant_term() == 1.0 and p.nterms == 1


@pytest.mark.parametrize("bad", [-1, -2, 0.5, -1.0, 1.5, True, "2", None])
def test_power_rejects_non_natural(x, bad):
    with pytest.raises(TypeError):
        x[0] ** bad
    with pytest.raises(TypeError):
        (x[0] + x[1]) ** bad


def test_scalar_division(x):
    x1, x2, _ = x
    assert_same_terms((4 * x1 + x2) / 8, S1 / 2 + S2 / 8, NAMES)
    assert_same_terms(x1 / 3, S1 / 3, NAMES, rel=0)
    assert_same_terms(x1 / po.Polynomial.constant(4.0), S1 / 4, NAMES)
    assert_same_terms(x1 / np.float64(-2), -S1 / 2, NAMES)


def test_division_errors(x):
    x1, x2, _ = x
    with pytest.raises(ZeroDivisionError):
        x1 / 0
    with pytest.raises(ZeroDivisionError):
        x1 / 0.0
    with pytest.raises(ZeroDivisionError):
        x1 / po.Polynomial.constant(0.0)
    with pytest.raises(ZeroDivisionError):
        x1 / (x2 - x2)
    with pytest.raises(TypeError, match="non-constant"):
        x1 / x2
    with pytest.raises(TypeError):
        2 / x1
    with pytest.raises(TypeError):
        x1 / "2"


def test_unsupported_operands(x):
    with pytest.raises(TypeError):
        x[0] + "a"
    with pytest.raises(TypeError):
        x[0] * [1, 2]
    with pytest.raises(TypeError):
        x[0] * True


def test_numpy_object_array_arithmetic(x):
    s = (x**2).sum()
    assert isinstance(s, po.Polynomial)
    assert_same_terms(s, S1**2 + S2**2 + S3**2, NAMES)
    assert_same_terms(x @ x, S1**2 + S2**2 + S3**2, NAMES)
    w = np.array([1.0, -2.0, 0.5])
    assert_same_terms(w @ x, S1 - 2 * S2 + S3 / 2, NAMES)
    assert_same_terms((x + 1).sum(), S1 + S2 + S3 + 3, NAMES)
    assert_same_terms(np.prod(x), S1 * S2 * S3, NAMES)


def test_ball_constraint_from_array(x):
    c = 1 - (x**2).sum() >= 0
    assert isinstance(c, Constraint)
    assert c.kind == "ineq"
    assert_same_terms(c.poly, 1 - S1**2 - S2**2 - S3**2, NAMES)


# ----------------------------------------------------------------- comparisons
def test_ge_le_eq_normalization(x):
    x1, x2, _ = x
    p, q = x1**2 + 1, 3 * x2
    ge = p >= q
    assert ge.kind == "ineq"
    assert_same_terms(ge.poly, S1**2 + 1 - 3 * S2, NAMES)
    le = p <= q
    assert le.kind == "ineq"
    assert_same_terms(le.poly, 3 * S2 - S1**2 - 1, NAMES)
    eq = p == q
    assert isinstance(eq, Constraint) and eq.kind == "eq"
    assert_same_terms(eq.poly, S1**2 + 1 - 3 * S2, NAMES)


def test_comparisons_with_numbers_on_either_side(x):
    x1 = x[0]
    cases = [
        (x1 >= 2, "ineq", S1 - 2),
        (x1 <= 2, "ineq", 2 - S1),
        (2 <= x1, "ineq", S1 - 2),
        (2 >= x1, "ineq", 2 - S1),
        (x1 == 2, "eq", S1 - 2),
        (2 == x1, "eq", S1 - 2),
        (x1 >= np.float64(0.5), "ineq", S1 - 0.5),
    ]
    for c, kind, expr in cases:
        assert isinstance(c, Constraint)
        assert c.kind == kind
        assert_same_terms(c.poly, expr, NAMES)


def test_strict_comparisons_raise(x):
    x1, x2, _ = x
    for op in (
        lambda: x1 < x2,
        lambda: x1 > x2,
        lambda: x1 < 1,
        lambda: x1 > 1,
        lambda: 1 < x1,
        lambda: 1 > x1,
    ):
        with pytest.raises(TypeError, match="strict"):
            op()


def test_truth_value_raises(x):
    x1, x2, _ = x
    with pytest.raises(TypeError, match="ambiguous"):
        bool(x1 + x2)
    with pytest.raises(TypeError):
        if x1:
            pass
    with pytest.raises(TypeError):
        bool(x1 >= x2)
    with pytest.raises(TypeError):
        bool(x1 == x2)
    with pytest.raises(TypeError):
        x1 != x2  # noqa: B015
    with pytest.raises(TypeError):
        x1 >= "zero"  # noqa: B015


def test_equals(x):
    x1, x2, _ = x
    assert (x1 + x2).equals(x2 + x1)
    assert ((x1 + 1) ** 2).equals(x1**2 + 2 * x1 + 1)
    assert not (x1 + x2).equals(x1)
    assert (x1 + 1e-9).equals(x1, tol=1e-8)
    assert not (x1 + 1e-9).equals(x1)
    assert (x1 - x1).equals(0)


# ----------------------------------------------------------------- structure
def test_degree_terms_support_constant(x):
    x1, x2, x3 = x
    p = 3 * x1**2 * x2 - x2 + 5 - 0.5 * x3**4
    assert p.degree == 4
    assert p.nterms == 4
    assert p.constant_term() == 5.0
    assert set(p.variables) == {x1, x2, x3}
    assert [v.name for v in p.variables] == ["x1", "x2", "x3"]  # creation order
    support = p.support()
    assert sorted(sorted(m.items()) for m in support) == sorted(
        [[("x1", 2), ("x2", 1)], [("x2", 1)], [], [("x3", 4)]]
    )
    terms = {tuple(sorted(m.items())): c for m, c in p.terms()}
    assert terms == {
        (("x1", 2), ("x2", 1)): 3.0,
        (("x2", 1),): -1.0,
        (): 5.0,
        (("x3", 4),): -0.5,
    }
    assert p.exponents.shape == (4, 3) and p.coefficients.shape == (4,)
    assert not p.exponents.flags.writeable and not p.coefficients.flags.writeable
    assert not p.is_constant()
    assert (x1 + 1).constant_term() == 1.0
    assert (x1 * x2).constant_term() == 0.0


def test_constant_polynomials():
    c = po.Polynomial.constant(2.5)
    assert c.is_constant() and c.degree == 0 and c.nterms == 1
    assert c.constant_term() == 2.5 and c.variables == ()
    assert c.evaluate([]) == 2.5
    zero = po.Polynomial.constant(0)
    assert zero.nterms == 0 and zero.degree == 0 and zero.constant_term() == 0.0
    assert str(zero) == "0"


def test_products_of_constants_and_zero(x):
    x1, x2, _ = x
    two, three = po.Polynomial.constant(2.0), po.Polynomial.constant(3.0)
    six = two * three
    assert six.is_constant() and six.constant_term() == 6.0 and six.nterms == 1
    zero = x1 - x1
    assert (zero * zero).nterms == 0
    assert (zero * two).nterms == 0
    assert (zero**2).nterms == 0
    assert (zero * x2).nterms == 0
    assert ((x1 - x1 + 2) ** 3).constant_term() == 8.0


def test_like_terms_merge(x):
    x1, x2, _ = x
    p = x1 + x1 + 2 * x1 * x2 + x2 * x1
    assert p.nterms == 2
    assert term_dict(p, NAMES) == {(1, 0, 0): 2.0, (1, 1, 0): 3.0}


def test_cancellation_to_zero_polynomial(x):
    x1, x2, x3 = x
    p = (x1 + x2) * (x1 - x2) - x1**2 + x2**2
    assert p.nterms == 0
    assert p.degree == 0
    assert p.variables == ()
    assert p.is_constant()
    assert p.constant_term() == 0.0
    assert p.support() == [] and p.terms() == []
    assert p.evaluate([]) == 0.0
    assert p.evaluate({"x1": 1.0}) == 0.0
    np.testing.assert_array_equal(p.evaluate(np.ones((4, 3)), variables=list(x)), np.zeros(4))
    assert (3 * x3 - 3 * x3).nterms == 0
    assert (x1 * 0).nterms == 0


def test_cancelled_variable_is_dropped(x):
    x1, x2, _ = x
    p = (x1 + x2) - x2
    assert p.variables == (x1,)
    q = (x1 + x2) ** 2 - x2**2 - 2 * x1 * x2
    assert q.variables == (x1,)
    assert term_dict(q, NAMES) == {(2, 0, 0): 1.0}


def test_cross_terms_cancel(x):
    x1, x2, _ = x
    p = (x1 + x2) * (x1 - x2)
    assert term_dict(p, NAMES) == {(2, 0, 0): 1.0, (0, 2, 0): -1.0}


# ----------------------------------------------------------------- evaluation
def test_evaluate_single_point_by_hand(x):
    x1, x2, x3 = x
    p = 3 * x1**2 * x2 - x2 + 5 - 0.5 * x3**4
    # 3*4*(-1) - (-1) + 5 - 0.5*16 = -12 + 1 + 5 - 8 = -14
    val = p.evaluate([2.0, -1.0, 2.0])
    assert isinstance(val, float)
    assert val == -14.0
    assert p([2.0, -1.0, 2.0]) == -14.0  # __call__


def test_evaluate_with_dicts(x):
    x1, x2, x3 = x
    p = x1 * x2 - x3**2
    # 2*3 - 4^2 = -10
    assert p.evaluate({x1: 2, x2: 3, x3: 4}) == -10.0
    assert p.evaluate({"x1": 2, "x2": 3, "x3": 4}) == -10.0
    assert p.evaluate({x1: 2, "x2": 3, x3: 4.0}) == -10.0
    # extra keys are ignored
    assert p.evaluate({"x1": 2, "x2": 3, "x3": 4, "unused": 9}) == -10.0


def test_evaluate_dict_prefers_variable_key_over_name(x):
    x1 = x[0]
    assert (2 * x1).evaluate({x1: 1.0, "x1": 100.0}) == 2.0


def test_evaluate_with_explicit_order(x):
    x1, x2, x3 = x
    p = x1 - 10 * x2  # does not contain x3
    assert p.evaluate([1.0, 2.0]) == -19.0
    assert p.evaluate([1.0, 2.0], variables=[x2, x1]) == 2.0 - 10 * 1.0
    assert p.evaluate([7.0, 1.0, 2.0], variables=[x3, x2, x1]) == 2.0 - 10.0
    batch = np.array([[7.0, 1.0, 2.0], [0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(p.evaluate(batch, variables=[x3, x2, x1]), [-8.0, 1.0])


def test_evaluate_batch_against_lambdify(x):
    x1, x2, x3 = x
    p = (x1 - 2 * x2 + 0.5 * x3) ** 3 - 4 * x1 * x2 * x3 + x2**5 - 7
    expr = (S1 - 2 * S2 + 0.5 * S3) ** 3 - 4 * S1 * S2 * S3 + S2**5 - 7
    f = sympy.lambdify((S1, S2, S3), expr, "numpy")
    rng = np.random.default_rng(12345)
    pts = rng.uniform(-2, 2, size=(50, 3))
    got = p.evaluate(pts)
    assert got.shape == (50,)
    want = f(pts[:, 0], pts[:, 1], pts[:, 2])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-10)
    # one point at a time agrees with the batch
    for k in range(5):
        assert p.evaluate(pts[k]) == pytest.approx(want[k], rel=1e-12, abs=1e-10)


def test_evaluate_large_batch_blocks():
    # more than 4096 terms exercises the blocked evaluation loop:
    # prod_i (1 + y_i + ... + y_i^8) has 9^4 = 6561 terms, all with coefficient 1
    y = po.variables("y", 4)
    exps = np.array(list(itertools.product(range(9), repeat=4)))
    p = po.Polynomial(list(y), exps, np.ones(len(exps)))
    assert p.nterms == 9**4 and p.degree == 32
    pts = np.array([[0.5, -0.7, 0.9, 0.1], [2.0, 0.0, -1.0, 1.5]])
    want = np.prod((1 - pts**9) / (1 - pts), axis=1)
    np.testing.assert_allclose(p.evaluate(pts), want, rtol=1e-12)
    assert p.evaluate(pts[0]) == pytest.approx(want[0], rel=1e-12)


def test_evaluate_errors(x):
    x1, x2, x3 = x
    p = x1 + x2
    with pytest.raises(ValueError, match="x2"):
        p.evaluate({x1: 1.0})
    with pytest.raises(ValueError, match="x2"):
        p.evaluate({"x1": 1.0, "X2": 2.0})
    with pytest.raises(ValueError, match="columns"):
        p.evaluate([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="columns"):
        p.evaluate([1.0])
    with pytest.raises(ValueError, match="columns"):
        p.evaluate(np.ones((4, 3)))
    with pytest.raises(ValueError, match="shape"):
        p.evaluate(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="shape"):
        p.evaluate(1.0)
    with pytest.raises(ValueError, match="x2"):
        p.evaluate([1.0, 2.0], variables=[x1, x3])
    with pytest.raises(ValueError, match="columns"):
        p.evaluate([1.0, 2.0], variables=[x1, x2, x3])


# ----------------------------------------------------------------- sympy conversion
def test_to_sympy(x):
    x1, x2, _ = x
    p = 3 * x1**2 * x2 - x2 / 4 + 5
    expr = p.to_sympy()
    assert sympy.expand(expr - (3 * S1**2 * S2 - S2 / 4 + 5)) == 0
    assert po.Polynomial.constant(0).to_sympy() == 0


def test_sympy_round_trip(x):
    x1, x2, x3 = x
    p = (x1 - x2 / 3) ** 3 + 2.5 * x3 * x1 - 0.125
    expr = p.to_sympy()
    q = po.from_sympy(expr, list(x))
    assert q.equals(p)
    assert sympy.expand(q.to_sympy() - expr) == 0
    # without a variable table new variables (with the same names) are created
    r = po.from_sympy(expr)
    assert [v.name for v in r.variables] == ["x1", "x2", "x3"]
    assert all(v.id not in {w.id for w in x} for v in r.variables)
    pts = np.random.default_rng(0).normal(size=(10, 3))
    np.testing.assert_allclose(r.evaluate(pts), p.evaluate(pts), rtol=1e-13)


def test_from_sympy_uses_declared_variables(x):
    x1, x2, x3 = x
    expr = S1 * S3 + sympy.Rational(1, 3)
    for table in (list(x), x, {"x1": x1, "x2": x2, "x3": x3}):
        q = po.from_sympy(expr, table)
        assert q.variables == (x1, x3)
        assert q.variables[0] is x1 and q.variables[1] is x3
        assert q.constant_term() == 1 / 3
    assert po.Polynomial.from_sympy(expr, x).equals(x1 * x3 + 1 / 3)


def test_from_sympy_errors(x):
    with pytest.raises(ValueError, match="y"):
        po.from_sympy(S1 + sympy.Symbol("y"), list(x))
    with pytest.raises(ValueError):
        po.from_sympy(sympy.sin(S1))
    with pytest.raises(ValueError):
        po.from_sympy(1 / S1)
    with pytest.raises(ValueError):
        po.from_sympy(sympy.I * S1)
    with pytest.raises(ValueError):
        po.from_sympy(sympy.I)
    with pytest.raises(TypeError):
        po.from_sympy(S1, ["x1"])
    with pytest.raises(ValueError, match="two different"):
        po.from_sympy(S1, [po.Variable("x1"), po.Variable("x1")])


def test_from_sympy_constant():
    c = po.from_sympy(sympy.Rational(7, 2))
    assert c.is_constant() and c.constant_term() == 3.5


# ----------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    "text, expr",
    [
        ("x1^2 - 3*x1*x2 + 0.5", S1**2 - 3 * S1 * S2 + sympy.Rational(1, 2)),
        ("x1**2 - 3*x1*x2 + 0.5", S1**2 - 3 * S1 * S2 + sympy.Rational(1, 2)),
        ("2.5e-3*x1", sympy.Rational(1, 400) * S1),
        ("2.5E-3*x1 + 1e2*x2", sympy.Rational(1, 400) * S1 + 100 * S2),
        ("(x1+x2)^3", (S1 + S2) ** 3),
        ("(x1 - 2*x2 + x3)^4 - x3^4", (S1 - 2 * S2 + S3) ** 4 - S3**4),
        ("x1*(x1 - 1)", S1**2 - S1),
        ("x1/4 + x2/2", S1 / 4 + S2 / 2),
        ("-x1 - -x2", S2 - S1),
        ("sqrt(4)*x1 + Rational(1, 3)", 2 * S1 + sympy.Rational(1, 3)),
        ("7", sympy.Integer(7)),
    ],
)
def test_parse_matches_sympy(text, expr):
    p = po.parse_polynomial(text)
    assert_same_terms(p, expr, NAMES)
    q = po.Polynomial.parse(text)
    assert_same_terms(q, expr, NAMES)


def test_parse_exact_coefficients():
    p = po.parse_polynomial("2.5e-3*x1")
    assert p.terms() == [({"x1": 1}, 0.0025)]
    p = po.parse_polynomial("x1^2 - 3*x1*x2 + 0.5")
    assert p.constant_term() == 0.5
    assert p.degree == 2 and p.nterms == 3


def test_parse_with_declared_variables(x):
    x1, x2, x3 = x
    for table in (list(x), x, {"x1": x1, "x2": x2, "x3": x3}):
        p = po.parse_polynomial("x3^2 - x1", table)
        assert p.variables == (x1, x3)
        assert p.variables[0] is x1 and p.variables[1] is x3
    # the result combines with polynomials built in Python
    assert (po.parse_polynomial("x1*x2 + 1", x) - x1 * x2).equals(1)


def test_parse_shares_variables_with_names_like_e(x):
    # "e" must not be taken as a variable inside a float literal
    p = po.parse_polynomial("1e3*x1 + 2.0e-1", x)
    assert p.variables == (x[0],)
    assert term_dict(p, NAMES) == {(1, 0, 0): 1000.0, (0, 0, 0): 0.2}


def test_parse_unknown_variable(x):
    with pytest.raises(ValueError, match="y7"):
        po.parse_polynomial("x1 + y7", list(x))
    with pytest.raises(ValueError, match="x4"):
        po.parse_polynomial("x4^2", {"x1": x[0]})


@pytest.mark.parametrize(
    "text",
    [
        "sin(x1)",
        "1/x1",
        "sqrt(x1)",
        "x1^0.5",
        "x1^-1",
        "x1^x2",
        "exp(x1) + 1",
        "abs(x1)",
        "x1/(1 + x2)",
    ],
)
def test_parse_non_polynomial(text):
    with pytest.raises(ValueError):
        po.parse_polynomial(text)


@pytest.mark.parametrize(
    "text", ["x1 +* 2", "(x1 + 1", "x1 +", "", "   ", "2x1", "x1 x2", "x1 >= 0", "x1 ++", ")"]
)
def test_parse_malformed(text):
    with pytest.raises(ValueError):
        po.parse_polynomial(text)


@pytest.mark.parametrize("bad", [None, 3, b"x1"])
def test_parse_non_string(bad):
    with pytest.raises(ValueError, match="expression string"):
        po.parse_polynomial(bad)


def test_parse_rejects_nonfinite_coefficient():
    with pytest.raises(ValueError, match="NaN or infinite"):
        po.parse_polynomial("1e400*x1")


def test_str_is_parseable(x):
    x1, x2, x3 = x
    p = 3 * x1**2 * x2 - x2 / 4 + 5 - x3
    q = po.parse_polynomial(str(p), x)
    assert q.equals(p)
    assert repr(p).startswith("Polynomial(")


# ----------------------------------------------------------------- properties
X = po.variables("x", 3)

_monomial = st.tuples(*[st.integers(0, 3)] * 3)
_terms = st.lists(st.tuples(_monomial, st.integers(-9, 9)), max_size=6)


def _build(terms):
    p = po.Polynomial.constant(0)
    for exps, coeff in terms:
        mono = po.Polynomial.constant(coeff)
        for v, e in zip(X, exps):
            mono = mono * v**e
        p = p + mono
    return p


_points = st.lists(st.floats(-2, 2, allow_nan=False, allow_infinity=False), min_size=3, max_size=3)


@settings(max_examples=60, deadline=None)
@given(_terms, _terms, _points)
def test_product_evaluates_to_product_of_evaluations(tp, tq, pt):
    p, q = _build(tp), _build(tq)
    order = list(X)
    lhs = (p * q).evaluate(pt, variables=order)
    rhs = p.evaluate(pt, variables=order) * q.evaluate(pt, variables=order)
    assert lhs == pytest.approx(rhs, rel=1e-9, abs=1e-9)
    lhs = (p + q).evaluate(pt, variables=order)
    rhs = p.evaluate(pt, variables=order) + q.evaluate(pt, variables=order)
    assert lhs == pytest.approx(rhs, rel=1e-9, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(_terms, _terms)
def test_add_then_subtract_is_identity(tp, tq):
    p, q = _build(tp), _build(tq)
    assert ((p + q) - q).equals(p)
    assert (p - p).nterms == 0
    assert (p * q).equals(q * p)
    assert (p * (q + 1)).equals(p * q + p)


@settings(max_examples=40, deadline=None)
@given(_terms)
def test_terms_match_sympy(tp):
    p = _build(tp)
    expr = sum((c * S1 ** e[0] * S2 ** e[1] * S3 ** e[2] for e, c in tp), sympy.Integer(0))
    assert term_dict(p, NAMES) == sympy_term_dict(expr, NAMES)
    assert p.degree == (sympy.Poly(expr, S1, S2, S3).total_degree() if p.nterms else 0)
