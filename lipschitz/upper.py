"""Upper bounds on Lipschitz constants: SDP relaxations of the LCEP and closed-form baselines."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import numpy as np

from polyopt import NotArrow, grothendieck_sdp
from polyopt.backends import SolverHints, choose_solvers, fallback_worth_trying
from polyopt.conic import FactoredTooLarge
from polyopt.logs import logs_when_verbose

from .baselines import fastlip_bound, gradient_bounds, naive_bound  # noqa: F401
from .intervals import NeuronCounts, stability
from .lcep import build_lcep
from .network import ReLUNetwork, round_up
from .result import LipschitzBound
from .sign_program import gradient_program
from .spec import dual_norm_upper, resolve

log = logging.getLogger("lipschitz")

UPPER_METHODS = ("hr", "shor", "naive", "fastlip")
U = 2.0**-53
MIXING_OPTIONS = {"rank", "tol", "max_iter", "threshold", "check_every", "warm_start", "seed"}
"""``solver_options`` of ``solver="mixing"`` (see :func:`polyopt.grothendieck_sdp`)."""
MIXING_STATUS = {"stalled": "inaccurate"}
"""The sign-program solver's statuses in the vocabulary of :class:`LipschitzBound`."""
SOLVED_PREFERENCE = 1e-6
"""A fallback solved to tolerance replaces a certified bound from a solve that stopped short
unless that bound is smaller by more than this (relative)."""


@logs_when_verbose("lipschitz", "polyopt")
def upper_bound(
    net: ReLUNetwork,
    order: int | None = None,
    method: str = "hr",
    norm: Any = "inf",
    domain: Any = "global",
    output: Any = None,
    solver: str | None = None,
    cuts: bool = True,
    tol: float | None = None,
    time_limit: float | None = None,
    solver_options: dict[str, Any] | None = None,
    verbose: bool = False,
) -> LipschitzBound:
    """An upper bound on the Lipschitz constant of ``c . net`` on ``domain``.

    Parameters
    ----------
    net
        The network.
    order
        Relaxation order of ``method="hr"``: 2 (HR-2, default) or 1 (HR-1, the first-order
        relaxation, which equals Shor's). Only valid with ``"hr"``.
    method
        ``"hr"`` (the heuristic hierarchy HR-d on the LCEP), ``"shor"`` (Shor's relaxation of
        the LCEP), ``"naive"`` (product of layer norms) or ``"fastlip"`` (interval bounds on
        the gradient).
    norm
        The input norm: ``"inf"`` (default), ``"1"`` or ``"2"``; the bound is on the dual norm
        of the gradient.
    domain
        ``"global"`` (the box of radius 10 around 0), a :class:`Box` or ``(center, radius)``.
    output
        ``None`` (scalar networks), an int (one logit), ``(i, r)`` (``f_i - f_r``) or a vector.
    solver, tol, solver_options
        Passed to :func:`polyopt.solve` for the SDP methods.
    time_limit
        Wall-clock limit in seconds for the whole call (fallback solvers included). A call
        stopped short returns the smaller of its last certified relaxation bound and
        Fast-Lip's, with status ``"time_limit"`` (``info["bound_from"] = "fastlip"`` when
        Fast-Lip's is smaller).
    verbose
        Show the progress (LCEP size, solver choice, each solve and fallback) and the
        solvers' own logs on stderr.
    cuts
        Add the valid interval cuts to the LCEP (see :mod:`lipschitz.lcep`).
    """
    t0 = time.perf_counter()
    norm, box, c = resolve(net, norm, domain, output)
    if method not in UPPER_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {UPPER_METHODS}")
    if order is not None and method != "hr":
        raise ValueError(f"order= applies to method='hr' only, not {method!r}")
    order = 2 if order is None else order
    if method == "hr" and (
        isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order not in (1, 2)
    ):
        raise ValueError(f"HR order must be 1 or 2, got {order!r} (an integer is needed)")
    order = int(order)
    if time_limit is not None and not (np.isfinite(time_limit) and time_limit > 0):
        raise ValueError(f"time_limit must be a positive number of seconds, got {time_limit!r}")
    _, active, inactive = stability(net, box)
    neurons = NeuronCounts.from_masks(active, inactive).as_dict()
    if method == "naive":
        value = naive_bound(net, c, norm)
        return LipschitzBound(
            value, "upper", "naive", seconds=time.perf_counter() - t0, norm=norm, neurons=neurons
        )
    if method == "fastlip":
        value = fastlip_bound(net, box, c, norm)
        return LipschitzBound(
            value, "upper", "fastlip", seconds=time.perf_counter() - t0, norm=norm, neurons=neurons
        )
    bound = _sdp_bound(
        net,
        box,
        c,
        norm,
        method,
        order,
        solver,
        cuts,
        tol,
        time_limit,
        solver_options,
        t0,
        verbose=verbose,
    )
    if bound.status == "time_limit":
        # stopped short: the relaxation's last certified bound can be loose, or missing;
        # Fast-Lip's is sound and cheap, and the smaller of two valid bounds is valid
        cheap = fastlip_bound(net, box, c, norm)
        if not (bound.sound and np.isfinite(bound.value) and bound.value <= cheap):
            info = dict(bound.info, stopped_value=bound.value, bound_from="fastlip")
            bound = dataclasses.replace(bound, value=cheap, sound=True, info=info)
    log.info("%s", bound)
    return bound


