"""Local minimization of a problem from a start point, for feasible points and their values.

A feasible point's objective value is a bound on the optimum from the other side (an upper
bound for ``minimize``), so a relaxation's bound that a feasible point attains is the global
optimum. The start point usually comes from a relaxation's first-order moments, which are
the average of the minimizers when there are several; a local descent from there lands on
one of them. Polynomials are evaluated with their gradients from the term codes (the
variable positions of each term, with multiplicity), so the cost grows with the number of
terms, not with the number of variables squared.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from .algebra import Polynomial
from .model import Problem

FEAS_TOL = 1e-7
"""Constraint violation allowed at a feasible point, relative to the largest coefficient."""
SLSQP_MAX_VARS = 300
"""Constrained problems are polished with SLSQP (dense) up to this many variables."""
MAX_ITERS = 2000
RESTARTS = 3
PERTURBATION = 1e-2
"""Random restarts around the start point, and their size relative to ``1 + |x|``."""


class CompiledPolynomial:
    """A polynomial's value and gradient over a fixed variable order."""

    def __init__(self, poly: Polynomial, variables) -> None:
        self.n = len(variables)
        self.codes = poly.codes_in(variables)
        self.coefficients = np.asarray(poly.coefficients, dtype=float)
        self.scale = max(1.0, float(np.max(np.abs(self.coefficients), initial=0.0)))

    def value(self, x: np.ndarray) -> float:
        xx = np.append(np.asarray(x, dtype=float), 1.0)
        return float(self.coefficients @ np.prod(xx[self.codes], axis=1))

    def value_and_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        xx = np.append(np.asarray(x, dtype=float), 1.0)
        F = xx[self.codes]  # (terms, slots)
        ones = np.ones((F.shape[0], 1))
        before = np.cumprod(np.hstack([ones, F[:, :-1]]), axis=1)
        after = np.cumprod(np.hstack([ones, F[:, :0:-1]]), axis=1)[:, ::-1]
        value = float(self.coefficients @ np.prod(F, axis=1))
        weights = self.coefficients[:, None] * before * after  # d term / d slot
        grad = np.bincount(self.codes.ravel(), weights.ravel(), minlength=self.n + 1)
        return value, grad[: self.n]


@dataclass
class LocalPoint:
    """A point, its objective value (in the problem's sense) and its feasibility."""

    x: np.ndarray
    value: float
    violation: float
    feasible: bool
    method: str


class LocalProblem:
    """The problem's objective (as a minimization) and constraints, compiled."""

    def __init__(self, problem: Problem) -> None:
        vars_ = problem.variables
        self.sign = 1.0 if problem.sense == "min" else -1.0
        self.objective = CompiledPolynomial(problem.min_objective(), vars_)
        self.ineq = [CompiledPolynomial(p, vars_) for p in problem.inequalities]
        self.eq = [CompiledPolynomial(p, vars_) for p in problem.equalities]

    @property
    def method(self) -> str:
        """The scipy method :meth:`descend` uses."""
        return "SLSQP" if self.ineq or self.eq else "L-BFGS-B"

    def violation(self, x: np.ndarray) -> float:
        """Largest constraint violation, each relative to its largest coefficient."""
        worst = 0.0
        for g in self.ineq:
            worst = max(worst, -g.value(x) / g.scale)
        for h in self.eq:
            worst = max(worst, abs(h.value(x)) / h.scale)
        return worst

    def point(self, x: np.ndarray, method: str) -> LocalPoint:
        viol = self.violation(x)
        value = self.sign * self.objective.value(x)
        return LocalPoint(np.array(x, dtype=float), value, viol, viol <= FEAS_TOL, method)

    def _stack(self, polys: list[CompiledPolynomial]):
        def fun(x):
            return np.array([p.value(x) / p.scale for p in polys])

        def jac(x):
            return np.array([p.value_and_gradient(x)[1] / p.scale for p in polys])

        return fun, jac

    def descend(self, x0: np.ndarray) -> np.ndarray | None:
        """A local minimizer from ``x0`` (L-BFGS-B without constraints, SLSQP with them);
        None when the problem is too large for the constrained method."""
        x0 = np.asarray(x0, dtype=float)
        opts = {"maxiter": MAX_ITERS}
        if self.method == "L-BFGS-B":
            res = minimize(
                self.objective.value_and_gradient,
                x0,
                jac=True,
                method="L-BFGS-B",
                options=opts | {"ftol": 1e-15, "gtol": 1e-12},
            )
            return res.x
        if x0.size > SLSQP_MAX_VARS:
            return None
        cons = []
        if self.ineq:
            fun, jac = self._stack(self.ineq)
            cons.append({"type": "ineq", "fun": fun, "jac": jac})
        if self.eq:
            fun, jac = self._stack(self.eq)
            cons.append({"type": "eq", "fun": fun, "jac": jac})
        res = minimize(
            self.objective.value_and_gradient,
            x0,
            jac=True,
            method="SLSQP",
            constraints=cons,
            options=opts | {"ftol": 1e-14},
        )
        return res.x if np.all(np.isfinite(res.x)) else None


def local_minimum(
    problem: Problem, x0: np.ndarray, restarts: int = RESTARTS, seed: int = 0
) -> LocalPoint:
    """The best of ``x0`` and the local minimizers descents reach from it and from
    ``restarts`` random perturbations of it (relative size :data:`PERTURBATION`).

    The perturbations matter: the first-order moments of a relaxation with several global
    minimizers are their average, often a symmetric saddle point where a descent stays.
    Best means feasible (violation at most :data:`FEAS_TOL`) before infeasible, then a
    smaller objective (a larger one for ``maximize``); ``value`` is in the problem's sense.
    """
    lp = LocalProblem(problem)
    x0 = np.asarray(x0, dtype=float)
    best = lp.point(x0, "start point")
    rng = np.random.default_rng(seed)
    starts = [x0] + [
        x0 + PERTURBATION * (1.0 + np.abs(x0)) * rng.standard_normal(x0.size)
        for _ in range(restarts)
    ]
    for start in starts:
        try:
            x = lp.descend(start)
        except (ValueError, FloatingPointError, OverflowError, np.linalg.LinAlgError):
            x = None
        if x is None:
            continue
        found = lp.point(x, lp.method)
        if found.feasible and (not best.feasible or lp.sign * found.value < lp.sign * best.value):
            best = found
    return best
