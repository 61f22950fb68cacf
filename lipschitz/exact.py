"""Exact Lipschitz constants by mixed-integer programming (LipMIP) and its LP relaxation.

``exact`` solves the program of :mod:`lipschitz.mip_encoding` with HiGHS (or SCIP). The value
reported for an optimal solve is recomputed in floating point from the optimal activation
pattern, and checked: an LP finds a point strictly inside that pattern's activation region,
where the network's own gradient gives a lower bound (``lower``); ``upper`` is the solver's
dual bound. A time limit (or a requested ``rel_gap``) returns the bracket
``lower <= L <= upper`` with status ``"time_limit"`` (``"gap"``) and ``value = upper``: never a
value presented as exact that the solver did not prove.

``liplp`` is the LP relaxation of the same program (binaries in ``[0, 1]``), reported through a
bound from the LP duals that holds in exact arithmetic.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linprog

from .lcep import NeuronCounts
from .lower import lower_bound
from .milp import solve_lp_certified, solve_milp
from .mip_encoding import (
    GradientMIP,
    encode_gradient_norm,
    resolve_output_norm,
    tighten_bounds,
)
from .network import ReLUNetwork
from .result import LipschitzBound
from .spec import Box, dual_norm, resolve_domain, resolve_norm, resolve_output

EXACT_REL_TOL = 1e-6
"""An optimal solve whose bracket is wider than this (relative) is reported as ``"gap"``."""

REGION_MARGIN = 1e-9


@dataclass(repr=False)
class ExactValue(LipschitzBound):
    """An exact Lipschitz constant with the bracket ``lower <= L <= upper`` that proves it."""

    lower: float = float("nan")
    upper: float = float("nan")

    @property
    def gap(self) -> float:
        return float((self.upper - self.lower) / max(abs(self.upper), 1e-300))

    def __repr__(self) -> str:
        return (
            f"ExactValue({self.value:.6g}, bracket [{self.lower:.6g}, {self.upper:.6g}], "
            f"status={self.status!r}, {self.seconds:.3g} s)"
        )


def _spec(net, norm, domain, output, output_norm):
    if not isinstance(net, ReLUNetwork):
        raise TypeError(f"net must be a ReLUNetwork, got {type(net).__name__}")
    norm = resolve_norm(norm)
    if norm == "2":
        raise ValueError(
            "the MIP encoding needs a polyhedral dual norm: use norm='inf' or '1' "
            "(for L2 use upper_bound / lower_bound)"
        )
    box = resolve_domain(domain, net.input_dim)
    if output_norm is not None:
        if output is not None:
            raise ValueError("give either output= (a scalar functional) or output_norm=, not both")
        return norm, box, None, resolve_output_norm(output_norm, net.output_dim)
    return norm, box, resolve_output(output, net.output_dim), None


def _pattern(enc: GradientMIP, xs: np.ndarray) -> list[np.ndarray]:
    """The 0/1 activation pattern of a MIP solution (stable neurons from the intervals)."""
    masks = []
    for u, act in zip(enc.u, enc.active):
        m = act.astype(float)
        free = u >= 0
        m[free] = np.round(xs[u[free]])
        masks.append(m)
    return masks


def _jacobian(net: ReLUNetwork, masks: list[np.ndarray]) -> np.ndarray:
    """``J^T`` of the pattern: ``(input_dim, output_dim)``."""
    G = net.weights[-1].T
    for k in range(net.depth - 1, -1, -1):
        G = net.weights[k].T @ (masks[k][:, None] * G)
    return G


def _value(net, enc: GradientMIP, masks, xs, c, norm, direction=None) -> tuple[float, np.ndarray]:
    """The objective of a pattern, and the output functional attaining it."""
    JT = _jacobian(net, masks)
    if c is not None:
        return float(dual_norm(JT @ c, norm)), c
    if enc.vertices is not None:
        cands = list(enc.vertices)
    elif enc.t is not None or direction is not None:  # l1 output norm: sign pattern of J t
        t = direction if direction is not None else xs[enc.t]
        cands = [np.sign(JT.T @ t)]
    else:
        cands = [xs[enc.w], np.sign(xs[enc.w])]
    vals = [float(dual_norm(JT @ v, norm)) for v in cands]
    best = int(np.argmax(vals))
    return vals[best], cands[best]


def _interior_point(net: ReLUNetwork, box: Box, masks) -> np.ndarray | None:
    """A point strictly inside the pattern's activation region, or None if it has no
    interior (margin LP as in the region enumeration)."""
    n = net.input_dim
    rows, offs = [], []
    A, d = np.eye(n), np.zeros(n)
    for k in range(net.depth):
        Z = net.weights[k] @ A
        z0 = net.weights[k] @ d + net.biases[k]
        sign = np.where(masks[k] > 0, 1.0, -1.0)
        norms = np.linalg.norm(Z, axis=1)
        scale = 1e-14 * (1.0 + np.abs(net.weights[k]).max() * max(1.0, np.abs(A).max()))
        for j in np.flatnonzero(norms > scale):
            rows.append(np.append(-sign[j] * Z[j], norms[j]))
            offs.append(sign[j] * z0[j])
        A, d = masks[k][:, None] * Z, masks[k] * z0
    eye = np.eye(n)
    for i in range(n):
        rows.append(np.append(-eye[i], 1.0))
        offs.append(-box.lower[i])
        rows.append(np.append(eye[i], 1.0))
        offs.append(box.upper[i])
    cost = np.zeros(n + 1)
    cost[-1] = -1.0
    res = linprog(
        cost,
        A_ub=np.array(rows),
        b_ub=np.array(offs),
        bounds=[(None, None)] * (n + 1),
        method="highs",
    )
    if res.status != 0 or -res.fun <= REGION_MARGIN:
        return None
    return res.x[:n]


def _certified_lower(net, box, masks, w, norm, x_star, seed=0) -> tuple[float, bool]:
    """A lower bound from the network's own gradient strictly inside the pattern's region
    (``True``), else the best gradient at random points near the MIP's point."""
    x0 = _interior_point(net, box, masks)
    if x0 is not None:
        return float(dual_norm(net.gradients(x0, w), norm)), True
    rng = np.random.default_rng(seed)
    pts = box.clip(x_star + 1e-6 * box.radius * rng.uniform(-1, 1, size=(256, box.dim)))
    zs = net.preactivations(pts)
    ok = np.all([np.all(z != 0, axis=1) for z in zs], axis=0)
    if not ok.any():
        return 0.0, False
    return float(dual_norm(net.gradients(pts[ok], w), norm).max()), False


