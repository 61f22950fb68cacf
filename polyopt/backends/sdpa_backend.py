"""SDPA through ``sdpa-python`` (primal-dual interior point on the standard primal form).

The Gram / SOS form is SDPA's natural input (PSD matrix variables, one equality per moment);
the moment form is handed over with free variables and converted by SDPAP. Either way the
Schur complement has one row per moment, so the two forms cost about the same here.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
import warnings

import numpy as np
import scipy.sparse as sp

from ..conic import ConicProgram
from ..solvers.memory import require_memory
from .base import Backend, BackendResult, SolverOptions, SolverUnavailable, status_map
from .psd_operator import full_psd_operator, split_full_blocks
from .reduced_form import (
    expand,
    fully_reducible,
    recover_dual,
    recover_moments,
    reduced_form,
)
from .standard_form import moment_objectives

#: SDPA stops with phase ``pdFEAS`` when double precision runs out ("primal < dual");
#: such a solution counts as optimal when the relative duality gap is below this.
ACCEPT_GAP = 1e-6


@contextlib.contextmanager
def _silenced_stdout():
    """Silence C-level writes to standard output (SDPA prints from C++)."""
    import sys

    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, io.UnsupportedOperation, ValueError):
        yield
        return
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


@contextlib.contextmanager
def _no_error_recalculation():
    """sdpap recomputes feasibility errors after every solve (an ARPACK eigenvalue per
    block, seconds on large blocks); polyopt computes its own certificate, so skip it."""
    from sdpap import sdpaputils

    saved = sdpaputils.get_primalerror, sdpaputils.get_dualerror
    sdpaputils.get_primalerror = sdpaputils.get_dualerror = lambda *args: None
    try:
        with warnings.catch_warnings():  # sdpap then warns that it could not recompute them
            warnings.filterwarnings("ignore", "Python recalculation", RuntimeWarning)
            yield
    finally:
        sdpaputils.get_primalerror, sdpaputils.get_dualerror = saved


SCHUR_BYTES = 16
"""Bytes per entry of SDPA's dense Schur complement (the matrix and its Cholesky factor)."""


