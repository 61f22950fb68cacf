"""Polynomial optimization problems: objective, sense, constraints, JSON form."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .algebra import Polynomial, Variable, as_polynomial
from .parsing import RESERVED_NAMES

if TYPE_CHECKING:
    from .result import Result

_CMP = re.compile(r"(>=|<=|==|=>|=<|(?<![<>=!])=(?!=)|>|<)")


class Constraint:
    """A normalized constraint: ``poly >= 0`` (``kind="ineq"``) or ``poly == 0`` (``"eq"``)."""

    __slots__ = ("poly", "kind")

    def __init__(self, poly: Polynomial, kind: str) -> None:
        if kind not in ("ineq", "eq"):
            raise ValueError(f"constraint kind must be 'ineq' or 'eq', got {kind!r}")
        self.poly = as_polynomial(poly)
        self.kind = kind

    def __bool__(self) -> bool:
        raise TypeError(
            "a constraint has no truth value; pass it to Problem(constraints=[...]) "
            "(use p.equals(q) to compare polynomials)"
        )

    def __repr__(self) -> str:
        op = ">=" if self.kind == "ineq" else "=="
        return f"Constraint({self.poly} {op} 0)"

    __str__ = __repr__

    def to_string(self, exact: bool = False) -> str:
        """The constraint as ``"<poly> >= 0"`` or ``"<poly> == 0"`` (``exact``: full precision)."""
        return f"{self.poly._format(exact)} {'>=' if self.kind == 'ineq' else '=='} 0"


def _flatten_constraints(items: Any) -> list[Constraint]:
    out: list[Constraint] = []
    if items is None:
        return out
    if isinstance(items, Constraint):
        return [items]
    if isinstance(items, np.ndarray):
        items = items.ravel().tolist()
    for item in items:
        if isinstance(item, Constraint):
            out.append(item)
        elif isinstance(item, np.ndarray | list | tuple):
            out.extend(_flatten_constraints(item))
        elif isinstance(item, bool | np.bool_):
            raise TypeError(
                "a constraint evaluated to a bool: compare a polynomial, not two numbers"
            )
        else:
            raise TypeError(
                f"constraints must be built with >=, <= or == on polynomials, got {item!r}"
            )
    return out


class Problem:
    """A polynomial optimization problem ``min f(x)`` (or ``max``) s.t. ``g_i >= 0``, ``h_j == 0``.

    Parameters
    ----------
    minimize, maximize
        The objective (exactly one of them): a :class:`Polynomial`, a number or a string.
    constraints
        Constraints built with ``>=``, ``<=`` or ``==`` (arrays of them are flattened), or
        strings such as ``"x1^2 + x2^2 <= 1"``.
    variables
        Optional variable order; by default every variable that occurs, in creation order.
        Variables listed here but absent from every polynomial are kept (they are free).
    """

    def __init__(
        self,
        minimize: Any = None,
        maximize: Any = None,
        constraints: Iterable[Any] | None = None,
        variables: Sequence[Variable] | None = None,
    ) -> None:
        if (minimize is None) == (maximize is None):
            raise ValueError("give exactly one of minimize= or maximize=")
        self.sense = "min" if maximize is None else "max"
        declared = None
        if variables is not None:
            declared = [v for v in np.ravel(np.asarray(variables, dtype=object))]
            for v in declared:
                if not isinstance(v, Variable):
                    raise TypeError(f"variables must be Variable objects, got {v!r}")
        raw = minimize if maximize is None else maximize
        if isinstance(constraints, Constraint | str):
            items = [constraints]
        else:
            items = list(constraints) if constraints is not None else []
        table = _name_table(declared, [raw] + items)
        if isinstance(raw, str):
            raw = Polynomial.parse(raw, table)
        objective = as_polynomial(raw, strict=False)
        if objective is None:
            hint = ""
            if type(raw).__module__.split(".")[0] == "sympy":
                hint = (
                    " (a sympy expression: convert it with po.from_sympy(expr), or give the "
                    "objective as a string)"
                )
            raise TypeError(f"the objective must be a polynomial, got {type(raw).__name__}{hint}")
        cons: list[Constraint] = []
        for item in items:
            if isinstance(item, str):
                cons.append(parse_constraint(item, table))
            else:
                cons.extend(_flatten_constraints([item]))
        self.objective: Polynomial = objective
        self.constraints: list[Constraint] = cons
        self.variables: tuple[Variable, ...] = self._collect_variables(declared)
        self._validate()

    # ----------------------------------------------------------------- structure
    def _collect_variables(self, declared: list[Variable] | None) -> tuple[Variable, ...]:
        found: dict[int, Variable] = {}
        for p in [self.objective] + [c.poly for c in self.constraints]:
            for v in p.variables:
                found[v.id] = v
        by_name: dict[str, Variable] = {}
        for v in list(found.values()) + list(declared or []):
            other = by_name.setdefault(v.name, v)
            if other is not v:
                raise ValueError(
                    f"two different variables are both named {v.name!r} (e.g. po.variables or "
                    "po.from_sympy called twice): they would be distinct unknowns with one "
                    "name; create each variable once and reuse it, or give distinct names"
                )
        if declared is None:
            return tuple(found[k] for k in sorted(found))
        ids = {v.id for v in declared}
        missing = [v.name for k, v in found.items() if k not in ids]
        if missing:
            raise ValueError(f"unknown variable(s) {missing}: not in the declared variables")
        if len(ids) != len(declared):
            raise ValueError("a variable is declared twice")
        return tuple(declared)

    def _validate(self) -> None:
        if not self.variables:
            raise ValueError("the problem has no variables")
        if self.objective.has_nonfinite():
            raise ValueError("the objective has a NaN or infinite coefficient")
        for k, c in enumerate(self.constraints):
            if c.poly.has_nonfinite():
                raise ValueError(f"constraint {k} has a NaN or infinite coefficient: {c}")
        if self.objective.degree == 0:
            raise ValueError("the objective is constant (degree 0): there is nothing to optimize")

    @property
    def nvars(self) -> int:
        """Number of variables."""
        return len(self.variables)

    @property
    def inequalities(self) -> list[Polynomial]:
        """The polynomials ``g`` of the constraints ``g >= 0``."""
        return [c.poly for c in self.constraints if c.kind == "ineq"]

    @property
    def equalities(self) -> list[Polynomial]:
        """The polynomials ``h`` of the constraints ``h == 0``."""
        return [c.poly for c in self.constraints if c.kind == "eq"]

    @property
    def degree(self) -> int:
        """Largest degree among the objective and the constraints."""
        return max([self.objective.degree] + [c.poly.degree for c in self.constraints])

    def min_objective(self) -> Polynomial:
        """The objective as a minimization (negated for ``maximize``)."""
        return self.objective if self.sense == "min" else -self.objective

    def variable_bounds(self) -> np.ndarray:
        """Per-variable magnitude bounds implied by the constraints (``inf`` when unknown).

        See :meth:`variable_box`. Used to scale the relaxation and to make bounds from inexact
        solves sound.
        """
        lo, hi = self.variable_box()
        return np.maximum(np.abs(lo), np.abs(hi))

    def variable_box(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds per variable implied by the constraints (``-inf`` / ``inf``
        when unknown), valid in exact arithmetic.

        Recognized: linear constraints of any size (propagated through each other, so
        ``x >= 0`` with ``x1 + x2 + x3 <= 4`` bounds every ``x_i``), separable quadratics
        ``sum_i (a_i x_i^2 + b_i x_i) + c >= 0`` (``(x - l)(u - x) >= 0``, balls and
        ellipsoids, with or without centers) and univariate equalities (``x`` in a finite
        set). See :mod:`polyopt.implied_bounds`.
        """
        from .implied_bounds import implied_box

        return implied_box(self)

    # ----------------------------------------------------------------- solving
    def solve(
        self,
        order: int | None = None,
        *,
        solver: str | None = None,
        form: str = "auto",
        sparsity: str | None = None,
        tol: float | None = None,
        max_iters: int | None = None,
        time_limit: float | None = None,
        verbose: bool = False,
        scale: bool = True,
        solver_options: dict[str, Any] | None = None,
        method: str = "sdp",
        degree: int | None = None,
        settle: bool = True,
        **sparsity_options: Any,
    ) -> Result:
        """Solve the relaxation of order ``order`` (default: the smallest valid one).

        ``solver``: ``"clarabel"``, ``"scs"``, ``"sdpa"``, ``"arrow"``, ``"lowrank"``,
        ``"highs"``, ``"mosek"`` or ``"cvxpy:NAME"`` (default by size); ``form``:
        ``"moment"``, ``"gram"`` or ``"auto"``; ``sparsity``: None (dense),
        ``"correlative"``, ``"nearly"`` (HR-d), ``"term"`` (TSSOS), ``"correlative+term"``
        (CS-TSSOS) or ``"auto"``, with ``sparsity_options`` ``cliques``, ``bad``,
        ``chordal``, ``ball_radii``, ``eliminate``, ``ts_step``, ``ts_chordal``; ``tol``,
        ``max_iters``, ``time_limit`` (seconds), ``verbose``, ``scale`` (variables scaled by
        their implied bounds), ``solver_options`` (passed to the solver); ``method="lp"``
        with ``degree``: the Krivine-Stengle LP hierarchy; ``settle``: a dense request on a
        problem with smaller correlative cliques returns the correlative bound when a feasible
        point attains it (:mod:`polyopt.settle`). The full reference is
        :func:`polyopt.solve`.
        """
        from .solve import solve

        return solve(
            self,
            order=order,
            solver=solver,
            form=form,
            sparsity=sparsity,
            tol=tol,
            max_iters=max_iters,
            time_limit=time_limit,
            verbose=verbose,
            scale=scale,
            solver_options=solver_options,
            method=method,
            degree=degree,
            settle=settle,
            **sparsity_options,
        )

    # ----------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form ``{"variables", "minimize"|"maximize", "constraints"}``."""
        names = [v.name for v in self.variables]
        if len(set(names)) != len(names):
            raise ValueError("variable names must be unique to write JSON")
        return {
            "variables": names,
            ("minimize" if self.sense == "min" else "maximize"): self.objective._format(exact=True),
            "constraints": [c.to_string(exact=True) for c in self.constraints],
        }

    def to_json(self, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> str:
        """Serialize to JSON text (and write it to ``path`` when given)."""
        text = json.dumps(self.to_dict(), **({"indent": 2} | kwargs))
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Problem:
        """Build from the dictionary form (unknown keys such as ``source`` are ignored)."""
        if not isinstance(data, dict):
            raise ValueError("a problem must be a JSON object")
        names = data.get("variables")
        if not isinstance(names, list) or not names or not all(isinstance(s, str) for s in names):
            raise ValueError('"variables" must be a nonempty list of names')
        if len(set(names)) != len(names):
            raise ValueError('"variables" lists a name twice')
        for name in names:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"invalid variable name {name!r}")
            if name in RESERVED_NAMES:
                raise ValueError(f"{name!r} is reserved for a function; rename the variable")
        vars_ = [Variable(n) for n in names]
        table = {v.name: v for v in vars_}
        has_min, has_max = "minimize" in data, "maximize" in data
        if has_min == has_max:
            raise ValueError('give exactly one of "minimize" or "maximize"')
        text = data["minimize"] if has_min else data["maximize"]
        if isinstance(text, int | float):
            text = str(text)
        if not isinstance(text, str):
            raise ValueError("the objective must be an expression string")
        objective = Polynomial.parse(text, table)
        raw_cons = data.get("constraints", [])
        if not isinstance(raw_cons, list):
            raise ValueError('"constraints" must be a list of strings')
        cons = [parse_constraint(s, table) for s in raw_cons]
        kwargs = {"minimize": objective} if has_min else {"maximize": objective}
        return cls(**kwargs, constraints=cons, variables=vars_)

    @classmethod
    def from_json(cls, source: str | os.PathLike[str]) -> Problem:
        """Read a problem from a JSON file path or JSON text."""
        text = str(source)
        if isinstance(source, os.PathLike) or not text.lstrip().startswith(("{", "[")):
            if not os.path.isfile(text):
                raise FileNotFoundError(
                    f"{text[:60]!r} is neither an existing file nor JSON object text"
                )
            with open(source, encoding="utf-8") as fh:
                text = fh.read()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"malformed problem JSON: {exc}") from None
        return cls.from_dict(data)

    def __repr__(self) -> str:
        head = f"{'minimize' if self.sense == 'min' else 'maximize'} {self.objective}"
        cons = "".join(f"\n  s.t. {c.to_string()}" for c in self.constraints)
        return f"Problem({self.nvars} variables: {head}{cons})"