def exact(
    net: ReLUNetwork,
    domain: Any = "global",
    output: Any = None,
    norm: Any = "inf",
    output_norm: Any = None,
    solver: str = "highs",
    time_limit: float | None = None,
    rel_gap: float = 0.0,
    mode: str = "forward",
    formulation: str = "bigm",
    tighten: bool = True,
    split: bool | None = None,
    warm_start: bool = True,
    verbose: bool = False,
) -> ExactValue:
    """The exact Lipschitz constant of a ReLU network on a box (LipMIP).

    Parameters
    ----------
    net, domain, output, norm
        As in :func:`lipschitz.upper_bound`; ``norm`` is ``"inf"`` (max ``||grad||_1``) or
        ``"1"`` (max ``||grad||_inf``).
    output_norm
        For the whole output vector instead of one functional: ``"inf"``, ``"1"`` (norms on
        the outputs), ``"cross"`` or ``("cross", i)`` (LipMIP's cross-norms for untargeted
        robustness); ``output`` must then be None.
    solver
        ``"highs"`` (default, through SciPy) or ``"scip"`` (needs pyscipopt).
    time_limit
        Seconds; when reached the result has status ``"time_limit"`` and the bracket.
    rel_gap
        Stop once ``(upper - lower) / upper <= rel_gap`` (LipMIP(x%)); status ``"gap"`` when
        the bracket is then wider than ``EXACT_REL_TOL``.

    Returns
    -------
    ExactValue
        ``value`` (exact when ``status == "optimal"``, else the upper end of the bracket),
        ``lower``, ``upper``, ``status``, ``info`` (solver, nodes, the maximizing point and
        pattern, whether the pattern's region was verified full-dimensional).
    """
    t0 = time.perf_counter()
    norm, box, c, onorm = _spec(net, norm, domain, output, output_norm)
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be > 0 seconds, got {time_limit!r}")
    if not 0 <= rel_gap < 1:
        raise ValueError(f"rel_gap must be in [0, 1), got {rel_gap!r}")
    split = norm == "1" and mode == "forward" if split is None else bool(split)
    if split and (norm != "1" or mode != "forward"):
        raise ValueError("split=True applies to norm='1' in forward mode only")
    pre = tan = None
    if tighten:
        pre, tan = tighten_bounds(net, box, norm, c, onorm, mode, formulation, not split)
    t_bounds = time.perf_counter() - t0
    if split:
        directions = [s * e for e in np.eye(net.input_dim) for s in (1.0, -1.0)]
    else:
        directions = [None]
    encs = [
        encode_gradient_norm(net, box, norm, c, onorm, mode, pre, tan, formulation, d)
        for d in directions
    ]
    order = sorted(range(len(encs)), key=lambda k: -encs[k].cap)
    deadline = None if time_limit is None else t0 + time_limit
    best = -np.inf
    best_eval: dict[str, Any] | None = None
    if warm_start and c is not None:  # a good point first: the programs only look above it
        best_eval = _search_start(net, box, c, norm)
        best = best_eval["value"]
    uppers, nodes, statuses = [], 0, []
    cutoff_slack = 0.0  # a program proved to have nothing above best + this
    for k in order:
        enc = encs[k]
        if enc.cap <= best:  # its interval bound cannot beat what is found
            continue
        remaining = None if deadline is None else deadline - time.perf_counter()
        if remaining is not None and remaining <= 0:
            uppers.append(enc.cap)
            statuses.append("time_limit")
            continue
        if np.isfinite(best):  # only a better value is of interest
            idx = np.array(list(enc.model.cost), dtype=np.int64)
            vals = np.array([enc.model.cost[i] for i in idx])
            slack = 1e-9 * max(1.0, abs(best))
            enc.model.row(idx, vals, lo=best - enc.offset + slack)
        out = solve_milp(enc.model, solver, remaining, max(rel_gap, 1e-10), verbose=verbose)
        nodes += out.nodes
        if out.status == "infeasible" and np.isfinite(best):
            cutoff_slack = max(cutoff_slack, slack)
            continue  # nothing above the cutoff
        if out.status in ("infeasible", "unbounded", "error") or (
            out.x is None and out.status != "time_limit"
        ):
            raise RuntimeError(f"the LipMIP program returned {out.status!r}: {out.message}")
        statuses.append(out.status)
        uppers.append(min(out.bound + enc.offset, enc.cap))  # the intervals bound it too
        if out.x is not None:
            ev = _evaluate(net, box, enc, out.x, c, norm, directions[k])
            if ev["value"] > best:
                best, best_eval = ev["value"], ev
                best_eval["objective"] = out.objective + enc.offset
    # the two are separate floating-point evaluations of one number when verified
    lower = min(best_eval["lower"], best) if best_eval is not None else 0.0
    upper = max(uppers + [best + cutoff_slack]) if uppers or np.isfinite(best) else np.inf
    status = "time_limit" if "time_limit" in statuses else "optimal"
    if status == "optimal" and upper - lower > EXACT_REL_TOL * max(abs(upper), 1.0):
        status = "gap"
    value = best if status == "optimal" else upper
    info: dict[str, Any] = {
        "solver": solver,
        "nodes": nodes,
        "programs": len(encs),
        "solved": len(statuses),
        "bounds_seconds": t_bounds,
    }
    if best_eval is not None:
        info.update(best_eval)
    neurons = NeuronCounts.from_masks(encs[0].active, encs[0].inactive).as_dict()
    return ExactValue(
        float(value),
        kind="exact",
        method="lipmip",
        status=status,
        sound=status == "optimal",
        seconds=time.perf_counter() - t0,
        norm=norm,
        sizes=encs[0].counts,
        neurons=neurons,
        info=info,
        lower=float(lower),
        upper=float(upper),
    )


