"""Build a relaxation, pick a backend, solve, and wrap the outcome in a :class:`Result`."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import numpy as np

from .backends import SolverOptions, default_solver, get_backend
from .backends.base import SolverMemoryError
from .backends.deadline import solve_before
from .backends.policy import CLARABEL_RECOVERY_SIDE
from .certificate import certificate_error, certified_bounds
from .logs import logs_when_verbose
from .model import Problem
from .relaxations.assemble import Relaxation
from .relaxations.dense import dense
from .result import Result
from .settle import correlative_is_smaller, settle_dense
from .time_limit import TimeLimitReached, run_before

log = logging.getLogger("polyopt")

FORMS = ("auto", "moment", "gram", "reduced")


MEMORY_FALLBACK = "scs"
"""The solver used when the default one would not fit in memory (first order: its memory
grows with the program's size, not with its square)."""

SPARSITY = ("dense", "correlative", "nearly", "term", "correlative+term", "auto")


def relax(
    problem: Problem,
    order: int | None = None,
    sparsity: str | None = None,
    scale: bool = True,
    method: str = "sdp",
    degree: int | None = None,
    **options: Any,
) -> Relaxation:
    """Build the moment relaxation of ``problem``.

    ``sparsity``: ``None`` / ``"dense"`` (dense Lasserre), ``"correlative"`` (cliques of the
    correlative sparsity pattern; options ``cliques``, ``chordal``, ``ball_radii``) or
    ``"nearly"`` (the heuristic HR-d; options ``cliques``, ``bad``, ``chordal``, ``eliminate``).
    ``method="lp"`` builds the Krivine-Stengle LP hierarchy of degree ``degree`` instead
    (``sparsity="correlative"`` or ``cliques`` restrict products to cliques).
    """
    if method == "lp":
        from .relaxations.lp import lp_relaxation

        if order is not None:
            raise ValueError("order= applies to the SDP hierarchy; use degree= with method='lp'")

        return lp_relaxation(
            problem, degree, sparse=sparsity == "correlative", scale=scale, **options
        )
    if method != "sdp":
        raise ValueError(f"unknown method {method!r}; choose 'sdp' or 'lp'")
    if degree is not None:
        raise ValueError("degree= applies to method='lp'; use order= for the SDP hierarchy")
    if sparsity in (None, "dense"):
        if options:
            raise ValueError(
                f"option(s) {sorted(options)} need a sparse relaxation: sparsity='correlative', "
                "'nearly', 'term', 'correlative+term' or 'auto' (each takes its own options)"
            )
        return dense(problem, order, scale=scale)
    if sparsity == "auto":
        from .relaxations.auto import auto_relaxation

        return auto_relaxation(problem, order, dict(options, scale=scale))
    if sparsity in ("term", "correlative+term"):
        from .relaxations.term import resolve_term

        return resolve_term(problem, order, sparsity, dict(options, scale=scale))
    if sparsity in ("correlative", "nearly"):
        from .relaxations.sparse import resolve_sparsity

        return resolve_sparsity(problem, order, sparsity, dict(options, scale=scale))
    raise ValueError(f"unknown sparsity {sparsity!r}; choose one of {SPARSITY}")


@logs_when_verbose("polyopt")
def solve(
    problem: Problem,
    order: int | None = None,
    *,
    solver: str | None = None,
    form: str = "auto",
    sparsity: str | None = None,
    tol: float | None = None,
    max_iters: int | None = None,
    time_limit: float | None = None,
    verbose: bool = False,
    scale: bool = True,
    solver_options: dict[str, Any] | None = None,
    method: str = "sdp",
    degree: int | None = None,
    cliques: Any = None,
    bad: Any = None,
    chordal: str | None = None,
    ball_radii: Any = None,
    eliminate: bool | None = None,
    ts_step: int | None = None,
    ts_chordal: str | None = None,
    settle: bool = True,
) -> Result:
    """Solve the moment-SOS relaxation of order ``order`` of ``problem``.

    Parameters
    ----------
    order
        Relaxation order ``d`` (moments up to degree ``2d``); default: the smallest valid one.
    solver
        ``"clarabel"``, ``"scs"``, ``"sdpa"``, ``"highs"``, ``"mosek"`` or ``"cvxpy:NAME"``;
        default chosen by size (see :func:`polyopt.backends.default_solver`).
    form
        ``"moment"`` (LMI in the moments), ``"gram"`` (SOS Gram matrices, one equality per
        moment) or ``"auto"`` (the cheaper one for the solver, from measurements).
    sparsity
        ``None`` / ``"dense"``: the dense hierarchy; ``"correlative"``: the sparse hierarchy on
        the cliques of a chordal extension of the correlative sparsity graph; ``"nearly"``: the
        heuristic hierarchy HR-d; ``"term"``: the TSSOS term-sparse hierarchy;
        ``"correlative+term"``: CS-TSSOS (term sparsity inside the correlative cliques);
        ``"auto"``: chosen by the structure (see :mod:`polyopt.relaxations.auto`).
    ts_step, ts_chordal
        Term sparsity options: the TS step ``k`` (default 1; each step is at least as tight as
        the one before with ``ts_chordal="block"``) and the chordal extension of the term
        sparsity graphs (``"block"``: connected components, the default; ``"min_degree"`` or
        ``"min_fill"``: an approximately smallest one).
    method, degree
        ``"sdp"`` (moment-SOS, default) or ``"lp"``: the Krivine-Stengle / Handelman LP
        hierarchy of degree ``degree`` (variables must be bounded), solved with HiGHS.
    cliques, chordal, ball_radii, bad, eliminate
        Sparsity options: caller cliques (lists of variable positions or names), the chordal
        extension heuristic (``"min_degree"``, ``"min_fill"``, ``"maximal"``), radii of
        redundant ball constraints per clique, the indices of the constraints HR-d treats
        as "bad" (default: detected, see :func:`polyopt.relaxations.sparse.detect_bad_constraints`),
        and whether HR-d removes the variables of bad affine equalities from ``M_1`` (default
        True; the same relaxation, see :func:`polyopt.relaxations.sparse.nearly_sparse`).
    tol
        Solver tolerance (gap and feasibility), ``None`` for the solver's default.
    max_iters
        Iteration limit.
    time_limit
        Wall-clock limit in seconds for the whole call, relaxation build included. Solvers
        that cannot stop in time themselves (Clarabel, SDPA, the block-arrow solver, cvxpy's)
        then run in a child process stopped at the limit; the result has status
        ``"time_limit"`` and the best certified bound the solver reached, or ``nan``.
    verbose
        Show the solver's own log and polyopt's log lines (build, solver choice, result) on
        stderr.
    scale
        Scale variables by the bounds the constraints imply (recommended).
    settle
        For dense requests on problems with clearly smaller correlative cliques: solve the
        correlative relaxation first, and when a feasible point (its first-order moments,
        locally polished) attains that bound, return it: the dense value lies between the two,
        so the problem is solved globally (``raw["settled"]``, see :mod:`polyopt.settle`).
        Otherwise the dense relaxation is solved as asked.
    solver_options
        Solver-specific settings passed through unchanged (unknown keys raise).

    Returns
    -------
    Result
        ``bound`` is a lower bound for ``minimize`` problems and an upper bound for
        ``maximize`` problems; check ``status``.
    """
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r}; choose one of {FORMS}")
    for name, val in (("tol", tol), ("time_limit", time_limit)):
        if val is not None and (not np.isfinite(val) or val <= 0):
            raise ValueError(f"{name} must be a positive number, got {val!r}")
    if max_iters is not None and (not isinstance(max_iters, int) or max_iters < 1):
        raise ValueError(f"max_iters must be a positive integer, got {max_iters!r}")
    t0 = time.perf_counter()
    extra = {
        k: v
        for k, v in (
            ("cliques", cliques),
            ("bad", bad),
            ("chordal", chordal),
            ("ball_radii", ball_radii),
            ("eliminate", eliminate),
            ("ts_step", ts_step),
            ("ts_chordal", ts_chordal),
        )
        if v is not None
    }

    if settle and method == "sdp" and sparsity in (None, "dense") and not extra:
        if correlative_is_smaller(problem, order):
            share = None if time_limit is None else time_limit / 2
            options = dict(solver=solver, form=form, tol=tol, max_iters=max_iters)
            options |= dict(time_limit=share, verbose=verbose, scale=scale)
            try:
                settled = settle_dense(problem, order, options | {"solver_options": solver_options})
            except (ValueError, RuntimeError, MemoryError, ArithmeticError) as exc:
                # only a shortcut: the dense relaxation, as asked, decides
                log.warning("correlative relaxation first failed (%s); solving the dense one", exc)
                settled = None
            if settled is not None:
                return settled

    def build() -> Relaxation:
        return relax(problem, order, sparsity, scale, method=method, degree=degree, **extra)

    try:
        relaxation = build() if time_limit is None else run_before(build, t0 + time_limit)
    except TimeLimitReached:
        return _stopped_while_building(problem, order, sparsity, method, solver, t0)
    build = time.perf_counter() - t0
    program = relaxation.program
    unbounded_moments = bool(np.isinf(relaxation.moment_bounds).any())
    name = solver or default_solver(program, bounded_moments=not unbounded_moments)
    backend = get_backend(name)
    chosen = backend.choose_form(program) if form == "auto" else form

    def options_for(backend, form: str) -> SolverOptions:
        solver_tol = tol
        if tol is None and unbounded_moments:
            # nothing bounds the moments, so the bound cannot be certified: its accuracy is
            # the solver's, and a solver that can is asked for more
            solver_tol = getattr(backend, "uncertified_tol", {}).get(form)
        return SolverOptions(solver_tol, max_iters, time_limit, verbose, dict(solver_options or {}))

    log.info(
        "built the %s relaxation of order %d in %.2f s: %s",
        relaxation.kind,
        relaxation.order,
        build,
        program.sizes(),
    )
    log.info("solving with %s (%s form)", backend.name, chosen)

    def run(backend, chosen):
        opts = options_for(backend, chosen)
        if time_limit is None:
            return backend.solve(program, chosen, opts)
        # the limit holds for the whole call, the relaxation's build included
        return solve_before(backend, program, chosen, opts, t0 + time_limit)

    try:
        res = run(backend, chosen)
    except SolverMemoryError as exc:
        if solver is not None or solver_options:
            raise  # the caller's choice: their call
        # the default solver would not fit: the first-order solver, memory linear in the program
        log.warning("%s; solving with %s instead", exc, MEMORY_FALLBACK)
        backend = get_backend(MEMORY_FALLBACK)
        chosen = backend.choose_form(program)
        res = run(backend, chosen)
        res.raw["memory_fallback"] = str(exc)
    if (
        form == "auto"
        and tol is None
        and unbounded_moments
        and hasattr(backend, "uncertified_tol")  # interior point, accurate in both forms
        and getattr(backend, "compare_forms", True)
        and res.status in ("optimal", "inaccurate")
        and (time_limit is None or time.perf_counter() < t0 + time_limit / 2)
    ):
        res, chosen = _better_of_both_forms(backend, relaxation, res, chosen, run)
    if (
        solver is None
        and not solver_options
        and tol is None
        and form == "auto"
        and unbounded_moments
        and res.status == "inaccurate"
        and backend.name != "clarabel"
        and max(program.block_sizes, default=0) <= CLARABEL_RECOVERY_SIDE
        and (time_limit is None or time.perf_counter() < t0 + time_limit / 2)
    ):
        res, backend, chosen = _recover_with_clarabel(relaxation, res, backend, chosen, run)
    if tol is None and unbounded_moments and stalled_but_accurate(relaxation, res):
        res.status = "optimal"
    # soundness lives in polyopt.certificate: the bound in the problem's units and the sound
    # one (None when nothing is proved) for every relaxation and solver
    bound, sound = certified_bounds(relaxation, res, tol)
    sign = 1.0 if problem.sense == "min" else -1.0
    scale_f = relaxation.obj_scale
    primal = sign * scale_f * res.primal_objective
    result = Result(
        bound=float(bound),
        status=res.status,
        sense=problem.sense,
        order=relaxation.order,
        relaxation=relaxation.kind,
        solver=backend.name,
        form=chosen,
        sound_bound=sound,
        primal_value=float(primal),
        dual_value=float(sign * scale_f * res.dual_objective),
        sizes=program.sizes(),
        build_seconds=build,
        solve_seconds=res.seconds,
        iterations=res.iterations,
        problem=problem,
        relax=relaxation,
        backend_result=res,
        raw=res.raw,
    )
    log.info("%s", result)
    if time_limit is not None and time.perf_counter() > t0 + time_limit:
        return result  # no time left for the search of an unbounded direction
    return _unbounded_check(result, problem)


