"""HiGHS (through ``scipy.optimize.linprog``) for relaxations without PSD blocks (the LP
hierarchy). The moment form is the pseudo-moment LP; the Gram form is the certificate LP.

Statuses: scipy's status 2 covers both HiGHS "infeasible" and "model error" (for instance
coefficients beyond HiGHS's ``large_matrix_value``); only the former is reported as
``"infeasible"``, anything else that is not a solution as ``"solver_error"``, after one retry
without presolve."""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from ..conic import ConicProgram
from .base import Backend, BackendResult, SolverOptions, status_map
from .standard_form import moment_status

STATUS_MAP = status_map(
    optimal=(0,), iteration_limit=(1,), infeasible=(2,), unbounded=(3,), solver_error=(4,)
)
"""``scipy.optimize.linprog``'s statuses."""


def _status(res) -> str:
    """polyopt's status for a ``linprog`` result (HiGHS's own model status decides status 2)."""
    status = STATUS_MAP.get(res.status, "solver_error")
    message = str(res.message)
    if status == "infeasible" and not message.startswith("The problem is infeasible"):
        return "solver_error"  # e.g. "(HiGHS Status 2: Model error)"
    if status == "unbounded" and not message.startswith("The problem is unbounded"):
        return "solver_error"
    if status == "iteration_limit" and "time" in message.lower():
        return "time_limit"
    return status


class HighsBackend(Backend):
    name = "highs"
    cones = ("zero", "nonneg")
    time_limit_support = "holds"
    STATUS_MAP = STATUS_MAP

    def _solve(self, program: ConicProgram, form: str, options: SolverOptions) -> BackendResult:
        if program.block_sizes:
            raise ValueError("HiGHS solves linear programs only: this relaxation has PSD blocks")
        opts: dict = {"disp": bool(options.verbose), "presolve": True}
        if options.max_iters is not None:
            opts["maxiter"] = int(options.max_iters)
        if options.time_limit is not None:
            opts["time_limit"] = float(options.time_limit)
        if options.tol is not None:
            opts["primal_feasibility_tolerance"] = float(options.tol)
            opts["dual_feasibility_tolerance"] = float(options.tol)
        opts.update(options.extra)
        p, q = program.A_eq.shape[0], program.A_ineq.shape[0]
        t0 = time.perf_counter()
        res = self._linprog(program, form, opts)
        retried = False
        if _status(res) == "solver_error" and opts.get("presolve", True):
            res = self._linprog(program, form, dict(opts, presolve=False))
            retried = True
        seconds = time.perf_counter() - t0
        status = moment_status(form, _status(res))
        out = BackendResult(
            status=status,
            seconds=seconds,
            iterations=int(getattr(res, "nit", 0)),
            raw={"message": res.message, "form": form, "retried_without_presolve": retried},
        )
        if status == "optimal":
            if form == "moment":
                out.y = np.asarray(res.x, dtype=float)
                out.mu = np.asarray(res.eqlin.marginals, dtype=float) if p else np.zeros(0)
                out.z = -np.asarray(res.ineqlin.marginals, dtype=float) if q else np.zeros(0)
            else:
                out.mu = np.asarray(res.x[:p], dtype=float)
                out.z = np.asarray(res.x[p:], dtype=float)
                out.y = -np.asarray(res.eqlin.marginals, dtype=float)
            out.X = []
            out.set_point(program, out.y, out.mu, out.z, out.X)
        return out

    @staticmethod
    def _linprog(program: ConicProgram, form: str, opts: dict):
        p, q = program.A_eq.shape[0], program.A_ineq.shape[0]
        if form == "moment":
            return linprog(
                program.c,
                A_ub=-program.A_ineq if q else None,
                b_ub=program.b_ineq if q else None,
                A_eq=program.A_eq if p else None,
                b_eq=program.b_eq if p else None,
                bounds=(None, None),
                method="highs",
                options=opts,
            )
        # max c0 + b_eq mu - b_ineq z  s.t.  A_eq' mu + A_ineq' z = c, z >= 0
        A = sp.hstack([program.A_eq.T, program.A_ineq.T], format="csc")
        cost = np.concatenate([-program.b_eq, program.b_ineq])
        bounds = [(None, None)] * p + [(0, None)] * q
        return linprog(cost, A_eq=A, b_eq=program.c, bounds=bounds, method="highs", options=opts)