def _time_left(t0: float, time_limit: float | None) -> float | None:
    """Seconds left of the call's time limit (None: no limit; at least a millisecond, so that
    a solve called late stops at once with status "time_limit")."""
    return None if time_limit is None else max(time_limit - (time.perf_counter() - t0), 1e-3)


def _out_of_time(t0: float, time_limit: float | None) -> bool:
    return time_limit is not None and time.perf_counter() - t0 >= time_limit


def _uses_mixing(net, box, norm, method, order, solver) -> bool:
    """Does this Shor / HR-1 bound go to the sign-program solver (:func:`_mixing_bound`)?"""
    first_order = method == "shor" or order == 1
    if solver == "mixing":
        if not (first_order and net.depth == 1 and norm == "inf"):
            raise ValueError(
                "solver='mixing' solves Shor / HR-1 of one-hidden-layer networks for the "
                "L-inf input norm only"
            )
        return True
    if solver is not None or not first_order or net.depth != 1 or norm != "inf":
        return False
    _, active, inactive = stability(net, box)
    unstable = NeuronCounts.from_masks(active, inactive).total_unstable
    side = 1 + 2 * net.input_dim + unstable  # of the moment matrix of its LCEP
    hints = SolverHints(moment_side=side, first_order=True, depth=1, sign_program=True)
    return choose_solvers(hints=hints)[0] == "mixing"


def _mixing_bound(net, box, c, name, tol, time_limit, solver_options, t0) -> LipschitzBound:
    """Shor's bound of the sign program of the gradient (:mod:`lipschitz.sign_program`),
    solved by the mixing method with a certified dual bound."""
    program = gradient_program(net, box, c)
    opts = dict(solver_options or {})
    unknown = set(opts) - MIXING_OPTIONS
    if unknown:
        raise ValueError(
            f"unknown solver option(s) for solver='mixing': {', '.join(sorted(unknown))}; "
            f"choose among {', '.join(sorted(MIXING_OPTIONS))}"
        )
    if tol is not None:
        opts["tol"] = tol
    if time_limit is not None:
        opts["time_limit"] = max(time_limit - (time.perf_counter() - t0), 1e-3)
    neurons = program.counts.as_dict()
    if program.G.shape[1] == 1:  # every neuron stable: the gradient is constant
        value = float(round_up(np.sum(np.abs(program.G)) * (1 + 4 * U) + program.error))
        return LipschitzBound(
            value,
            "upper",
            name,
            seconds=time.perf_counter() - t0,
            norm="inf",
            neurons=neurons,
            info={"exact": True, "solver": "mixing"},
        )
    log.info(
        "%s: sign program of side %d (%d unstable neurons), mixing method",
        name,
        sum(program.G.shape),
        program.G.shape[1] - 1,
    )
    res = grothendieck_sdp(program.G, program.h, **opts)
    log.info("%s: %d sweeps, status %s, %.2f s", name, res.iterations, res.status, res.seconds)
    value = float(round_up(round_up(res.bound + program.constant) + program.error))
    status = MIXING_STATUS.get(res.status, res.status)
    p, q = program.G.shape
    return LipschitzBound(
        value,
        "upper",
        name,
        status=status,
        sound=bool(np.isfinite(value)),
        seconds=time.perf_counter() - t0,
        norm="inf",
        sizes={"psd_side": p + q, "rank": res.rank},
        neurons=neurons,
        info={
            "solver": "mixing",
            "form": "sign program",
            "iterations": res.iterations,
            "solve_seconds": res.seconds,
            "primal_value": res.value + program.constant,
            "rounding": program.error,
            "result": res,
        },
    )


