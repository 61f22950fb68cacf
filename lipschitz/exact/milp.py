"""A small sparse (mixed-integer) linear model, solved with HiGHS (or SCIP when installed).

Rows are two-sided, ``lo <= A x <= hi``; every variable has finite bounds. The model's numbers
are read as exact reals. For LPs, :func:`lp_dual_bound` turns any row multipliers into a bound
valid in exact arithmetic (its rounding margin is proportional to the magnitudes of the summed
terms), so a relaxation's value never depends on the solver's tolerances;
:class:`LPRelaxation` re-solves one model under changed variable bounds (the nodes of a
branch-and-bound) and returns such a bound with every solve.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

MIP_SOLVERS = ("highs", "scip")

UNIT_ROUNDOFF = 2.0**-53
"""Unit roundoff of IEEE double precision (round to nearest)."""

TINY = 2.0**-1074
"""The smallest positive subnormal double: the absolute error of a product that underflows."""


def gamma(n: int) -> float:
    """A float ``>= n u / (1 - n u)``: the relative error bound of a sum or dot product of
    ``n`` terms in floating point, in any order (Higham, *Accuracy and Stability of Numerical
    Algorithms*, section 3.1), for ``n u < 0.01``."""
    if n * UNIT_ROUNDOFF >= 0.01:
        raise ValueError(f"{n} terms: too many for the rounding-error bound")
    return 1.02 * n * UNIT_ROUNDOFF


def up(x: Any) -> Any:
    """The next float above ``x`` (a rigorous upper bound of a value rounded to nearest)."""
    return np.nextafter(x, np.inf)


def down(x: Any) -> Any:
    """The next float below ``x``."""
    return np.nextafter(x, -np.inf)


@dataclass
class LinearModel:
    """``max c . x`` subject to ``lo <= A x <= hi``, ``lb <= x <= ub``, some ``x`` integer."""

    lb: list[float] = field(default_factory=list)
    ub: list[float] = field(default_factory=list)
    integer: list[bool] = field(default_factory=list)
    cost: dict[int, float] = field(default_factory=dict)
    _rows: list[int] = field(default_factory=list)
    _cols: list[int] = field(default_factory=list)
    _vals: list[float] = field(default_factory=list)
    row_lo: list[float] = field(default_factory=list)
    row_hi: list[float] = field(default_factory=list)

    @property
    def nvars(self) -> int:
        return len(self.lb)

    @property
    def nrows(self) -> int:
        return len(self.row_lo)

    def var(self, lo: float, hi: float, integer: bool = False) -> int:
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
            raise ValueError(f"variable bounds must be finite with lo <= hi, got [{lo}, {hi}]")
        self.lb.append(float(lo))
        self.ub.append(float(hi))
        self.integer.append(integer)
        return len(self.lb) - 1

    def binary(self) -> int:
        return self.var(0.0, 1.0, integer=True)

    def row(self, idx: Any, vals: Any, lo: float = -np.inf, hi: float = np.inf) -> None:
        """Add ``lo <= sum vals[k] x[idx[k]] <= hi``."""
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        vals = np.asarray(vals, dtype=float).reshape(-1)
        keep = vals != 0.0
        r = self.nrows
        self._rows.extend([r] * int(keep.sum()))
        self._cols.extend(idx[keep].tolist())
        self._vals.extend(vals[keep].tolist())
        self.row_lo.append(float(lo))
        self.row_hi.append(float(hi))

    def maximize(self, idx: Any, vals: Any) -> None:
        for i, v in zip(np.atleast_1d(idx), np.atleast_1d(vals)):
            self.cost[int(i)] = self.cost.get(int(i), 0.0) + float(v)

    def with_cost(self, idx: Any, vals: Any) -> LinearModel:
        """The same constraints with the objective ``max vals . x[idx]`` (shares storage)."""
        copy = LinearModel(
            self.lb,
            self.ub,
            self.integer,
            {},
            self._rows,
            self._cols,
            self._vals,
            self.row_lo,
            self.row_hi,
        )
        copy.maximize(idx, vals)
        return copy

    def copy(self) -> LinearModel:
        """An independent copy (rows added to it leave this model unchanged)."""
        return LinearModel(
            list(self.lb),
            list(self.ub),
            list(self.integer),
            dict(self.cost),
            list(self._rows),
            list(self._cols),
            list(self._vals),
            list(self.row_lo),
            list(self.row_hi),
        )

    def matrix(self) -> sp.csr_matrix:
        return sp.csr_matrix((self._vals, (self._rows, self._cols)), shape=(self.nrows, self.nvars))

    def cost_vector(self) -> np.ndarray:
        c = np.zeros(self.nvars)
        for i, v in self.cost.items():
            c[i] = v
        return c


@dataclass
class MILPOutcome:
    """What a (MI)LP solve returned: ``status`` is ``"optimal"``, ``"time_limit"``,
    ``"infeasible"``, ``"unbounded"`` or ``"solver_error"`` (the solver reported a model
    error, numerical trouble or an unknown status; ``message`` has its words). ``bound`` is
    the solver's floating-point dual bound, not a proof."""

    status: str
    x: np.ndarray | None
    objective: float
    bound: float
    seconds: float
    solver: str
    nodes: int = 0
    message: str = ""