class SDPABackend(Backend):
    name = "sdpa"
    forms = ("moment", "gram", "reduced")
    requires = "sdpap"
    time_limit_support = "none"
    STATUS_MAP = status_map(
        optimal=("pdOPT",), inaccurate=("pdFEAS", "pFEAS", "dFEAS"), solver_error=("noINFO",)
    )
    """SDPA's phases; the infeasible and unbounded ones are read in :meth:`_solve`."""

    def choose_form(self, program: ConicProgram) -> str:
        """``"reduced"`` when the largest block is a plain moment matrix holding every moment
        (one Schur row per dual variable instead of one per moment), else ``"gram"``."""
        if fully_reducible(program):
            return "reduced"
        return "gram"

    def _solve(self, program: ConicProgram, form: str, options: SolverOptions) -> BackendResult:
        try:
            import sdpap
        except ImportError:
            raise SolverUnavailable("SDPA is not installed: pip install sdpa-python") from None
        if options.time_limit is not None:
            raise ValueError("the sdpa backend has no time limit; use solver='clarabel' or 'scs'")
        p, q = program.A_eq.shape[0], program.A_ineq.shape[0]
        sizes = tuple(int(s) for s in program.block_sizes)
        red = reduced_form(program) if form == "reduced" else None
        extra = dict(options.extra)
        rows = red.free if red is not None else program.n
        require_memory(
            SCHUR_BYTES * rows**2 + 8 * 4 * sum(s * s for s in sizes),
            extra.pop("max_memory_gb", None),
            f"SDPA (a dense Schur complement of {rows:,} rows)",
            "use solver='arrow', 'scs' or 'lowrank', a sparse relaxation (sparsity='auto'), or "
            "a lower order",
        )
        F, f0 = full_psd_operator(program)
        if form == "reduced":
            if red is None:
                raise ValueError(
                    "form='reduced' needs a PSD block that is a plain moment matrix (each entry "
                    "one moment, none repeated); use form='gram' or 'moment'"
                )
            A, b, c = red.A, red.b.reshape(-1, 1), red.c.reshape(-1, 1)
            K = sdpap.SymCone(f=red.free)
            J = sdpap.SymCone(
                f=red.eq_rows, l=red.nonneg + red.ones, s=tuple(red.sizes[red.ones :])
            )
        elif form == "gram":
            A = sp.hstack([program.A_eq.T, program.A_ineq.T, F.T], format="csc")
            b = program.c.reshape(-1, 1)
            c = np.concatenate([-program.b_eq, program.b_ineq, f0]).reshape(-1, 1)
            K = sdpap.SymCone(f=p, l=q, s=sizes)
            J = sdpap.SymCone(f=program.n)
        else:  # the moment form
            A = sp.vstack([program.A_eq, program.A_ineq, F], format="csc")
            b = np.concatenate([program.b_eq, -program.b_ineq, -f0]).reshape(-1, 1)
            c = program.c.reshape(-1, 1)
            K = sdpap.SymCone(f=program.n)
            J = sdpap.SymCone(f=p, l=q, s=sizes)
        opt = {
            "print": "display" if options.verbose else "no",
            # one thread: with more, a solve can diverge ("step length is too short") after
            # an earlier solve in the same process, and on 2 cores it is no faster
            "numThreads": 1,
            "lowerBound": -1.0e8,
            "upperBound": 1.0e8,
        }
        if options.tol is not None:
            opt["epsilonStar"] = float(options.tol)
            opt["epsilonDash"] = float(options.tol)
        if options.max_iters is not None:
            opt["maxIteration"] = int(options.max_iters)
        opt.update(extra)
        t0 = time.perf_counter()
        quiet = contextlib.nullcontext() if options.verbose else _silenced_stdout()
        with quiet, _no_error_recalculation():
            x, y, info, timeinfo, sdpainfo = sdpap.solve(
                A, sp.csc_matrix(b), sp.csc_matrix(c), K, J, opt
            )
        seconds = time.perf_counter() - t0
        phase = str(sdpainfo.get("phasevalue", info.get("phasevalue", "noINFO")))
        x = np.asarray(x.todense() if sp.issparse(x) else x, dtype=float).ravel()
        y = np.asarray(y.todense() if sp.issparse(y) else y, dtype=float).ravel()
        # sdpap reports its own primal (the form handed over) as "primal"
        status = self.STATUS_MAP.get(phase)
        gap = abs(float(sdpainfo.get("primalObj", np.nan)) - float(sdpainfo.get("dualObj", np.nan)))
        rel_gap = gap / max(1.0, abs(float(sdpainfo.get("primalObj", np.nan))))
        if phase == "pdFEAS" and rel_gap <= max(ACCEPT_GAP, options.tol or 0.0):
            status = "optimal"
        if status is None and red is not None:
            status = "solver_error"
        if status is None:
            # ``phase`` is SDPA's own, and SDPA always solves the SeDuMi standard form: the
            # Gram (SOS) side in both forms (sdpap converts the moment form with clp_toLMI and
            # does not flip the phase back), so "p" means the Gram problem whatever ``form`` is.
            gram_inf = phase in ("pINF_dFEAS", "pINF", "dUNBD")
            moment_inf = phase in ("pFEAS_dINF", "dINF", "pUNBD")
            # sdpap does swap the objectives back: these are the moment and SOS objectives
            mom_obj = float(sdpainfo.get("primalObj", np.nan))
            sos_obj = float(sdpainfo.get("dualObj", np.nan))
            mom_obj, sos_obj = moment_objectives(form, mom_obj, sos_obj)
            if gram_inf:
                status = "unbounded"
            elif moment_inf:
                status = "infeasible"
            elif phase == "pdINF" and sos_obj >= 10.0 * max(1.0, abs(mom_obj)):
                # SDPA also says pdINF for unbounded relaxations (min -x^4 + x); trust it only
                # when the SOS objective diverges upwards (a ray certifying moment infeasibility)
                status = "infeasible"
            else:
                status = "solver_error"
        iters = int(sdpainfo.get("iteration", 0)) if "iteration" in sdpainfo else None
        if status == "inaccurate" and iters is not None and iters >= opt.get("maxIteration", 100):
            status = "iteration_limit"
        res = BackendResult(
            status=status,
            iterations=iters,
            seconds=seconds,
            raw={"phasevalue": phase, "form": form, "sdpainfo": dict(sdpainfo)},
        )
        if status in ("optimal", "inaccurate", "iteration_limit"):
            if red is not None:
                res.mu, res.z, res.X = recover_dual(red, program, expand(red, x))
                res.y = recover_moments(red, program, y)
            elif form == "gram":
                res.mu, res.z = x[:p], x[p : p + q]
                res.X = split_full_blocks(x[p + q :], list(sizes))
                res.y = -y
            else:
                res.y = x
                res.mu = y[:p]
                res.z = y[p : p + q]
                res.X = split_full_blocks(y[p + q :], list(sizes))
            res.set_point(program, res.y, res.mu, res.z, res.X)
        return res