def _better_of_both_forms(backend, relaxation: Relaxation, res, chosen: str, run):
    """Solve again in the other form and keep the run with the smaller certificate error
    (the dual point's violation at the solver's moments).

    For relaxations whose bound cannot be certified. Degenerate sums of squares (singular
    Gram matrices at the optimum) end differently in the two forms, even when the solver
    reports success: measured with Clarabel at tol 1e-10, chained singular n = 1,000
    correlative gives -1.8e-5 in the Gram form and -1.0e-6 in the moment form, n = 8 dense
    -3.4e-4 and -1.9e-8; generalized Rosenbrock n = 1,000 correlative -6.7e-8 (Gram) and
    -3.1e-4 (moment). The certificate error picks the better one."""
    other = {"gram": "moment", "moment": "gram"}.get(chosen)
    if other is None or other not in backend.forms:
        return res, chosen
    try:
        res2 = run(backend, other)
    except Exception as exc:  # the first run stands
        log.info("the %s form failed (%s); keeping the %s form", other, exc, chosen)
        return res, chosen
    errs = [_certificate_error_or_inf(relaxation, r) for r in (res, res2)]
    log.info("certificate error %.3g (%s form), %.3g (%s form)", errs[0], chosen, errs[1], other)
    if errs[1] < errs[0]:
        res2.raw["other_form"] = {"form": chosen, "certificate_error": float(errs[0])}
        return res2, other
    res.raw["other_form"] = {"form": other, "certificate_error": float(errs[1])}
    return res, chosen