def scip_available() -> bool:
    return importlib.util.find_spec("pyscipopt") is not None


def solve_milp(
    model: LinearModel,
    solver: str = "highs",
    time_limit: float | None = None,
    rel_gap: float = 1e-9,
    relax: bool = False,
    verbose: bool = False,
) -> MILPOutcome:
    """Maximize the model; ``relax=True`` drops integrality (the LP relaxation)."""
    if solver not in MIP_SOLVERS:
        raise ValueError(f"unknown MIP solver {solver!r}; choose one of {MIP_SOLVERS}")
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be > 0 seconds, got {time_limit!r}")
    if not 0 <= rel_gap < 1:
        raise ValueError(f"rel_gap must be in [0, 1), got {rel_gap!r}")
    if solver == "scip":
        if not scip_available():
            raise ValueError("solver='scip' needs pyscipopt (pip install pyscipopt)")
        return _solve_scip(model, time_limit, rel_gap, relax, verbose)
    return _solve_highs(model, time_limit, rel_gap, relax, verbose)


_HIGHS_STATUS = {
    "kOptimal": "optimal",
    "kTimeLimit": "time_limit",
    "kIterationLimit": "time_limit",
    "kInterrupt": "time_limit",
    "kHighsInterrupt": "time_limit",
    "kSolutionLimit": "time_limit",
    "kInfeasible": "infeasible",
    "kUnbounded": "unbounded",
    "kUnboundedOrInfeasible": "unbounded",
}
"""HiGHS model statuses; any other (model, presolve, solve or postsolve error, unknown, ...)
is ``"solver_error"``."""
_BANNER_SHOWN = False


def new_highs():
    """A silent ``highspy.Highs`` (its one-time banner goes to the C-level stdout, so that is
    redirected while the first instance is made)."""
    global _BANNER_SHOWN
    import highspy

    if _BANNER_SHOWN:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _BANNER_SHOWN = True
    h.setOptionValue("output_flag", False)
    return h


def _highs_lp(model: LinearModel, relax: bool):
    """The model as a ``highspy.HighsLp`` (maximization)."""
    import highspy

    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_ = model.nvars
    lp.num_row_ = model.nrows
    lp.col_cost_ = model.cost_vector()
    lp.col_lower_ = np.asarray(model.lb, dtype=float)
    lp.col_upper_ = np.asarray(model.ub, dtype=float)
    lp.row_lower_ = np.where(np.isfinite(model.row_lo), model.row_lo, -inf)
    lp.row_upper_ = np.where(np.isfinite(model.row_hi), model.row_hi, inf)
    A = model.matrix().tocsc()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr
    lp.a_matrix_.index_ = A.indices
    lp.a_matrix_.value_ = A.data
    lp.a_matrix_.num_col_ = model.nvars
    lp.a_matrix_.num_row_ = model.nrows
    lp.sense_ = highspy.ObjSense.kMaximize
    if not relax and any(model.integer):
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if b else highspy.HighsVarType.kContinuous
            for b in model.integer
        ]
    return lp