def _search_start(net, box, c, norm) -> dict[str, Any]:
    """The region search's lower bound as the starting incumbent: an actual gradient at a
    point where no pre-activation is 0 (so its region has an interior)."""
    lb = lower_bound(net, method="search", norm=norm, domain=box, output=c, samples=2000, starts=16)
    x = np.asarray(lb.info["argmax"], dtype=float).reshape(-1)
    return {
        "value": float(lb.value),
        "lower": float(lb.value),
        "verified": True,
        "argmax": x,
        "pattern": [(z.reshape(-1) > 0).astype(float) for z in net.preactivations(x)],
        "output_functional": c,
        "found_by": "search",
    }


def _evaluate(net, box, enc, xs, c, norm, direction) -> dict[str, Any]:
    """Value of a MIP solution's activation pattern, and a certified lower bound."""
    masks = _pattern(enc, xs)
    value, w = _value(net, enc, masks, xs, c, norm, direction)
    lower, verified = _certified_lower(net, box, masks, w, norm, xs[enc.x])
    return {
        "value": value,
        "lower": lower,
        "verified": verified,
        "found_by": "mip",
        "argmax": xs[enc.x],
        "pattern": masks,
        "output_functional": w,
    }


def liplp(
    net: ReLUNetwork,
    domain: Any = "global",
    output: Any = None,
    norm: Any = "inf",
    output_norm: Any = None,
    mode: str = "backward",
) -> LipschitzBound:
    """LipLP: the LP relaxation of the LipMIP program, an upper bound certified by its duals.

    ``mode="backward"`` (default) relaxes LipMIP's own program (appendix D, interval bounds);
    ``"forward"`` relaxes the forward-mode program that :func:`exact` solves (for the L1
    norm: the largest of the ``2 n`` direction LPs).
    """
    t0 = time.perf_counter()
    norm, box, c, onorm = _spec(net, norm, domain, output, output_norm)
    if mode not in ("forward", "backward"):
        raise ValueError(f"unknown mode {mode!r}: use 'forward' or 'backward'")
    if mode == "forward" and norm == "1":
        directions = [s * e for e in np.eye(net.input_dim) for s in (1.0, -1.0)]
    else:
        directions = [None]
    value, status, lp_value, solve_seconds = -np.inf, "optimal", -np.inf, 0.0
    for d in directions:
        enc = encode_gradient_norm(net, box, norm, c, onorm, mode, direction=d)
        out, bound = solve_lp_certified(enc.model)
        solve_seconds += out.seconds
        if out.status != "optimal":
            status, value = out.status, np.nan
            break
        value = max(value, bound + enc.offset)
        lp_value = max(lp_value, out.objective + enc.offset)
    info = {
        "solver": "highs",
        "solve_seconds": solve_seconds,
        "lp_value": lp_value,
        "mode": mode,
        "programs": len(directions),
    }
    neurons = NeuronCounts.from_masks(enc.active, enc.inactive).as_dict()
    return LipschitzBound(
        float(value),
        "upper",
        "liplp",
        status=status,
        sound=bool(np.isfinite(value)),
        seconds=time.perf_counter() - t0,
        norm=norm,
        sizes=enc.counts,
        neurons=neurons,
        info=info,
    )