STALLED = ("AlmostSolved", "InsufficientProgress")
"""Solver statuses of a run that stopped short of its tolerance without failing."""

STALLED_ACCEPT = 1e-8
"""Certificate error (scaled problem) up to which a stalled run counts as optimal."""


def stalled_but_accurate(relaxation: Relaxation, res) -> bool:
    """Whether an ``inaccurate`` run stalled short of the tight tolerance polyopt asked for
    (uncertifiable relaxations) at a point whose certificate error is at most
    :data:`STALLED_ACCEPT` times the objective's scale: as accurate as a run that met the
    solver's default tolerance (generalized Rosenbrock / Broyden, 200 variables: the Gram form
    stalls at a primal residual of 1e-7 with a certificate error of 4e-10)."""
    if res.status != "inaccurate" or res.raw.get("status") not in STALLED:
        return False
    err = _certificate_error_or_inf(relaxation, res)
    res.raw["certificate_error"] = err
    return err <= STALLED_ACCEPT * max(1.0, abs(res.dual_objective))


def _recover_with_clarabel(relaxation: Relaxation, res, backend, chosen: str, run):
    """After an ``inaccurate`` run of an uncertifiable relaxation, solve it with Clarabel (in
    both forms) and keep the run with the smaller certificate error.

    Measured on dense order-2 relaxations with 91 x 91 moment matrices (12 variables): SDPA
    takes 11 s but stalls on chained singular (-1.15, "inaccurate"), Clarabel in both forms
    takes about 65 s and reaches -7.7e-6; at side 120 Clarabel takes 3 minutes, hence
    :data:`~polyopt.backends.policy.CLARABEL_RECOVERY_SIDE`."""
    clarabel = get_backend("clarabel")
    if not clarabel.available():
        return res, backend, chosen
    form = clarabel.choose_form(relaxation.program)
    try:
        res2 = run(clarabel, form)
        res2, form = _better_of_both_forms(clarabel, relaxation, res2, form, run)
    except Exception as exc:  # the first run stands (a memory estimate, a failed solve)
        log.info("recovery with clarabel failed (%s); keeping %s", exc, backend.name)
        return res, backend, chosen
    errs = [_certificate_error_or_inf(relaxation, r) for r in (res, res2)]
    log.info("inaccurate %s run (certificate error %.3g), clarabel %.3g", backend.name, *errs)
    if errs[1] < errs[0]:
        res2.raw["recovered_from"] = {"solver": backend.name, "certificate_error": errs[0]}
        return res2, clarabel, form
    return res, backend, chosen


