"""HiGHS (through ``scipy.optimize.linprog``) for relaxations without PSD blocks (the LP
hierarchy). The moment form is the pseudo-moment LP; the Gram form is the certificate LP."""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from ..conic import ConicProgram
from .base import Backend, BackendResult, SolverOptions

_MAP = {0: "optimal", 1: "iteration_limit", 2: "infeasible", 3: "unbounded", 4: "solver_error"}


class HighsBackend(Backend):
    name = "highs"

    def choose_form(self, program: ConicProgram) -> str:
        return "moment"

    def solve(self, program: ConicProgram, form: str, options: SolverOptions) -> BackendResult:
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
        if form == "moment":
            res = linprog(
                program.c,
                A_ub=-program.A_ineq if q else None,
                b_ub=program.b_ineq if q else None,
                A_eq=program.A_eq if p else None,
                b_eq=program.b_eq if p else None,
                bounds=(None, None),
                method="highs",
                options=opts,
            )
        elif form == "gram":
            # max c0 + b_eq mu - b_ineq z  s.t.  A_eq' mu + A_ineq' z = c, z >= 0
            A = sp.hstack([program.A_eq.T, program.A_ineq.T], format="csc")
            cost = np.concatenate([-program.b_eq, program.b_ineq])
            bounds = [(None, None)] * p + [(0, None)] * q
            res = linprog(cost, A_eq=A, b_eq=program.c, bounds=bounds, method="highs", options=opts)
        else:
            raise ValueError(f"unknown form {form!r}: use 'moment' or 'gram'")
        seconds = time.perf_counter() - t0
        status = _MAP.get(res.status, "solver_error")
        if form == "gram" and status in ("infeasible", "unbounded"):
            status = "unbounded" if status == "infeasible" else "infeasible"
        if status == "iteration_limit" and "time" in str(res.message).lower():
            status = "time_limit"
        out = BackendResult(
            status=status,
            seconds=seconds,
            iterations=int(getattr(res, "nit", 0)),
            raw={"message": res.message, "form": form},
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
            out.primal_objective = float(program.c @ out.y + program.c0)
            out.dual_objective = program.dual_objective(out.mu, out.z, out.X)
        return out