def _sdp_bound(
    net,
    box,
    c,
    norm,
    method,
    order,
    solver,
    cuts,
    tol,
    time_limit,
    solver_options,
    t0,
    verbose=False,
) -> LipschitzBound:
    name = "shor" if method == "shor" else f"hr-{order}"
    if _uses_mixing(net, box, norm, method, order, solver):
        return _mixing_bound(net, box, c, name, tol, time_limit, solver_options, t0)
    # first-order relaxations: z substituted (same relaxation, no dense null space); HR-2
    # keeps z in the cliques with affine links, which HR-d then eliminates from M_1
    hr2 = method == "hr" and order == 2
    lcep = build_lcep(net, box, norm, c, cuts=cuts, substitute=not hr2, affine_links=hr2)
    neurons = lcep.counts.as_dict()
    log.info(
        "%s: LCEP with %d variables, %d constraints (neurons %s) built in %.2f s",
        name,
        0 if lcep.problem is None else lcep.problem.nvars,
        0 if lcep.problem is None else len(lcep.problem.constraints),
        neurons,
        time.perf_counter() - t0,
    )
    if lcep.problem is None:  # every neuron stable: the gradient is constant on the box
        value = dual_norm_upper(lcep.constant_gradient, norm)
        return LipschitzBound(
            value,
            "upper",
            name,
            seconds=time.perf_counter() - t0,
            norm=norm,
            neurons=neurons,
            info={"exact": True},
        )
    opts: dict[str, Any] = {
        "solver": solver,
        "tol": tol,
        "time_limit": time_limit,
        "solver_options": solver_options,
        "verbose": verbose,
    }
    relax_opts: dict[str, Any] = (
        {"order": 2, "sparsity": "nearly", "cliques": lcep.cliques, "bad": lcep.bad}
        if method == "hr" and order == 2
        else {"order": 1, "settle": False}  # Shor's relaxation itself, as asked
    )
    # the first solver, then the fallbacks: polyopt's policy (None: its default by size)
    hints = SolverHints(
        moment_side=lcep.problem.nvars + 1, first_order=relax_opts["order"] == 1, depth=net.depth
    )
    first, *fallbacks = [solver] if solver is not None else choose_solvers(hints=hints)
    attempts = []
    try:
        r = lcep.problem.solve(
            **relax_opts, **{**opts, "solver": first, "time_limit": _time_left(t0, time_limit)}
        )
        attempts.append((r.solver, r.status))
        log.info("%s: %s gave %.10g (%s)", name, r.solver, r.bound, r.status)
    except NotArrow:  # no block-arrow structure: the fallbacks below
        if solver is not None:
            raise
        r = None
        attempts.append(("arrow", "not applicable"))

    def good(res) -> bool:
        return res is not None and res.certified and np.isfinite(res.bound)

    def solved(res) -> bool:
        return good(res) and res.status == "optimal"

    if solver is None and not solved(r):
        # the default solver did not solve it to tolerance: try the others while they are
        # practical, keep the best certified bound
        for other in fallbacks:
            if other in {a for a, _ in attempts}:
                continue
            moments = 0 if r is None else r.sizes.get("variables", 0) + 1
            if not fallback_worth_trying(moments, certified=good(r)):
                continue  # a certified bound is in hand; the fallback would take too long
            if _out_of_time(t0, time_limit):
                break
            left = _time_left(t0, time_limit)
            try:
                alt = lcep.problem.solve(
                    **relax_opts, **{**opts, "solver": other, "time_limit": left}
                )
            except FactoredTooLarge:  # it would expand HR-2's factored rows: no fit
                attempts.append((other, "not applicable"))
                continue
            attempts.append((alt.solver, alt.status))
            log.info("%s: fallback %s gave %.10g (%s)", name, alt.solver, alt.bound, alt.status)
            # a solve to tolerance is preferred unless the other bound is materially tighter
            slack = SOLVED_PREFERENCE if solved(alt) and not solved(r) else 1e-9
            if good(alt) and (not good(r) or alt.bound <= r.bound * (1 + slack) + 1e-12):
                r = alt
            elif r is None:
                r = alt
            if solved(r):
                break
    if r is None:  # the time limit ran out before any solver ran
        return LipschitzBound(
            float("nan"),
            "upper",
            name,
            status="time_limit",
            sound=False,
            seconds=time.perf_counter() - t0,
            norm=norm,
            neurons=neurons,
            info={"attempts": attempts},
        )
    value, sound = float(r.bound), bool(r.certified)
    first_order = None
    left = _time_left(t0, time_limit)
    if solver is None and hr2 and not solved(r) and not _out_of_time(t0, time_limit):
        # an HR-2 solve that stopped short certifies a looser dual bound than the relaxation's
        # value, possibly above the first-order one: the tighter of the two valid bounds
        log.info("%s: not solved to tolerance; computing HR-1 as a safeguard", name)
        first_order = _sdp_bound(
            net,
            box,
            c,
            norm,
            "hr",
            1,
            None,
            cuts,
            tol,
            left,
            solver_options,
            time.perf_counter(),
            verbose=verbose,
        )
        if first_order.sound and (not good(r) or first_order.value < value):
            value, sound = first_order.value, True
    sizes = dict(r.sizes)
    sizes.update(
        variables=lcep.problem.nvars, constraints=len(lcep.problem.constraints), lifted=lcep.lifted
    )
    return LipschitzBound(
        value,
        "upper",
        name,
        status=r.status,
        sound=sound,
        seconds=time.perf_counter() - t0,
        norm=norm,
        sizes=sizes,
        neurons=neurons,
        info={
            "solver": r.solver,
            "form": r.form,
            "build_seconds": r.build_seconds,
            "solve_seconds": r.solve_seconds,
            "iterations": r.iterations,
            "dual_value": r.dual_value,
            "primal_value": r.primal_value,
            "result": r,
            "attempts": attempts,
            "hr2_bound": float(r.bound) if hr2 else None,
            "order1_bound": None if first_order is None else first_order.value,
        },
    )
