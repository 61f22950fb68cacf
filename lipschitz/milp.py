"""A small sparse (mixed-integer) linear model, solved with HiGHS (or SCIP when installed).

Rows are two-sided, ``lo <= A x <= hi``; every variable has finite bounds. For LPs,
:func:`lp_dual_bound` turns any row multipliers into a bound valid in exact arithmetic, so a
relaxation's value never depends on the solver's tolerances.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

MIP_SOLVERS = ("highs", "scip")


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
    ``"infeasible"``, ``"unbounded"`` or ``"error"``."""

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
    "kInfeasible": "infeasible",
    "kUnbounded": "unbounded",
    "kUnboundedOrInfeasible": "unbounded",
}
_BANNER_SHOWN = False


def _new_highs():
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


def _solve_highs(model, time_limit, rel_gap, relax, verbose) -> MILPOutcome:
    import highspy

    t0 = time.perf_counter()
    h = _new_highs()
    if verbose:
        h.setOptionValue("output_flag", True)
    h.setOptionValue("mip_rel_gap", float(rel_gap))
    h.setOptionValue("mip_abs_gap", 1e-12)
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_ = model.nvars
    lp.num_row_ = model.nrows
    lp.col_cost_ = model.cost_vector()
    lp.col_lower_ = np.asarray(model.lb)
    lp.col_upper_ = np.asarray(model.ub)
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
    h.passModel(lp)
    h.run()
    seconds = time.perf_counter() - t0
    ms = h.getModelStatus()
    status = _HIGHS_STATUS.get(ms.name, "error")
    info = h.getInfo()
    x = None
    obj = -np.inf
    if info.primal_solution_status == highspy.kSolutionStatusFeasible:
        x = np.asarray(h.getSolution().col_value)
        obj = float(info.objective_function_value)
    bound = float(info.mip_dual_bound) if not relax and any(model.integer) else obj
    if status == "optimal" and not np.isfinite(bound):
        bound = obj
    nodes = int(max(info.mip_node_count, 0))
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
        st, "error"
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


def lp_dual_bound(model: LinearModel, y: np.ndarray) -> float:
    """A bound on ``max c . x`` over the LP relaxation, valid for any row multipliers ``y``.

    ``c . x = (c - A^T y) . x + y . (A x)`` and each term is maximized separately over the
    variable box and the row ranges (``y_r > 0`` uses ``hi_r``, ``y_r < 0`` uses ``lo_r``).
    Returns ``inf`` when a multiplier points at an infinite row side.
    """
    A = model.matrix()
    y = np.asarray(y, dtype=float)
    reduced = model.cost_vector() - A.T @ y
    lb, ub = np.asarray(model.lb), np.asarray(model.ub)
    total = np.maximum(reduced * lb, reduced * ub).sum()
    lo, hi = np.asarray(model.row_lo), np.asarray(model.row_hi)
    pos, neg = y > 0, y < 0
    if np.any(~np.isfinite(hi[pos])) or np.any(~np.isfinite(lo[neg])):
        return float("inf")
    total += (y[pos] * hi[pos]).sum() + (y[neg] * lo[neg]).sum()
    # rounding: relative slack on the sum of magnitudes of the terms
    mag = np.abs(reduced) @ np.maximum(np.abs(lb), np.abs(ub)) + np.abs(y[pos] * hi[pos]).sum()
    mag += np.abs(y[neg] * lo[neg]).sum()
    return float(total + 1e-12 * (1.0 + mag) + 1e-15 * model.nvars * (1.0 + mag))


def solve_lp_certified(model: LinearModel) -> tuple[MILPOutcome, float]:
    """Solve the LP relaxation with HiGHS and return it with a bound from its duals that is
    valid in exact arithmetic (:func:`lp_dual_bound`)."""
    t0 = time.perf_counter()
    A = model.matrix().tocsr()
    lo, hi = np.asarray(model.row_lo), np.asarray(model.row_hi)
    eq = lo == hi
    up = ~eq & np.isfinite(hi)
    dn = ~eq & np.isfinite(lo)
    A_ub = sp.vstack([A[up], -A[dn]]).tocsr()
    b_ub = np.concatenate([hi[up], -lo[dn]])
    res = linprog(
        -model.cost_vector(),
        A_ub=A_ub if A_ub.shape[0] else None,
        b_ub=b_ub if A_ub.shape[0] else None,
        A_eq=A[eq] if eq.any() else None,
        b_eq=lo[eq] if eq.any() else None,
        bounds=np.column_stack([model.lb, model.ub]),
        method="highs",
    )
    seconds = time.perf_counter() - t0
    if res.status != 0:
        status = {2: "infeasible", 3: "unbounded", 1: "time_limit"}.get(res.status, "error")
        return MILPOutcome(status, None, np.nan, np.inf, seconds, "highs", 0, res.message), np.inf
    # scipy's marginals are d(min objective)/d(rhs); for the max problem the multipliers of
    # "A x <= b" rows are their negatives (>= 0)
    y = np.zeros(model.nrows)
    m_ub = -np.asarray(res.ineqlin.marginals) if A_ub.shape[0] else np.zeros(0)
    n_up = int(up.sum())
    y[np.flatnonzero(up)] += m_ub[:n_up]
    y[np.flatnonzero(dn)] -= m_ub[n_up:]
    if eq.any():
        y[np.flatnonzero(eq)] = -np.asarray(res.eqlin.marginals)
    bound = lp_dual_bound(model, y)
    obj = -float(res.fun)
    out = MILPOutcome("optimal", np.asarray(res.x), obj, bound, seconds, "highs", 0, res.message)
    return out, bound
