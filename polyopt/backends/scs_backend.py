"""SCS (first-order splitting, in ``A x + s = b`` form).

Each iteration projects every PSD block (an eigendecomposition per block); cheap per
iteration, but only moderately accurate: bounds come back through the sound correction.
"""

from __future__ import annotations

import time

import numpy as np

from ..conic import ConicProgram
from .base import Backend, BackendResult, SolverOptions, status_map
from .standard_form import moment_objectives, moment_status, recover, to_standard


class SCSBackend(Backend):
    name = "scs"
    requires = "scs"
    time_limit_support = "holds"
    STATUS_MAP = status_map(
        optimal=("solved",),
        inaccurate=("solved_inaccurate",),
        infeasible=("infeasible", "infeasible_inaccurate"),
        unbounded=("unbounded", "unbounded_inaccurate"),
    )

    #: the default tolerance when the bound cannot be certified (unbounded moments): a dense
    #: unconstrained quartic in 20 variables ends 8e-6 (relative) below its minimum at the
    #: usual 1e-7 and 2.4e-8 below at 1e-9, in 33.5 s against 26.9 s
    uncertified_tol = {"gram": 1e-9, "moment": 1e-9}
    #: SCS is not solved again in the other form (see polyopt.solve): first order, it would
    #: double a long run
    compare_forms = False

    def _solve(self, program: ConicProgram, form: str, options: SolverOptions) -> BackendResult:
        import scs

        std = to_standard(program, form, "lower_col")
        data = {"A": std.A, "b": std.b, "c": std.q}
        cone = {"z": std.zero, "l": std.nonneg, "s": std.psd}
        settings = {"verbose": bool(options.verbose), "eps_abs": 1e-7, "eps_rel": 1e-7}
        if options.tol is not None:
            settings["eps_abs"] = options.tol
            settings["eps_rel"] = options.tol
        settings["max_iters"] = int(options.max_iters) if options.max_iters else 100_000
        if options.time_limit is not None:
            settings["time_limit_secs"] = float(options.time_limit)
        settings.update(options.extra)
        t0 = time.perf_counter()
        try:
            solver = scs.SCS(data, cone, **settings)
            sol = solver.solve()
        except (ValueError, TypeError) as exc:
            raise ValueError(f"SCS rejected its settings or data: {exc}") from None
        seconds = time.perf_counter() - t0
        info = sol["info"]
        raw = str(info["status"]).lower().replace(" ", "_").replace("/", "_")
        status = self.STATUS_MAP.get(raw)
        if status is None:
            if "time" in raw:
                status = "time_limit"
            elif "iter" in raw or raw.startswith("solved_inaccurate"):
                status = "iteration_limit" if "iter" in raw else "inaccurate"
            else:
                status = "solver_error"
        status = moment_status(form, status)
        if (
            status in ("inaccurate", "iteration_limit", "time_limit")
            and int(info["iter"]) >= settings["max_iters"]
        ):
            status = "iteration_limit"
        res = BackendResult(
            status=status,
            iterations=int(info["iter"]),
            seconds=seconds,
            raw={"status": info["status"], "form": form, "eps": settings["eps_abs"]},
        )
        if status in ("optimal", "inaccurate", "iteration_limit", "time_limit"):
            x, ydual = np.asarray(sol["x"]), np.asarray(sol["y"])
            res.y, res.mu, res.z, res.X = recover(std, program, x, ydual)
            res.primal_objective, res.dual_objective = moment_objectives(
                form, float(info["pobj"]) + std.q0, float(info["dobj"]) + std.q0
            )
        return res