def _name_table(declared: list[Variable] | None, items: list[Any]) -> dict[str, Variable]:
    """Names for string inputs: declared variables, else those of the polynomial inputs,
    plus a new variable for every other name that occurs in a string."""
    if declared is not None:
        return {v.name: v for v in declared}
    table: dict[str, Variable] = {}
    texts = []
    for item in items:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, Polynomial):
            table.update({v.name: v for v in item.variables})
        elif isinstance(item, Constraint):
            table.update({v.name: v for v in item.poly.variables})
    from .parsing import identifiers

    for name in sorted({i for t in texts for i in identifiers(t)} - set(table)):
        table[name] = Variable(name)
    return table


def parse_constraint(text: str, variables: Any = None) -> Constraint:
    """Parse ``"lhs >= rhs"``, ``"lhs <= rhs"`` or ``"lhs == rhs"`` into a :class:`Constraint`."""
    if not isinstance(text, str):
        raise ValueError(f"a constraint must be a string, got {text!r}")
    parts = _CMP.split(text)
    if len(parts) != 3:
        raise ValueError(f"constraint {text!r} must contain exactly one of '>=', '<=', '=='")
    lhs, op, rhs = parts
    if op in (">", "<"):
        raise ValueError(f"strict inequality in {text!r}: use '>=' or '<='")
    left = Polynomial.parse(lhs, variables)
    right = Polynomial.parse(rhs, variables)
    if op in (">=", "=>"):
        return left >= right
    if op in ("<=", "=<"):
        return left <= right
    return left == right
