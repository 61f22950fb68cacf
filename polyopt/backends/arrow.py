"""Adapter of the block-arrow interior point solver (:mod:`polyopt.solvers.arrow`),
``solver="arrow"``: moment form only; raises :class:`polyopt.NotArrow` when the relaxation
has no block-arrow form."""

from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

from ..conic import ConicProgram
from ..facial import reduce_faces
from ..solvers.arrow import DEFAULTS, build_arrow_form, interior_point, recover
from .base import Backend, BackendResult, SolverOptions


class ArrowBackend(Backend):
    name = "arrow"
    forms = ("moment",)

    def _solve(self, program: ConicProgram, form: str, options: SolverOptions) -> BackendResult:
        opts = dict(DEFAULTS)
        unknown = set(options.extra) - set(DEFAULTS)
        if unknown:
            raise ValueError(
                f"unknown option(s) {sorted(unknown)} for solver='arrow'; known: {sorted(DEFAULTS)}"
            )
        opts.update(options.extra)
        if options.tol is not None:
            opts["tol"] = float(options.tol)
        if options.max_iters is not None:
            opts["max_iters"] = int(options.max_iters)
        t0 = time.perf_counter()
        reduction = reduce_faces(program) if opts["facial"] else None
        target = program if reduction is None else reduction.program
        arrow = build_arrow_form(target, int(opts["big_side"]), opts["max_memory_gb"])
        # numpy and scipy ship separate OpenBLAS builds whose idle threads spin against each
        # other on small matrices: one thread each is measured 1.5x faster here
        deadline = None if options.time_limit is None else t0 + float(options.time_limit)
        with threadpool_limits(limits=int(opts["threads"]), user_api="blas"):
            y_dual, Xs, status, iters, _ = interior_point(arrow, opts, options.verbose, deadline)
        raw = {"dense_rows": int(arrow.dense.size), "rows": arrow.m}
        point = recover(arrow, y_dual, Xs)
        if reduction is not None:  # certified on the original program
            raw["facial_reduction"] = {
                "dropped": reduction.dropped,
                "equalities_removed": int(np.count_nonzero(~reduction.eq_kept)),
            }
            point = reduction.lift(*point)
        out = BackendResult(status, iterations=iters, seconds=time.perf_counter() - t0, raw=raw)
        return out.set_point(program, *point)
