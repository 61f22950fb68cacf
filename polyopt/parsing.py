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

from .algebra import Polynomial, Variable, polysum

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
        raise ValueError(f"cannot parse expression {_shown(text)}: {exc}") from None
    except RecursionError:
        raise ValueError(
            f"cannot parse expression {_shown(text)}: nested too deeply for the parser "
            "(split it into a sum of smaller terms)"
        ) from None


def _shown(text: str, limit: int = 200) -> str:
    """``text`` for an error message, cut to ``limit`` characters."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f" ... ({len(text)} chars)"


CHUNK_CHARS = 2000
"""Longer texts are parsed in pieces of about this many characters, cut between top-level
terms (sympy's parser recurses once per term and fails on sums of thousands of terms)."""
_NUMBER_WITH_EXPONENT = re.compile(r"^(\d+\.?\d*|\.\d+)[eE]$")


def top_level_terms(text: str) -> list[str] | None:
    """``text`` cut before each ``+`` / ``-`` that separates two top-level terms (outside
    parentheses, after an operand, not the sign of a number's exponent); None when the
    parentheses do not balance."""
    cuts = [0]
    depth = 0
    last = ""  # the last non-space character
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return None
        elif ch in "+-" and depth == 0 and last and (last.isalnum() or last in "_.)"):
            j = i - 1
            while j >= 0 and text[j] == " ":
                j -= 1
            k = j
            while k >= 0 and (text[k].isalnum() or text[k] in "_."):
                k -= 1
            if not _NUMBER_WITH_EXPONENT.match(text[k + 1 : j + 1]):
                cuts.append(i)
        if not ch.isspace():
            last = ch
    if depth != 0:
        return None
    return [text[a:b] for a, b in zip(cuts, cuts[1:] + [len(text)])]


_NUMBER = re.compile(r"^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_POWER = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\^(\d+))?$")


def _expanded_polynomial(terms: list[str], table: Mapping[str, Variable]) -> Polynomial | None:
    """The polynomial of an expanded sum (each term a product of numbers and ``name`` or
    ``name^k`` factors, as :meth:`Polynomial.to_string` writes them), read without sympy;
    None for anything else (parentheses, other operators, names not in ``table``), which
    sympy then reads."""
    rows: list[dict[str, int]] = []
    coeffs: list[float] = []
    for term in terms:
        body = term.replace(" ", "").replace("**", "^")
        sign = 1.0
        if body and body[0] in "+-":
            sign = -1.0 if body[0] == "-" else 1.0
            body = body[1:]
        if not body:
            return None
        coef = sign
        powers: dict[str, int] = {}
        for factor in body.split("*"):
            if _NUMBER.match(factor):
                coef *= float(factor)
                continue
            m = _POWER.match(factor)
            if m is None or m.group(1) not in table:
                return None
            powers[m.group(1)] = powers.get(m.group(1), 0) + int(m.group(2) or 1)
        rows.append(powers)
        coeffs.append(coef)
    if not np.all(np.isfinite(coeffs)):
        return None  # sympy's reading gives the error message
    used = sorted({name for powers in rows for name in powers}, key=lambda name: table[name].id)
    if not used:
        return Polynomial.constant(float(np.sum(coeffs)))
    position = {name: p for p, name in enumerate(used)}
    width = max(sum(powers.values()) for powers in rows)
    codes = np.full((len(rows), width), len(used), dtype=np.int64)  # sentinel: no variable
    for r, powers in enumerate(rows):
        slots = sorted(p for name, e in powers.items() for p in [position[name]] * e)
        codes[r, : len(slots)] = slots
    variables = [table[name] for name in used]
    return Polynomial.from_codes(variables, codes, np.array(coeffs, dtype=float))


def _chunks(terms: list[str], size: int) -> list[str]:
    out: list[str] = []
    current = ""
    for term in terms:
        if current and len(current) + len(term) > size:
            out.append(current)
            current = ""
        current += term
    return out + [current] if current else out


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
    any other name is an error; otherwise new variables are created. Texts longer than
    :data:`CHUNK_CHARS` are parsed term group by term group and summed.
    """
    terms = top_level_terms(text) if isinstance(text, str) and len(text) > CHUNK_CHARS else None
    if not terms or len(terms) == 1:
        return from_sympy(parse_expression(text), variables)
    table = _variable_table(variables)
    if table is None:
        table = {name: Variable(name) for name in sorted(identifiers(text))}
    plain = _expanded_polynomial(terms, table)
    if plain is not None:
        return plain
    return polysum(
        from_sympy(parse_expression(chunk), table) for chunk in _chunks(terms, CHUNK_CHARS)
    )
