"""A passthrough to any SDP-capable cvxpy solver (``solver="cvxpy:NAME"``), and MOSEK."""

from __future__ import annotations

import time

import numpy as np

from ..conic import ConicProgram
from .base import Backend, BackendResult, SolverOptions, SolverUnavailable, status_map
from .psd_operator import full_psd_operator, split_full_blocks
from .standard_form import moment_status


class CvxpyBackend(Backend):
    """Builds the moment (or Gram) form as a cvxpy model and calls ``problem.solve(solver)``."""

    requires = "cvxpy"
    STATUS_MAP = status_map(
        optimal=("optimal",),
        inaccurate=("optimal_inaccurate",),
        time_limit=("user_limit",),
        infeasible=("infeasible", "infeasible_inaccurate"),
        unbounded=("unbounded", "unbounded_inaccurate"),
        solver_error=("infeasible_or_unbounded", "solver_error"),
    )

    def __init__(self, solver: str) -> None:
        self.solver = solver.upper()
        self.name = f"cvxpy:{self.solver}"

    def available(self) -> bool:
        import cvxpy as cp

        return self.solver in cp.installed_solvers()

    def _check(self) -> None:
        import cvxpy as cp

        if self.solver not in cp.installed_solvers():
            raise SolverUnavailable(
                f"cvxpy solver {self.solver!r} is not installed; installed: "
                f"{sorted(cp.installed_solvers())}"
            )

    def _solver_kwargs(self, options: SolverOptions) -> dict:
        kw: dict = {}
        if options.max_iters is not None and self.solver in ("SCS", "CLARABEL", "CVXOPT", "ECOS"):
            kw["max_iters" if self.solver != "CLARABEL" else "max_iter"] = int(options.max_iters)
        if options.tol is not None and self.solver == "SCS":
            kw["eps"] = options.tol
        if options.time_limit is not None and self.solver == "CLARABEL":
            kw["time_limit"] = float(options.time_limit)
        kw.update(options.extra)
        return kw

    def _solve(self, program: ConicProgram, form: str, options: SolverOptions) -> BackendResult:
        import cvxpy as cp

        self._check()
        F, f0 = full_psd_operator(program)
        sizes = list(program.block_sizes)
        p, q = program.A_eq.shape[0], program.A_ineq.shape[0]
        if form == "moment":
            model, y, eq, ineq, psd = moment_model(program)
        elif form == "gram":
            mu = cp.Variable(p) if p else None
            z = cp.Variable(q, nonneg=True) if q else None
            Xs = [cp.Variable((s, s), PSD=True) for s in sizes]
            lhs = 0
            if mu is not None:
                lhs = lhs + program.A_eq.T @ mu
            if z is not None:
                lhs = lhs + program.A_ineq.T @ z
            if Xs:
                lhs = lhs + F.T @ cp.hstack([cp.vec(X, order="F") for X in Xs])
            link = lhs == program.c
            obj = program.c0 - (program.b_ineq @ z if z is not None else 0)
            if mu is not None:
                obj = obj + program.b_eq @ mu
            if Xs:
                obj = obj - f0 @ cp.hstack([cp.vec(X, order="F") for X in Xs])
            model = cp.Problem(cp.Maximize(obj), [link])
        t0 = time.perf_counter()
        try:
            model.solve(solver=self.solver, verbose=options.verbose, **self._solver_kwargs(options))
        except cp.error.SolverError as exc:
            return BackendResult(
                status="solver_error",
                seconds=time.perf_counter() - t0,
                raw={"error": str(exc), "form": form},
            )
        seconds = time.perf_counter() - t0
        status = moment_status(form, self.STATUS_MAP.get(model.status, "solver_error"))
        res = BackendResult(
            status=status, seconds=seconds, raw={"status": model.status, "form": form}
        )
        if status in ("optimal", "inaccurate"):
            if form == "moment":
                res.y = np.asarray(y.value, dtype=float)
                res.mu = -np.asarray(eq.dual_value, dtype=float).ravel() if p else np.zeros(0)
                res.z = np.asarray(ineq.dual_value, dtype=float).ravel() if q else np.zeros(0)
                res.X = [
                    np.zeros((0, 0)) if c is None else 0.5 * (c.dual_value + c.dual_value.T)
                    for c in psd
                ]
            else:
                res.y = np.asarray(link.dual_value, dtype=float).ravel()
                res.mu = np.asarray(mu.value).ravel() if p else np.zeros(0)
                res.z = np.asarray(z.value).ravel() if q else np.zeros(0)
                res.X = (
                    split_full_blocks(
                        np.concatenate([np.asarray(X.value).ravel(order="F") for X in Xs]), sizes
                    )
                    if Xs
                    else []
                )
            res.set_point(program, res.y, res.mu, res.z, res.X)
        return res


def moment_model(program: ConicProgram):
    """The moment form as a cvxpy model: ``(problem, y, eq, ineq, psd)``, ``problem``
    minimizing ``c @ y + c0``; ``eq`` / ``ineq`` are None without such rows, ``psd`` holds one
    ``>> 0`` constraint per block (None for an empty block), each a reshape of one sparse
    product ``F @ y + f`` (no loop over entries)."""
    import cvxpy as cp

    y = cp.Variable(program.n, name="y")
    eq = program.A_eq @ y == program.b_eq if program.A_eq.shape[0] else None
    ineq = program.A_ineq @ y + program.b_ineq >= 0 if program.A_ineq.shape[0] else None
    F, f0 = full_psd_operator(program)
    expr = F @ y + f0 if F.shape[0] else None
    psd, pos = [], 0
    for s in (int(s) for s in program.block_sizes):
        psd.append(cp.reshape(expr[pos : pos + s * s], (s, s), order="F") >> 0 if s else None)
        pos += s * s
    cons = [c for c in [eq, ineq, *psd] if c is not None]
    return cp.Problem(cp.Minimize(program.c @ y + float(program.c0)), cons), y, eq, ineq, psd


class MosekBackend(CvxpyBackend):
    """MOSEK through cvxpy; only usable with an installed package and a valid license."""

    name = "mosek"
    requires = "mosek"

    def __init__(self) -> None:
        super().__init__("MOSEK")
        self.name = "mosek"

    def available(self) -> bool:
        try:
            self._check()
        except SolverUnavailable:
            return False
        return True

    def _check(self) -> None:
        try:
            import mosek
        except ImportError:
            raise SolverUnavailable(
                "MOSEK is not installed: pip install 'polyopt-lipschitz[mosek]' and install a "
                "license (MOSEKLM_LICENSE_FILE or ~/mosek/mosek.lic), or use solver='sdpa'"
            ) from None
        try:
            with mosek.Env() as env:
                env.checkoutlicense(mosek.feature.pts)
        except mosek.Error as exc:
            raise SolverUnavailable(
                f"MOSEK has no usable license ({exc}); set MOSEKLM_LICENSE_FILE or place "
                "mosek.lic in ~/mosek, or use solver='sdpa' / 'clarabel' / 'scs'"
            ) from None
