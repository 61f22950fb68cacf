"""Sparse multivariate polynomials with vectorized storage.

A :class:`Polynomial` holds a tuple of :class:`Variable` objects (its variable space, sorted by
creation order), one row per term of that term's variable positions (sorted, padded with a
sentinel to the degree: ``x1^2*x3`` over ``(x1, x3)`` is ``[0, 0, 1]``) and a float coefficient
array. Memory grows with the degree, not the number of variables, and arithmetic works on
whole arrays: no Python object is created per term.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from numbers import Real
from typing import TYPE_CHECKING, Any

import numpy as np

from .monomials import codes_from_exponents, exponents_from_codes, pack

if TYPE_CHECKING:
    from .model import Constraint

_ids = itertools.count()


def _pad(codes: np.ndarray, width: int, sentinel: int) -> np.ndarray:
    if codes.shape[1] >= width:
        return codes
    pad = np.full((codes.shape[0], width - codes.shape[1]), sentinel, dtype=np.int64)
    return np.concatenate([codes, pad], axis=1)


def canonical_codes(
    codes: np.ndarray, coeffs: np.ndarray, nvars: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge repeated monomials, drop zero terms, trim the width, drop unused variables.

    ``codes`` rows are variable positions padded with the sentinel ``nvars``. Returns
    ``(codes, coeffs, used)`` with ``used`` the kept variable positions (codes renumbered).
    """
    codes = np.asarray(codes, dtype=np.int64)
    coeffs = np.asarray(coeffs, dtype=float)
    empty = np.zeros((0, 0), dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int64)
    if codes.shape[0] == 0:
        return empty
    if codes.shape[1]:
        codes = np.sort(codes, axis=1)
        _, first, inverse = np.unique(
            pack(codes, top=nvars), return_index=True, return_inverse=True
        )
        summed = np.bincount(inverse.ravel(), weights=coeffs, minlength=first.size)
        codes = codes[first]
    else:
        summed = np.array([coeffs.sum()])
        codes = codes[:1]
    keep = summed != 0
    codes, coeffs = codes[keep], summed[keep]
    if codes.shape[0] == 0:
        return empty
    codes = codes[:, : int((codes != nvars).sum(axis=1).max())]
    used = np.unique(codes[codes != nvars])
    remap = np.full(nvars + 1, used.size, dtype=np.int64)
    remap[used] = np.arange(used.size)
    return remap[codes], coeffs, used


