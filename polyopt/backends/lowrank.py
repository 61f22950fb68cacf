"""Adapter of the low-rank augmented Lagrangian solver (:mod:`polyopt.solvers.lowrank`),
``solver="lowrank"``: moment form only; ``solver_options`` are those of
:data:`polyopt.solvers.lowrank.DEFAULTS` (``warm_start`` takes an earlier result of this
backend)."""

from __future__ import annotations

from ..conic import ConicProgram
from ..solvers.lowrank import DEFAULTS, augmented_lagrangian, recover
from .base import Backend, BackendResult, SolverOptions


class LowRankBackend(Backend):
    """Burer-Monteiro factorization with an augmented Lagrangian (moment form only)."""

    name = "lowrank"
    time_limit_support = "holds"
    forms = ("moment",)
    factored_rows = True

    def _solve(self, program: ConicProgram, form: str, options: SolverOptions) -> BackendResult:
        unknown = set(options.extra) - set(DEFAULTS)
        if unknown:
            raise ValueError(
                f"unknown lowrank option(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}"
            )
        opts = {**DEFAULTS, **options.extra}
        tol = options.tol if options.tol is not None else 1e-6
        run = augmented_lagrangian(
            program, opts, tol, options.max_iters, options.time_limit, options.verbose
        )
        ranks = [(g.size, g.rank, g.blocks.size) for g in run.form.groups]
        raw = {"history": run.history, "ranks": ranks, "state": run.state}
        out = BackendResult(run.status, iterations=run.iterations, seconds=run.seconds, raw=raw)
        return out.set_point(program, *recover(run, program))