def _solve_highs(model, time_limit, rel_gap, relax, verbose) -> MILPOutcome:
    """One HiGHS solve; a solver error is retried once without presolve (which may drop
    tiny coefficients) within what is left of the time limit."""
    import highspy

    t0 = time.perf_counter()
    lp = _highs_lp(model, relax)
    integer = not relax and any(model.integer)
    for presolve in ("choose", "off"):
        h = new_highs()
        if verbose:
            h.setOptionValue("output_flag", True)
        h.setOptionValue("mip_rel_gap", float(rel_gap))
        h.setOptionValue("mip_abs_gap", 0.0)  # relative gaps only: the scale is the caller's
        h.setOptionValue("presolve", presolve)
        if time_limit is not None:
            left = time_limit - (time.perf_counter() - t0)
            h.setOptionValue("time_limit", float(max(left, 1e-3)))
        h.passModel(lp)
        h.run()
        ms = h.getModelStatus()
        status = _HIGHS_STATUS.get(ms.name, "solver_error")
        if status != "solver_error":
            break
    seconds = time.perf_counter() - t0
    info = h.getInfo()
    x = None
    obj = -np.inf
    if info.primal_solution_status == highspy.kSolutionStatusFeasible:
        x = np.asarray(h.getSolution().col_value)
        obj = float(info.objective_function_value)
    bound = float(info.mip_dual_bound) if integer else obj
    if status == "optimal" and not np.isfinite(bound):
        bound = obj
    nodes = int(max(info.mip_node_count, 0)) if integer else 0
    return MILPOutcome(status, x, obj, bound, seconds, "highs", nodes, h.modelStatusToString(ms))


def _solve_scip(model, time_limit, rel_gap, relax, verbose) -> MILPOutcome:  # pragma: no cover
    import pyscipopt

    t0 = time.perf_counter()
    m = pyscipopt.Model()
    if not verbose:
        m.hideOutput()
    if time_limit is not None:
        m.setParam("limits/time", float(time_limit))
    m.setParam("limits/gap", rel_gap)
    xs = [
        m.addVar(lb=lo, ub=hi, vtype="I" if (b and not relax) else "C")
        for lo, hi, b in zip(model.lb, model.ub, model.integer)
    ]
    A = model.matrix()
    for r in range(model.nrows):
        s, e = A.indptr[r], A.indptr[r + 1]
        expr = pyscipopt.quicksum(A.data[k] * xs[A.indices[k]] for k in range(s, e))
        lo, hi = model.row_lo[r], model.row_hi[r]
        if np.isfinite(lo):
            m.addCons(expr >= lo)
        if np.isfinite(hi):
            m.addCons(expr <= hi)
    c = model.cost_vector()
    m.setObjective(pyscipopt.quicksum(c[i] * xs[i] for i in np.flatnonzero(c)), "maximize")
    m.optimize()
    st = m.getStatus()
    status = {"optimal": "optimal", "timelimit": "time_limit", "infeasible": "infeasible"}.get(
        st, "solver_error"
    )
    x = None
    obj = -np.inf
    if m.getNSols() > 0:
        sol = m.getBestSol()
        x = np.array([m.getSolVal(sol, v) for v in xs])
        obj = float(m.getSolObjVal(sol))
    bound = float(m.getDualbound())
    return MILPOutcome(
        status, x, obj, bound, time.perf_counter() - t0, "scip", int(m.getNNodes()), st
    )