class Polynomial:
    """A real polynomial in named variables.

    Build polynomials from :func:`variables` with ``+``, ``-``, ``*``, ``**`` (nonnegative
    integers) and division by scalars; compare them with ``>=``, ``<=`` and ``==`` to get
    :class:`~polyopt.model.Constraint` objects.
    """

    __slots__ = ("_vars", "_codes", "_coeffs")
    __array_priority__ = 100

    def __init__(
        self,
        variables: Sequence[Variable],
        exponents: np.ndarray,
        coefficients: np.ndarray,
    ) -> None:
        coeffs = np.asarray(coefficients, dtype=float).reshape(-1)
        exps = np.asarray(exponents, dtype=np.int64).reshape(coeffs.shape[0], len(variables))
        if (exps < 0).any():
            raise ValueError("exponents must be nonnegative integers")
        ids = [v.id for v in variables]
        if len(set(ids)) != len(ids):
            raise ValueError("a variable appears twice in the variable list")
        order = sorted(range(len(variables)), key=lambda i: variables[i].id)
        exps = exps[:, order]
        width = int(exps.sum(axis=1).max()) if exps.size else 0
        self._set(tuple(variables[i] for i in order), codes_from_exponents(exps, width), coeffs)

    def _set(self, variables: tuple[Variable, ...], codes: np.ndarray, coeffs: np.ndarray) -> None:
        codes, coeffs, used = canonical_codes(codes, coeffs, len(variables))
        self._vars = tuple(variables[i] for i in used)
        self._codes = codes
        self._coeffs = coeffs

    @classmethod
    def from_codes(
        cls, variables: Sequence[Variable], codes: np.ndarray, coefficients: np.ndarray
    ) -> Polynomial:
        """Build from term codes over ``variables`` (sorted by creation order; the sentinel is
        ``len(variables)``)."""
        out = cls.__new__(cls)
        out._set(tuple(variables), codes, coefficients)
        return out

    @classmethod
    def _raw(cls, variables: tuple[Variable, ...], codes: np.ndarray, coeffs: np.ndarray):
        out = cls.__new__(cls)
        out._vars, out._codes, out._coeffs = variables, codes, coeffs
        return out

    # ----------------------------------------------------------------- construction
    @classmethod
    def constant(cls, value: float) -> Polynomial:
        """The constant polynomial ``value``."""
        return cls.from_codes((), np.zeros((1, 0), dtype=np.int64), np.array([float(value)]))

    @classmethod
    def parse(
        cls, text: str, variables: Sequence[Variable] | Mapping[str, Variable] | None = None
    ) -> Polynomial:
        """Parse ``"x1^2 - 3*x1*x2 + 0.5"``; see :func:`polyopt.parsing.parse_polynomial`."""
        from .parsing import parse_polynomial

        return parse_polynomial(text, variables)

    @classmethod
    def from_sympy(
        cls, expr: Any, variables: Sequence[Variable] | Mapping[str, Variable] | None = None
    ) -> Polynomial:
        """Convert a sympy expression; see :func:`polyopt.parsing.from_sympy`."""
        from .parsing import from_sympy

        return from_sympy(expr, variables)

    def to_sympy(self) -> Any:
        """Return the polynomial as a sympy expression in symbols named like the variables."""
        import sympy

        symbols = [sympy.Symbol(v.name) for v in self._vars]
        expr = sympy.Integer(0)
        for row, c in zip(self.exponents, self._coeffs):
            coef = sympy.Integer(int(c)) if float(c).is_integer() else sympy.Float(c)
            term = coef
            for s, e in zip(symbols, row):
                if e:
                    term = term * s ** int(e)
            expr = expr + term
        return expr

    # ----------------------------------------------------------------- inspection
    @property
    def variables(self) -> tuple[Variable, ...]:
        """Variables that occur in the polynomial, in creation order."""
        return self._vars

    @property
    def exponents(self) -> np.ndarray:
        """Dense exponent array ``(terms, len(variables))`` (a new read-only array)."""
        out = exponents_from_codes(self._codes, len(self._vars))
        out.flags.writeable = False
        return out

    @property
    def codes(self) -> np.ndarray:
        """Term codes: sorted variable positions padded with ``len(variables)`` (read-only)."""
        view = self._codes.view()
        view.flags.writeable = False
        return view

    @property
    def coefficients(self) -> np.ndarray:
        """Coefficient array of shape ``(terms,)`` (read-only view)."""
        view = self._coeffs.view()
        view.flags.writeable = False
        return view

    @property
    def degree(self) -> int:
        """Total degree (0 for constants, including the zero polynomial)."""
        return int(self._codes.shape[1]) if self._codes.shape[0] else 0

    @property
    def nterms(self) -> int:
        """Number of nonzero terms."""
        return int(self._coeffs.shape[0])

    def term_degrees(self) -> np.ndarray:
        """Degree of each term."""
        return (self._codes != len(self._vars)).sum(axis=1)

    def support(self) -> list[dict[str, int]]:
        """Monomials with a nonzero coefficient, each as ``{variable name: exponent}``."""
        names = [v.name for v in self._vars]
        out = []
        for row in self._codes:
            d: dict[str, int] = {}
            for k in row[row != len(names)]:
                d[names[k]] = d.get(names[k], 0) + 1
            out.append(d)
        return out

    def terms(self) -> list[tuple[dict[str, int], float]]:
        """``(monomial, coefficient)`` pairs, the monomial as in :meth:`support`."""
        return list(zip(self.support(), (float(c) for c in self._coeffs)))

    def is_constant(self) -> bool:
        """True when no variable occurs."""
        return len(self._vars) == 0

    def constant_term(self) -> float:
        """The coefficient of the monomial 1."""
        return float(self._coeffs[self.term_degrees() == 0].sum())

    def has_nonfinite(self) -> bool:
        """True when a coefficient is NaN or infinite."""
        return not bool(np.all(np.isfinite(self._coeffs)))

    def _positions(self, variables: Sequence[Variable]) -> np.ndarray:
        pos = {v.id: k for k, v in enumerate(variables)}
        try:
            return np.array([pos[v.id] for v in self._vars], dtype=np.int64)
        except KeyError:
            missing = [v.name for v in self._vars if v.id not in pos]
            raise ValueError(f"unknown variable(s) {missing} for this variable list") from None

    def aligned(self, variables: Sequence[Variable]) -> np.ndarray:
        """Dense exponent array with columns for ``variables`` (which must contain ours)."""
        cols = self._positions(variables)
        out = np.zeros((self._codes.shape[0], len(variables)), dtype=np.int64)
        out[:, cols] = exponents_from_codes(self._codes, len(self._vars))
        return out

    def codes_in(self, variables: Sequence[Variable], width: int | None = None) -> np.ndarray:
        """Term codes over the positions of ``variables`` (sentinel ``len(variables)``),
        padded to ``width`` columns (default: the degree)."""
        cols = np.concatenate([self._positions(variables), [len(variables)]])
        codes = cols[self._codes]
        w = self.degree if width is None else width
        if w < codes.shape[1]:
            raise ValueError(f"degree {codes.shape[1]} exceeds the width {w}")
        return _pad(codes, w, len(variables))

    # ----------------------------------------------------------------- evaluation
    def evaluate(
        self,
        values: Any,
        variables: Sequence[Variable] | None = None,
    ) -> Any:
        """Evaluate at one point or a batch of points.

        Parameters
        ----------
        values
            A mapping ``{Variable or name: value}``, or an array of shape ``(n,)`` (one point)
            or ``(batch, n)`` whose columns follow ``variables``.
        variables
            Column order of ``values`` (default: :attr:`variables`). Must contain every
            variable of the polynomial.

        Returns
        -------
        float for one point, an array of shape ``(batch,)`` for a batch.
        """
        if isinstance(values, Mapping):
            by_id: dict[int, float] = {}
            by_name: dict[str, float] = {}
            for key, val in values.items():
                if isinstance(key, Variable):
                    by_id[key.id] = val
                else:
                    by_name[str(key)] = val
            row = []
            for v in self._vars:
                if v.id in by_id:
                    row.append(by_id[v.id])
                elif v.name in by_name:
                    row.append(by_name[v.name])
                else:
                    raise ValueError(f"no value given for variable {v.name!r}")
            return self.evaluate(np.asarray(row, dtype=float))
        arr = np.asarray(values, dtype=float)
        single = arr.ndim == 1
        if arr.ndim not in (1, 2):
            raise ValueError("values must have shape (n,) or (batch, n)")
        pts = arr.reshape(1, -1) if single else arr
        if variables is None:
            variables = self._vars
        codes = self.codes_in(variables)
        if pts.shape[1] != len(variables):
            raise ValueError(
                f"values have {pts.shape[1]} columns but there are {len(variables)} variables"
            )
        ext = np.concatenate([pts, np.ones((pts.shape[0], 1))], axis=1)
        out = np.zeros(pts.shape[0])
        for start in range(0, codes.shape[0], 4096):
            block = codes[start : start + 4096]
            mono = np.prod(ext[:, block], axis=2)
            out += mono @ self._coeffs[start : start + 4096]
        return float(out[0]) if single else out

    __call__ = evaluate

    # ----------------------------------------------------------------- arithmetic
    def _binary_align(
        self, other: Polynomial
    ) -> tuple[tuple[Variable, ...], np.ndarray, np.ndarray]:
        if len(self._vars) == len(other._vars) and all(
            a is b for a, b in zip(self._vars, other._vars)
        ):
            return self._vars, self._codes, other._codes
        merged = {v.id: v for v in self._vars}
        merged.update({v.id: v for v in other._vars})
        allvars = tuple(merged[k] for k in sorted(merged))
        return allvars, self.codes_in(allvars), other.codes_in(allvars)

    def __add__(self, other: Any) -> Polynomial:
        other = as_polynomial(other, strict=False)
        if other is None:
            return NotImplemented
        allvars, a, b = self._binary_align(other)
        w, n = max(a.shape[1], b.shape[1]), len(allvars)
        codes = np.vstack([_pad(a, w, n), _pad(b, w, n)])
        return Polynomial.from_codes(allvars, codes, np.concatenate([self._coeffs, other._coeffs]))

    __radd__ = __add__

    def __neg__(self) -> Polynomial:
        return Polynomial._raw(self._vars, self._codes, -self._coeffs)

    def __pos__(self) -> Polynomial:
        return self

    def __sub__(self, other: Any) -> Polynomial:
        other = as_polynomial(other, strict=False)
        if other is None:
            return NotImplemented
        return self + (-other)

    def __rsub__(self, other: Any) -> Polynomial:
        other = as_polynomial(other, strict=False)
        if other is None:
            return NotImplemented
        return other + (-self)

    def __mul__(self, other: Any) -> Polynomial:
        if isinstance(other, Real) and not isinstance(other, bool | np.bool_):
            return self._scale(float(other))
        other = as_polynomial(other, strict=False)
        if other is None:
            return NotImplemented
        allvars, a, b = self._binary_align(other)
        ta, tb = a.shape[0], b.shape[0]
        codes = np.concatenate([np.repeat(a, tb, axis=0), np.tile(b, (ta, 1))], axis=1)
        return Polynomial.from_codes(allvars, codes, np.outer(self._coeffs, other._coeffs).ravel())

    __rmul__ = __mul__

    def _scale(self, factor: float) -> Polynomial:
        if factor == 0:
            return Polynomial.constant(0.0)
        return Polynomial._raw(self._vars, self._codes, self._coeffs * factor)

    def __truediv__(self, other: Any) -> Polynomial:
        if isinstance(other, Polynomial):
            if not other.is_constant():
                raise TypeError("division by a non-constant polynomial is not a polynomial")
            other = other.constant_term()
        if not isinstance(other, Real):
            return NotImplemented
        if other == 0:
            raise ZeroDivisionError("polynomial division by zero")
        return self._scale(1.0 / float(other))

    def __pow__(self, power: Any) -> Polynomial:
        if isinstance(power, np.integer):
            power = int(power)
        if isinstance(power, float) and power.is_integer():
            power = int(power)
        if not isinstance(power, int) or isinstance(power, bool) or power < 0:
            raise TypeError(
                f"polynomials can only be raised to nonnegative integers, not {power!r}"
            )
        result = Polynomial.constant(1.0)
        base = self
        while power:
            if power & 1:
                result = result * base
            power >>= 1
            if power:
                base = base * base
        return result

    # ----------------------------------------------------------------- constraints
    def __ge__(self, other: Any) -> Constraint:
        from .model import Constraint

        return Constraint(self - _checked(other), "ineq")

    def __le__(self, other: Any) -> Constraint:
        from .model import Constraint

        return Constraint(_checked(other) - self, "ineq")

    def __eq__(self, other: Any) -> Constraint:  # type: ignore[override]
        from .model import Constraint

        return Constraint(self - _checked(other), "eq")

    def __gt__(self, other: Any) -> Constraint:
        raise TypeError("strict inequalities are not supported: use >= or <=")

    __lt__ = __gt__

    def __ne__(self, other: Any) -> bool:  # type: ignore[override]
        raise TypeError("'!=' is not a polynomial constraint")

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        raise TypeError(
            "the truth value of a polynomial is ambiguous (comparisons build constraints); "
            "use p.equals(q) to compare polynomials"
        )

    def equals(self, other: Any, tol: float = 0.0) -> bool:
        """True when ``self - other`` has no coefficient larger than ``tol`` in magnitude."""
        diff = self - as_polynomial(other)
        return bool(diff.nterms == 0 or np.max(np.abs(diff._coeffs)) <= tol)

    def substitute_scaling(self, factors: Mapping[int, float]) -> Polynomial:
        """Polynomial in ``x_i -> factors[id] * x_i`` (ids not given keep factor 1)."""
        f = np.array([factors.get(v.id, 1.0) for v in self._vars] + [1.0], dtype=float)
        scale = np.prod(f[self._codes], axis=1)
        return Polynomial.from_codes(self._vars, self._codes, self._coeffs * scale)

    # ----------------------------------------------------------------- display
    def __repr__(self) -> str:
        return f"Polynomial({self})"

    def __str__(self) -> str:
        return self._format()

    def _format(self, exact: bool = False) -> str:
        """Text form; ``exact=True`` writes coefficients with round-trip (repr) precision."""
        if self.nterms == 0:
            return "0"
        parts = []
        exps = self.exponents
        order = np.lexsort(np.vstack([exps.T[::-1], -exps.sum(axis=1)]))
        for k in order:
            row, c = exps[k], self._coeffs[k]
            mono = "*".join(
                v.name if e == 1 else f"{v.name}^{e}" for v, e in zip(self._vars, row) if e
            )
            mag = abs(c)
            sign = "-" if c < 0 else "+"
            cstr = _exact_float(mag) if exact else f"{mag:.12g}"
            if mono:
                text = mono if mag == 1 else f"{cstr}*{mono}"
            else:
                text = cstr
            parts.append((sign, text))
        first_sign, first = parts[0]
        out = ("-" if first_sign == "-" else "") + first
        for sign, text in parts[1:]:
            out += f" {sign} {text}"
        return out


