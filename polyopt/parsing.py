"""Polynomials from strings and sympy expressions."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from tokenize import TokenError
from typing import Any

import numpy as np
import sympy
from sympy.parsing.sympy_parser import (
    convert_xor,
    parse_expr,
    standard_transformations,
)

from .algebra import Polynomial, Variable

_IDENT = re.compile(r"(?<![0-9.A-Za-z_])[A-Za-z_][A-Za-z0-9_]*")
#: Names that denote functions in expressions, never variables.
RESERVED_NAMES = frozenset({"sqrt", "Rational"})
_TRANSFORMS = standard_transformations + (convert_xor,)


def _variable_table(
    variables: Sequence[Variable] | Mapping[str, Variable] | None,
) -> dict[str, Variable] | None:
    if variables is None:
        return None
    if isinstance(variables, Mapping):
        return dict(variables)
    table: dict[str, Variable] = {}
    for v in np.ravel(np.asarray(variables, dtype=object)):
        if not isinstance(v, Variable):
            raise TypeError(f"expected Variable objects, got {type(v).__name__}")
        if v.name in table and table[v.name] is not v:
            raise ValueError(f"two different variables are named {v.name!r}")
        table[v.name] = v
    return table


def identifiers(text: str) -> set[str]:
    """Names in ``text`` that denote variables (function names such as ``sqrt`` excluded)."""
    return {i for i in _IDENT.findall(text) if i not in RESERVED_NAMES}


def parse_expression(text: str, names: Mapping[str, Any] | None = None) -> sympy.Expr:
    """Parse ``text`` with sympy (``^`` means power); every identifier is a plain symbol."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"expected a nonempty expression string, got {text!r}")
    local: dict[str, Any] = {}
    for ident in identifiers(text):
        local[ident] = sympy.Symbol(ident)
    if names:
        local.update(names)
    try:
        return parse_expr(text, local_dict=local, transformations=_TRANSFORMS, evaluate=True)
    except (SyntaxError, TypeError, ValueError, sympy.SympifyError, TokenError) as exc:
        raise ValueError(f"cannot parse expression {text!r}: {exc}") from None


def from_sympy(
    expr: Any,
    variables: Sequence[Variable] | Mapping[str, Variable] | None = None,
) -> Polynomial:
    """Convert a sympy expression into a :class:`Polynomial`.

    Symbols are matched to ``variables`` by name; with ``variables=None`` a new
    :class:`Variable` is created per symbol. A symbol that is not among ``variables`` or a
    non-polynomial expression (``sin(x)``, ``1/x``, ``sqrt(x)``) raises ``ValueError``.
    """
    expr = sympy.sympify(expr)
    table = _variable_table(variables)
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    if table is not None:
        unknown = [s.name for s in symbols if s.name not in table]
        if unknown:
            raise ValueError(f"unknown variable(s) {unknown} in {expr}; declared: {sorted(table)}")
        vars_ = [table[s.name] for s in symbols]
    else:
        vars_ = [Variable(s.name) for s in symbols]
    if not symbols:
        try:
            value = float(expr)
        except (TypeError, ValueError):
            raise ValueError(f"{expr} is not a real number") from None
        _check_finite([value], expr)
        return Polynomial.constant(value)
    try:
        poly = sympy.Poly(expr, *symbols)
    except sympy.PolynomialError as exc:
        raise ValueError(
            f"{expr} is not a polynomial in {[s.name for s in symbols]}: {exc}"
        ) from None
    monoms = poly.monoms()
    try:
        coeffs = [float(c) for c in poly.coeffs()]
    except (TypeError, ValueError):
        raise ValueError(f"{expr} has coefficients that are not real numbers") from None
    _check_finite(coeffs, expr)
    return Polynomial(vars_, np.array(monoms, dtype=np.int64), np.array(coeffs))


def _check_finite(coeffs: Sequence[float], expr: Any) -> None:
    if not np.all(np.isfinite(coeffs)):
        raise ValueError(f"{expr} has a NaN or infinite coefficient")


def parse_polynomial(
    text: str,
    variables: Sequence[Variable] | Mapping[str, Variable] | None = None,
) -> Polynomial:
    """Parse a polynomial such as ``"x1^2 - 3*x1*x2 + 0.5"``.

    ``^`` and ``**`` both mean power. With ``variables`` given, names are matched to them and
    any other name is an error; otherwise new variables are created.
    """
    return from_sympy(parse_expression(text), variables)