class DualBound:
    """Bounds on ``max c . x`` over ``lo <= A x <= hi``, ``lb <= x <= ub`` (a model's LP
    relaxation, under any variable bounds) from row multipliers, valid in exact arithmetic.

    For any ``y``, ``c . x = (c - A^T y) . x + y . (A x)``; the first term is at most
    ``sum_j max(r_j lb_j, r_j ub_j)`` over the box and the second at most
    ``sum_{y_i > 0} y_i hi_i + sum_{y_i < 0} y_i lo_i`` (Neumaier and Shcherbina 2004). A
    multiplier whose sign points at an infinite row side is replaced by 0 (the bound holds
    for any multipliers). The floating-point evaluation is made rigorous: the reduced costs
    ``r`` carry an error bound ``gamma_{k+2} (|c| + |A|^T |y|)`` (``k`` nonzeros in a column),
    the final sum is taken with :func:`math.fsum` and a margin of a few units in the last
    place of the *sum of the magnitudes of its terms*, plus the subnormal underflow of every
    product.
    """

    def __init__(self, model: LinearModel) -> None:
        A = model.matrix()
        self.AT = A.T.tocsr()
        self.absAT = abs(self.AT)
        self.cost = model.cost_vector()
        self.row_lo = np.asarray(model.row_lo, dtype=float)
        self.row_hi = np.asarray(model.row_hi, dtype=float)
        self.col_terms = int(np.diff(self.AT.indptr).max(initial=0)) + 1

    def __call__(
        self,
        y: np.ndarray | None,
        lb: np.ndarray,
        ub: np.ndarray,
        cost: np.ndarray | None = None,
    ) -> float:
        """The bound for multipliers ``y`` (None: all 0) and variable bounds ``[lb, ub]``."""
        c = self.cost if cost is None else cost
        n = c.size
        if y is None:
            y = np.zeros(self.row_lo.size)
        y = np.array(y, dtype=float)
        y[~np.isfinite(y)] = 0.0
        y[(y > 0) & ~np.isfinite(self.row_hi)] = 0.0
        y[(y < 0) & ~np.isfinite(self.row_lo)] = 0.0
        with np.errstate(all="ignore"):
            r = c - self.AT @ y
            k = self.col_terms + 1
            err_r = gamma(k + 1) * (np.abs(c) + self.absAT @ np.abs(y)) + (k + 1) * TINY
            pos, neg = y > 0, y < 0
            terms = np.concatenate(
                [
                    np.maximum(r * lb, r * ub),
                    y[pos] * self.row_hi[pos],
                    y[neg] * self.row_lo[neg],
                ]
            )
            if not np.all(np.isfinite(terms)) or not np.all(np.isfinite(err_r)):
                return float("inf")
            m = terms.size
            S = math.fsum(terms)
            T = float(np.abs(terms).sum()) * (1.0 + 2.0 * gamma(m + 2))
            E = float((err_r * np.maximum(np.abs(lb), np.abs(ub))).sum())
            E *= 1.0 + 2.0 * gamma(n + 3)
            margin = (4.0 * UNIT_ROUNDOFF * T + E + (m + n + 4) * TINY) * (1.0 + 8 * UNIT_ROUNDOFF)
            out = float(up(S + margin))
        return out if np.isfinite(out) else float("inf")

    def proves_infeasible(self, ray: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> bool:
        """Whether ``ray`` (either sign) is a Farkas certificate: the bound with zero cost is
        negative, so no ``x`` in the box satisfies the rows."""
        zero = np.zeros_like(self.cost)
        return any(self(s * ray, lb, ub, zero) < 0 for s in (1.0, -1.0))


def lp_dual_bound(model: LinearModel, y: np.ndarray) -> float:
    """A bound on ``max c . x`` over the LP relaxation, valid in exact arithmetic for any row
    multipliers ``y`` (see :class:`DualBound`); ``inf`` only when it overflows."""
    return DualBound(model)(y, np.asarray(model.lb, dtype=float), np.asarray(model.ub, dtype=float))


@dataclass
class LPSolve:
    """One solve of :class:`LPRelaxation`: HiGHS's status, primal point and row duals, and
    ``bound``, valid in exact arithmetic whatever the status (``-inf`` when infeasibility is
    proved by a Farkas ray)."""

    status: str
    x: np.ndarray | None
    y: np.ndarray | None
    objective: float
    bound: float
    message: str = ""
    basis: Any = None


class LPRelaxation:
    """The LP relaxation of a model in one HiGHS instance, re-solved under changed variable
    bounds (warm-started from the last basis) with a rigorous bound from every solve.

    A solve that HiGHS does not finish as optimal (or reports infeasible without a Farkas ray
    that checks in exact arithmetic) is retried in a fresh instance without presolve, then with
    the interior-point solver. ``"infeasible"`` is reported only with a verified ray; a claim
    that does not verify is ``"solver_error"``.
    """

    RETRIES = ({"presolve": "off"}, {"presolve": "off", "solver": "ipm"})

    def __init__(self, model: LinearModel, presolve: str = "off") -> None:
        self.model = model
        self.bounder = DualBound(model)
        self.lb = np.asarray(model.lb, dtype=float)
        self.ub = np.asarray(model.ub, dtype=float)
        self.options = {"presolve": presolve}
        self._lp = _highs_lp(model, relax=True)
        self._h = None

    def _fresh(self, options: dict[str, Any]):
        h = new_highs()
        for key, val in options.items():
            h.setOptionValue(key, val)
        h.passModel(self._lp)
        return h

    def solve(
        self,
        lb: np.ndarray | None = None,
        ub: np.ndarray | None = None,
        time_limit: float | None = None,
        basis: Any = None,
    ) -> LPSolve:
        """Solve under the bounds ``[lb, ub]``, warm-started from the last solve's basis or
        from ``basis`` (a previous solve's ``LPSolve.basis``)."""
        lb = self.lb if lb is None else np.asarray(lb, dtype=float)
        ub = self.ub if ub is None else np.asarray(ub, dtype=float)
        if self._h is None:
            self._h = self._fresh(self.options)
        if basis is not None:
            self._h.setBasis(basis)
        out = self._run(self._h, lb, ub, time_limit)
        if out.status == "optimal":
            out.basis = self._h.getBasis()
        for options in self.RETRIES:
            if out.status in ("optimal", "infeasible", "time_limit"):
                break
            retry = self._run(self._fresh(options), lb, ub, time_limit)
            best = min(out.bound, retry.bound)  # both are valid
            out = retry if retry.status == "optimal" else out
            out.bound = best
        return out

    def _run(self, h, lb, ub, time_limit) -> LPSolve:
        n = self.lb.size
        h.changeColsBounds(n, np.arange(n, dtype=np.int32), lb, ub)
        h.setOptionValue("time_limit", float(time_limit) if time_limit is not None else np.inf)
        h.run()
        ms = h.getModelStatus()
        status = _HIGHS_STATUS.get(ms.name, "solver_error")
        message = h.modelStatusToString(ms)
        sol = h.getSolution()
        x = np.asarray(sol.col_value) if sol.value_valid else None
        y = np.asarray(sol.row_dual) if sol.dual_valid else None
        bound = math.inf
        if y is not None and y.size == self.model.nrows:
            bound = self.bounder(y, lb, ub)
        if not bound < math.inf or status != "optimal":  # the duals alone may be poor
            bound = min(bound, self.bounder(None, lb, ub))
        obj = float(h.getInfo().objective_function_value) if x is not None else np.nan
        if status in ("infeasible", "unbounded"):
            has_ray, ray = False, None
            try:
                _, has_ray, ray = h.getDualRay()
            except Exception:  # pragma: no cover - older highspy
                has_ray = False
            if has_ray and self.bounder.proves_infeasible(np.asarray(ray), lb, ub):
                return LPSolve("infeasible", None, None, -np.inf, -np.inf, message)
            status = "solver_error"
            message += " (no verified Farkas certificate)"
            x = y = None
        if status == "optimal" and not np.isfinite(bound):
            status = "solver_error"
            message += " (no finite bound from the duals)"
        return LPSolve(status, x, y, obj, bound, message)


def solve_lp_certified(model: LinearModel) -> tuple[MILPOutcome, float]:
    """Solve the LP relaxation with HiGHS and return it with a bound from its duals that is
    valid in exact arithmetic (:class:`DualBound`). The bound is valid whatever the status
    (with no usable duals it is the box bound of the objective); ``"infeasible"`` is reported
    only with a verified Farkas certificate."""
    t0 = time.perf_counter()
    out = LPRelaxation(model, presolve="choose").solve()
    seconds = time.perf_counter() - t0
    res = MILPOutcome(out.status, out.x, out.objective, out.bound, seconds, "highs", 0, out.message)
    return res, out.bound