def _exact_float(value: float) -> str:
    """Shortest text that parses back to exactly ``value`` (``2.0`` written as ``2``)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


class Variable(Polynomial):
    """A named scalar decision variable (also the polynomial ``1 * name``)."""

    __slots__ = ("name", "id")

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("a variable needs a nonempty string name")
        self.name = name
        self.id = next(_ids)
        self._vars = (self,)
        self._codes = np.zeros((1, 1), dtype=np.int64)
        self._coeffs = np.ones(1)

    def __repr__(self) -> str:
        return f"Variable({self.name!r})"

    def __str__(self) -> str:
        return self.name

    def __reduce__(self):  # pickling keeps names but makes new identities
        return (Variable, (self.name,))


def _checked(other: Any) -> Polynomial:
    poly = as_polynomial(other, strict=False)
    if poly is None:
        raise TypeError(f"cannot compare a polynomial with {type(other).__name__}")
    return poly


def as_polynomial(obj: Any, strict: bool = True) -> Polynomial | None:
    """Coerce numbers and 0-d arrays to polynomials; ``None`` (or an error) otherwise."""
    if isinstance(obj, Polynomial):
        return obj
    if isinstance(obj, np.ndarray) and obj.ndim == 0:
        obj = obj.item()
        if isinstance(obj, Polynomial):
            return obj
    if isinstance(obj, Real) and not isinstance(obj, bool | np.bool_):
        return Polynomial.constant(float(obj))
    if strict:
        raise TypeError(f"cannot interpret {type(obj).__name__} as a polynomial")
    return None


class PolyArray(np.ndarray):
    """A numpy object array of polynomials whose comparisons build arrays of constraints.

    ``x >= -1`` on a plain object array fails (numpy wants booleans); on a ``PolyArray`` it
    returns an object array of :class:`~polyopt.model.Constraint`, which ``Problem`` flattens.
    Arithmetic results stay ``PolyArray``.
    """

    def __array_wrap__(self, array: Any, context: Any = None, return_scalar: bool = False) -> Any:
        if array.ndim == 0:  # reductions such as sum() give the polynomial itself
            return array[()]
        return np.ndarray.__array_wrap__(self, array, context, return_scalar)

    def _compare(self, other: Any, op: Any) -> np.ndarray:
        func = np.frompyfunc(op, 2, 1)
        return np.asarray(func(self.view(np.ndarray), other), dtype=object)

    def __ge__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        return self._compare(other, lambda a, b: as_polynomial(a) >= b)

    def __le__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        return self._compare(other, lambda a, b: as_polynomial(a) <= b)

    def __eq__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        return self._compare(other, lambda a, b: as_polynomial(a) == b)

    __hash__ = None  # type: ignore[assignment]


def variables(name: str, n: int | None = None, start: int = 1) -> Any:
    """Create decision variables.

    ``variables("x")`` returns one :class:`Variable` named ``x``; ``variables("x", 3)`` returns a
    numpy object array (a :class:`PolyArray`) of variables named ``x1, x2, x3`` (names start
    at ``start``), which supports elementwise arithmetic such as ``(x**2).sum()`` and
    elementwise constraints such as ``x >= -1``.
    """
    if n is None:
        return Variable(name)
    if not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"the number of variables must be a positive integer, got {n!r}")
    out = np.empty(int(n), dtype=object)
    for k in range(int(n)):
        out[k] = Variable(f"{name}{k + start}")
    return out.view(PolyArray)


def polysum(items: Iterable[Any]) -> Polynomial:
    """Sum of many polynomials (and numbers) in one pass.

    ``sum(...)`` or repeated ``+`` merge the terms once per addition (quadratic in the number
    of summands); ``polysum`` concatenates every term and merges them once.
    """
    polys = [as_polynomial(p) for p in np.ravel(np.asarray(list(items), dtype=object))]
    if not polys:
        return Polynomial.constant(0.0)
    merged: dict[int, Variable] = {}
    for p in polys:
        for v in p._vars:
            merged[v.id] = v
    allvars = tuple(merged[k] for k in sorted(merged))
    width = max(p.degree for p in polys)
    pos = {v.id: k for k, v in enumerate(allvars)}
    n = len(allvars)
    blocks = []
    for p in polys:
        cols = np.array([pos[v.id] for v in p._vars] + [n], dtype=np.int64)
        blocks.append(_pad(cols[p._codes], width, n))
    codes = np.vstack(blocks)
    coeffs = np.concatenate([p._coeffs for p in polys])
    return Polynomial.from_codes(allvars, codes, coeffs)