def _certificate_error_or_inf(relaxation: Relaxation, res) -> float:
    ok = res.status in ("optimal", "inaccurate") and res.y is not None and res.X is not None
    return float(certificate_error(relaxation, res)) if ok else float("inf")


def _stopped_while_building(problem, order, sparsity, method, solver, t0) -> Result:
    """The result of a call whose time limit ran out while the relaxation was being built."""
    seconds = time.perf_counter() - t0
    kind = "lp" if method == "lp" else (sparsity or "dense")
    return Result(
        bound=float("nan"),
        status="time_limit",
        sense=problem.sense,
        order=int(order or 0),
        relaxation=kind,
        solver=solver or "",
        form="",
        sound_bound=None,
        primal_value=float("nan"),
        dual_value=float("nan"),
        sizes={},
        build_seconds=seconds,
        solve_seconds=0.0,
        iterations=None,
        problem=problem,
        relax=None,  # type: ignore[arg-type]
        backend_result=None,  # type: ignore[arg-type]
        raw={"stopped": "the time limit ran out while the relaxation was being built"},
    )


UNBOUNDED_CHECK_MAX_VARIABLES = 200
"""Problems with at most this many variables and an unbounded variable box are searched for
a ray proving them unbounded when the solve ends without an optimal finite bound."""


def _unbounded_check(result: Result, problem: Problem) -> Result:
    """``result`` with status ``"unbounded"`` (bound ``-inf``, ``+inf`` for a maximization,
    certified) when :func:`polyopt.unbounded.unbounded_ray` proves the problem unbounded;
    ``raw["unbounded_ray"]`` holds the direction."""
    if result.status == "optimal" and np.isfinite(result.bound):
        return result
    if len(problem.variables) > UNBOUNDED_CHECK_MAX_VARIABLES:
        return result
    lo, hi = problem.variable_box()
    if np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)):
        return result  # a bounded feasible set: never unbounded
    from .unbounded import unbounded_ray

    ray = unbounded_ray(problem)
    if ray is None:
        return result
    inf = -np.inf if problem.sense == "min" else np.inf
    raw = dict(result.raw or {})
    raw["unbounded_ray"] = ray
    raw["solver_status"] = result.status
    return dataclasses.replace(result, status="unbounded", bound=inf, sound_bound=inf, raw=raw)
