"""Clarabel (interior point, in ``A x + s = b`` form).

Clarabel factors a KKT system holding a dense block per PSD cone of side ``s(s+1)/2``, so it
suits relaxations whose PSD blocks are small.
"""

from __future__ import annotations

import time

import numpy as np

from ..conic import ConicProgram
from ..solvers.memory import require_memory
from .base import Backend, BackendResult, SolverOptions, status_map
from .standard_form import moment_objectives, moment_status, recover, to_standard

#: Default gap and feasibility tolerance (Clarabel's own). Degenerate sums of squares
#: (optimum 0, singular Gram matrices, e.g. chained problems with n = 1,000) need tol=1e-10
#: for bounds accurate to 1e-6; tighter defaults make ordinary problems stop "AlmostSolved".
DEFAULT_TOL = 1e-8
#: An "AlmostSolved" run whose residuals and gap are below this still counts as optimal.
ACCEPT = 1e-8


#: Bytes per squared svec entry of the PSD blocks: Clarabel holds each block's scaling as a
#: dense ``k x k`` matrix (``k = s(s+1)/2``) in its KKT system and factors it with fill
#: (measured: 7.2 GB resident for one block of side 153, ``k^2 * 8`` = 1.1 GB).
BYTES_PER_ENTRY = 8 * 6


def memory_need(program: ConicProgram) -> int:
    """Bytes Clarabel's KKT system needs for the PSD blocks of ``program`` (estimate)."""
    k = np.array([s * (s + 1) // 2 for s in program.block_sizes], dtype=float)
    return int(BYTES_PER_ENTRY * float(np.sum(k**2)))


def check_memory(program: ConicProgram, max_memory_gb: float | None = None) -> None:
    """Raise :class:`~polyopt.SolverMemoryError` before Clarabel would exhaust the memory (it
    aborts the process when an allocation fails)."""
    big = max(program.block_sizes, default=0)
    require_memory(
        memory_need(program),
        max_memory_gb,
        f"Clarabel (PSD block of side {big}, dense KKT block of {big * (big + 1) // 2:,} squared)",
        "use solver='scs' or 'lowrank' (first order), a sparse relaxation (sparsity='auto'), "
        "or a lower order",
    )


class ClarabelBackend(Backend):
    name = "clarabel"
    requires = "clarabel"
    #: the default tolerance, per form, when the bound cannot be certified (unbounded
    #: moments): its accuracy then rests on the solver's alone. Chained singular n = 1,000
    #: reaches 1e-6 in the moment form at 1e-12, where the former 1e-8 gave no bound; the Gram
    #: form overshoots at 1e-12 (generalized Rosenbrock n = 10: -1.2e-4 against -8.9e-8 at
    #: 1e-10). A run that stalls short of it is accepted at :data:`ACCEPT`.
    uncertified_tol = {"gram": 1e-10, "moment": 1e-12}
    STATUS_MAP = status_map(
        optimal=("Solved",),
        inaccurate=("AlmostSolved", "InsufficientProgress"),
        iteration_limit=("MaxIterations",),
        time_limit=("MaxTime",),
        solver_error=("NumericalError", "Unsolved", "CallbackTerminated"),
        infeasible=("PrimalInfeasible", "AlmostPrimalInfeasible"),
        unbounded=("DualInfeasible", "AlmostDualInfeasible"),
    )

    def choose_form(self, program: ConicProgram) -> str:
        # measured (benchmarks/solver_choice.py): the Gram form converges in fewer
        # iterations and to "Solved" where the moment form often stops "AlmostSolved"
        return "gram"

    def _solve(self, program: ConicProgram, form: str, options: SolverOptions) -> BackendResult:
        import clarabel

        check_memory(program, options.extra.get("max_memory_gb"))
        std = to_standard(program, form, "upper_col")
        cones = []
        if std.zero:
            cones.append(clarabel.ZeroConeT(std.zero))
        if std.nonneg:
            cones.append(clarabel.NonnegativeConeT(std.nonneg))
        cones.extend(clarabel.PSDTriangleConeT(s) for s in std.psd)
        settings = clarabel.DefaultSettings()
        settings.verbose = bool(options.verbose)
        tol = DEFAULT_TOL if options.tol is None else options.tol
        settings.tol_gap_abs = tol
        settings.tol_gap_rel = tol
        settings.tol_feas = tol
        if options.max_iters is not None:
            settings.max_iter = int(options.max_iters)
        if options.time_limit is not None:
            settings.time_limit = float(options.time_limit)
        for key, val in options.extra.items():
            if key == "max_memory_gb":
                continue
            if not hasattr(settings, key):
                raise ValueError(f"unknown Clarabel setting {key!r}")
            setattr(settings, key, val)
        nvar = std.A.shape[1]
        import scipy.sparse as sp

        t0 = time.perf_counter()
        solver = clarabel.DefaultSolver(
            sp.csc_matrix((nvar, nvar)), std.q, std.A, std.b, cones, settings
        )
        sol = solver.solve()
        seconds = time.perf_counter() - t0
        raw_status = str(sol.status).split(".")[-1]
        status = moment_status(form, self.STATUS_MAP.get(raw_status, "solver_error"))
        gap = abs(sol.obj_val - sol.obj_val_dual) / max(1.0, abs(sol.obj_val))
        stalled = raw_status in ("AlmostSolved", "InsufficientProgress")
        if stalled and max(sol.r_prim, sol.r_dual, gap) <= ACCEPT:
            status = "optimal"  # short of the tight target, but within Clarabel's own default
        res = BackendResult(
            status=status,
            iterations=int(sol.iterations),
            seconds=seconds,
            raw={
                "status": raw_status,
                "form": form,
                "solve_time": float(sol.solve_time),
                "r_prim": float(sol.r_prim),
                "r_dual": float(sol.r_dual),
            },
        )
        if status in ("optimal", "inaccurate", "iteration_limit", "time_limit"):
            x = np.asarray(sol.x, dtype=float)
            zdual = np.asarray(sol.z, dtype=float)
            res.y, res.mu, res.z, res.X = recover(std, program, x, zdual)
            res.primal_objective, res.dual_objective = moment_objectives(
                form, float(sol.obj_val) + std.q0, float(sol.obj_val_dual) + std.q0
            )
        elif status == "infeasible":
            # the certificate of an infeasible moment relaxation: a ray (mu, z, X) of the
            # Gram side, in sol.x (Gram form) or sol.z (moment form)
            x = np.asarray(sol.x, dtype=float)
            zdual = np.asarray(sol.z, dtype=float)
            _, mu, z, X = recover(std, program, x, zdual)
            res.raw["ray"] = (mu, z, X)
        return res
