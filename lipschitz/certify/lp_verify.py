"""LP and exact (branch-and-bound) verification of logit margins over input boxes.

The LP relaxations are those of Salman et al. 2019 ("A Convex Relaxation Barrier to Tight
Robustness Verification of Neural Networks"): every neuron's ``(z, a)`` lies in the convex
hull of the ReLU's graph over its pre-activation bounds ``[l, u]`` (the triangle
``a >= 0, a >= z, a <= s (z - l)`` with ``s = u / (u - l)`` for an unstable neuron, ``a = z``
or ``a = 0`` for a stable one), the input in its box, and the layers linked by
``z_k = W_k a_{k-1} + b_k``.

- **LP-LAST** (``intermediate="greedy"``): the LP over the network with the CROWN
  pre-activation bounds of :func:`lipschitz.certify.margins.layer_bounds`.
- **LP-ALL** (``intermediate="lp"``): the pre-activation bounds of every hidden layer after
  the first are themselves the LP's minima and maxima over the previous layers (intersected
  with the greedy bounds), layer by layer; the first layer's are exact intervals, so for one
  hidden layer both coincide.

Soundness. HiGHS only *finds* multipliers: every bound returned is
:func:`lipschitz.certify.margins.dual_bound` (the Lagrangian dual of the triangle relaxation,
evaluated in exact arithmetic) at the HiGHS duals ``nu_k`` of the link rows. With the rows
written ``z_k - W_k a_{k-1} = b_k`` and the objective minimized, HiGHS's reduced costs are
``c - A^T y``, so ``c . v = (c - A^T y) . v + y . b`` on the rows: exactly the identity of
:mod:`~lipschitz.certify.margins` with ``nu_k = y_k`` (no sign change). At the LP optimum the
partial Lagrangian over the link rows equals the LP value (the other rows are the hulls that
``dual_bound`` minimizes over exactly), so the certified bound matches the LP optimum up to
rounding.

:func:`milp_verify` decides ``min_i min_x f_r(x) - f_i(x) > 0`` exactly by branch and bound on
the unstable neurons; every pruning bound is a ``dual_bound`` value and every counterexample is
checked with the rigorous logit enclosure of :func:`lipschitz.certify.local.logit_enclosure`.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..exact.milp import new_highs
from ..network import ReLUNetwork, affine_enclosure, round_up
from .local import logit_enclosure
from .margins import (
    dual_bound,
    greedy_multipliers,
    layer_bounds,
    margin_functionals,
    margin_lower_bounds,
)

INTERMEDIATE = ("greedy", "lp")
"""Pre-activation bounds of the hidden layers after the first: CROWN (LP-LAST) or LP-tightened
(LP-ALL)."""

Bounds = list[tuple[np.ndarray, np.ndarray]]


# ---------------------------------------------------------------------------- the LP
def _relu_state(l: np.ndarray, u: np.ndarray):
    """Per neuron: the upper line ``a - s z <= t`` and the bounds of ``a``."""
    active = l >= 0
    inactive = (u <= 0) & ~active
    unstable = ~active & ~inactive
    with np.errstate(divide="ignore", invalid="ignore"):
        s_unst = u / (u - l)
    s = np.where(active, 1.0, np.where(unstable, s_unst, 0.0))
    t = np.where(unstable, -s * l, 0.0)
    a_lo = np.where(active, l, 0.0)
    a_hi = np.where(inactive, 0.0, u)
    return s, t, a_lo, a_hi


class _TriangleLP:
    """The triangle relaxation of a network's first hidden layers over one input box, in one
    HiGHS instance (minimization), built layer by layer and re-solved with changed costs or
    neuron bounds from the last basis."""

    def __init__(self, net: ReLUNetwork, lo: np.ndarray, hi: np.ndarray) -> None:
        import highspy

        self.net = net
        self.inf = highspy.kHighsInf
        h = new_highs()
        h.setOptionValue("presolve", "off")
        h.setOptionValue("solver", "simplex")
        d = lo.size
        h.addCols(d, np.zeros(d), lo, hi, 0, np.zeros(d, np.int32), np.zeros(0, np.int32), [])
        self.h = h
        self.x_idx = np.arange(d, dtype=np.int32)
        self.ncols = d
        self.nrows = 0
        self.z_idx: list[np.ndarray] = []
        self.a_idx: list[np.ndarray] = []
        self.link: list[np.ndarray] = []
        self.up_rows: list[np.ndarray] = []
        self.slope: list[np.ndarray] = []
        self.cost_idx = np.zeros(0, np.int32)

    @property
    def depth(self) -> int:
        return len(self.z_idx)

    def prev_idx(self, k: int) -> np.ndarray:
        return self.x_idx if k == 0 else self.a_idx[k - 1]

    def add_layer(self, l: np.ndarray, u: np.ndarray) -> None:
        k = self.depth
        W, b = self.net.weights[k], self.net.biases[k]
        H = W.shape[0]
        s, t, a_lo, a_hi = _relu_state(l, u)
        z = np.arange(self.ncols, self.ncols + H, dtype=np.int32)
        a = z + H
        self.h.addCols(
            2 * H,
            np.zeros(2 * H),
            np.concatenate([l, a_lo]),
            np.concatenate([u, a_hi]),
            0,
            np.zeros(2 * H, np.int32),
            np.zeros(0, np.int32),
            [],
        )
        self.ncols += 2 * H
        prev = self.prev_idx(k)
        # link rows z_j - W_j . a_prev = b_j
        mask = W != 0
        counts = mask.sum(axis=1) + 1
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32)
        rows_idx = np.empty(int(counts.sum()), np.int32)
        rows_val = np.empty(int(counts.sum()))
        for j in range(H):
            p = starts[j]
            nz = np.flatnonzero(mask[j])
            rows_idx[p] = z[j]
            rows_val[p] = 1.0
            rows_idx[p + 1 : p + 1 + nz.size] = prev[nz]
            rows_val[p + 1 : p + 1 + nz.size] = -W[j, nz]
        self.h.addRows(H, b, b, rows_idx.size, starts, rows_idx, rows_val)
        self.link.append(np.arange(self.nrows, self.nrows + H))
        self.nrows += H
        # a_j - z_j >= 0
        idx = np.stack([a, z], axis=1).reshape(-1)
        val = np.tile([1.0, -1.0], H)
        st = np.arange(0, 2 * H, 2, dtype=np.int32)
        self.h.addRows(H, np.zeros(H), np.full(H, self.inf), 2 * H, st, idx, val)
        self.nrows += H
        # a_j - s_j z_j <= t_j
        val = np.stack([np.ones(H), -s], axis=1).reshape(-1)
        self.h.addRows(H, np.full(H, -self.inf), t, 2 * H, st, idx, val)
        self.up_rows.append(np.arange(self.nrows, self.nrows + H))
        self.nrows += H
        self.z_idx.append(z)
        self.a_idx.append(a)
        self.slope.append(s)

    def set_bounds(self, k: int, l: np.ndarray, u: np.ndarray) -> None:
        """New pre-activation bounds of layer ``k`` (the hull rows follow)."""
        s, t, a_lo, a_hi = _relu_state(l, u)
        z, a = self.z_idx[k], self.a_idx[k]
        self.h.changeColsBounds(z.size, z, l, u)
        self.h.changeColsBounds(a.size, a, a_lo, a_hi)
        rows = self.up_rows[k]
        for j in np.flatnonzero(s != self.slope[k]):
            self.h.changeCoeff(int(rows[j]), int(z[j]), float(-s[j]))
        self.slope[k] = s
        self.h.changeRowsBounds(rows.size, rows.astype(np.int32), np.full(rows.size, -self.inf), t)

    def set_crown_basis(self, bounds: Bounds, C_row: np.ndarray) -> None:
        """Start from the vertex that CROWN's multipliers for ``C_row . y`` pick: the input at
        the corners given by the sign of ``w``, each unstable neuron on the hull edge CROWN
        uses (the upper line where ``g < 0``, else ``a = z`` or ``a = 0`` by its adaptive
        slope). Its duals are CROWN's multipliers, so the basis is dual feasible and the dual
        simplex starts at CROWN's bound."""
        import highspy

        S = highspy.HighsBasisStatus
        net, K = self.net, self.depth
        b2 = [(bl[None], bu[None]) for bl, bu in bounds]
        Ws = list(net.weights[:K]) + [net.weights[-1]]
        nus = greedy_multipliers(Ws, b2, C_row[None, None], "crown")
        col = np.full(self.ncols, S.kBasic, dtype=object)
        row = np.full(self.nrows, S.kBasic, dtype=object)
        g = C_row @ net.weights[-1]
        for k in range(K - 1, -1, -1):
            l, u = bounds[k]
            nu = nus[k][0, 0]
            active = l >= 0
            inactive = (u <= 0) & ~active
            unstable = ~active & ~inactive
            pos = g >= 0
            low_tight = (active & pos) | (unstable & pos & (u >= -l))
            up_tight = (active & ~pos) | (unstable & ~pos)
            a_zero = inactive | (unstable & pos & (u < -l))
            low_rows = self.up_rows[k] - l.size
            row[self.link[k]] = S.kLower
            row[low_rows[low_tight]] = S.kLower
            row[self.up_rows[k][up_tight]] = S.kUpper
            col[self.a_idx[k][a_zero]] = S.kLower
            g = nu @ net.weights[k]
        col[self.x_idx] = np.where(g >= 0, S.kLower, S.kUpper)
        basis = highspy.HighsBasis()
        basis.col_status = list(col)
        basis.row_status = list(row)
        basis.valid = True
        self.h.setBasis(basis)

    def solve(self, idx: np.ndarray, vals: np.ndarray, time_limit: float | None):
        """Minimize ``vals . v[idx]``: HiGHS status name, primal point, link-row duals per
        layer (or None), objective."""
        h = self.h
        if self.cost_idx.size:
            h.changeColsCost(self.cost_idx.size, self.cost_idx, np.zeros(self.cost_idx.size))
        idx = np.asarray(idx, np.int32)
        h.changeColsCost(idx.size, idx, np.asarray(vals, dtype=float))
        self.cost_idx = idx
        h.setOptionValue("time_limit", float(time_limit) if time_limit is not None else self.inf)
        h.run()
        status = h.getModelStatus().name
        sol = h.getSolution()
        x = np.asarray(sol.col_value) if sol.value_valid else None
        nus = None
        if sol.dual_valid:
            y = np.asarray(sol.row_dual)
            if y.size == self.nrows and np.all(np.isfinite(y)):
                nus = [y[r] for r in self.link]
        obj = float(h.getInfo().objective_function_value) if x is not None else math.nan
        ray = None
        if status in ("kInfeasible", "kUnboundedOrInfeasible"):
            try:
                _, has_ray, r = h.getDualRay()
                if has_ray:
                    r = np.asarray(r)
                    ray = [r[rows] for rows in self.link]
            except Exception:  # pragma: no cover - older highspy
                ray = None
        return status, x, nus, obj, ray


# ---------------------------------------------------------------------------- helpers
def _as_boxes(net: ReLUNetwork, lo: Any, hi: Any) -> tuple[np.ndarray, np.ndarray]:
    lo = np.asarray(lo, dtype=float)
    hi = np.asarray(hi, dtype=float)
    lo2, hi2 = np.atleast_2d(lo), np.atleast_2d(hi)
    if lo.ndim > 2 or hi.ndim > 2 or lo2.shape != hi2.shape:
        raise ValueError(
            f"lo and hi must both be (input_dim,) or (n, input_dim), got {lo.shape} and {hi.shape}"
        )
    if lo2.shape[1] != net.input_dim:
        raise ValueError(f"boxes have width {lo2.shape[1]}, the network input {net.input_dim}")
    if not (np.all(np.isfinite(lo2)) and np.all(np.isfinite(hi2))):
        raise ValueError("the box bounds must be finite (no NaN or infinity)")
    if np.any(lo2 > hi2):
        raise ValueError("every box needs lo <= hi")
    return lo2, hi2


def _as_time(time_limit: Any) -> float | None:
    if time_limit is None:
        return None
    if isinstance(time_limit, bool) or not isinstance(time_limit, (int, float, np.number)):
        raise ValueError(f"time_limit must be a positive number of seconds, got {time_limit!r}")
    t = float(time_limit)
    if not t > 0:  # also NaN
        raise ValueError(f"time_limit must be > 0 seconds, got {time_limit!r}")
    return t


def _as_labels(labels: Any, n: int, m: int) -> np.ndarray:
    lab = np.asarray(labels).reshape(-1)
    if lab.size != n:
        raise ValueError(f"{lab.size} labels for {n} boxes")
    if lab.size and (lab.dtype.kind not in "iu" and not np.all(lab == np.round(lab))):
        raise ValueError("labels must be integers")
    lab = lab.astype(np.int64)
    top = 2 if m == 1 else m
    if np.any((lab < 0) | (lab >= top)):
        raise ValueError(f"labels must lie in [0, {top}) for a network with {m} outputs")
    return lab


def _functionals(labels: np.ndarray, m: int) -> np.ndarray:
    """``(n, m', m)``: the margins' output functionals (one column for a scalar network)."""
    if m == 1:
        sign = np.where(labels == 1, 1.0, -1.0)
        return sign[:, None, None] * np.ones((1, 1, 1))
    return margin_functionals(labels, m)


def _certify_layer(
    net: ReLUNetwork,
    lp: _TriangleLP,
    lo: np.ndarray,
    hi: np.ndarray,
    bounds: Bounds,
    l: np.ndarray,
    u: np.ndarray,
    deadline: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """LP-tightened bounds of layer ``k = lp.depth`` (its unstable neurons) over the LP of the
    previous layers, each certified by ``dual_bound`` on the truncated network."""
    k = lp.depth
    W = net.weights[k]
    H = W.shape[0]
    sub_w, sub_b = list(net.weights[: k + 1]), list(net.biases[: k + 1])
    sub_bounds = [(bl[None], bu[None]) for bl, bu in bounds]
    prev = lp.prev_idx(k)
    l, u = l.copy(), u.copy()
    for j in np.flatnonzero((l < 0) & (u > 0)):
        for sign in (1.0, -1.0):
            if sign < 0 and l[j] >= 0:
                break
            left = None if deadline is None else deadline - time.perf_counter()
            if left is not None and left <= 0:
                return l, u
            status, _, nus, _, _ = lp.solve(prev, sign * W[j], left)
            if nus is None:
                continue
            C = np.zeros((1, 1, H))
            C[0, 0, j] = sign
            val = float(
                dual_bound(
                    sub_w, sub_b, lo[None], hi[None], sub_bounds, C, [v[None, None] for v in nus]
                )[0, 0]
            )
            if sign > 0:
                l[j] = max(l[j], val)
            else:
                u[j] = min(u[j], -val)
    return l, u


def _greedy_layer(
    net: ReLUNetwork, lo: np.ndarray, hi: np.ndarray, bounds: Bounds, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Interval and CROWN bounds of layer ``k`` from the (1-D) bounds of the layers before."""
    pl, pu = bounds[k - 1]
    zl, zu = affine_enclosure(
        net.weights[k], net.biases[k], np.maximum(pl, 0.0), np.maximum(pu, 0.0)
    )
    H = zl.size
    I = np.eye(H)
    C = np.concatenate([I, -I])[None]
    sub_w, sub_b = list(net.weights[: k + 1]), list(net.biases[: k + 1])
    b2 = [(bl[None], bu[None]) for bl, bu in bounds[:k]]
    nus = greedy_multipliers(sub_w, b2, C, "crown")
    both = dual_bound(sub_w, sub_b, lo[None], hi[None], b2, C, nus)[0]
    return np.maximum(zl, both[:H]), np.minimum(zu, -both[H:])


def _build(
    net: ReLUNetwork,
    lo: np.ndarray,
    hi: np.ndarray,
    greedy: Bounds,
    intermediate: str,
    deadline: float | None,
) -> tuple[_TriangleLP, Bounds]:
    """The LP over all hidden layers with greedy or LP-tightened bounds (1-D per layer)."""
    lp = _TriangleLP(net, lo, hi)
    bounds: Bounds = []
    for k in range(net.depth):
        l, u = greedy[k]
        if k > 0 and intermediate == "lp":
            gl, gu = _greedy_layer(net, lo, hi, bounds, k)
            l, u = np.maximum(l, gl), np.minimum(u, gu)
            l, u = _certify_layer(net, lp, lo, hi, bounds, l, u, deadline)
        bounds.append((l, u))
        lp.add_layer(l, u)
    return lp, bounds


def _margin_solve(net, lp, lo, hi, bounds, C_row, left):
    """One margin's LP: its certified bound (None without duals), the LP objective with the
    output bias, the LP point and HiGHS's status name."""
    W_out, b_out = net.weights[-1], net.biases[-1]
    g = C_row @ W_out
    status, x, nus, obj, _ = lp.solve(lp.a_idx[-1], g, left)
    if nus is None:
        return None, math.nan, x, status
    b2 = [(bl[None], bu[None]) for bl, bu in bounds]
    val = float(
        dual_bound(
            list(net.weights),
            list(net.biases),
            lo[None],
            hi[None],
            b2,
            C_row[None, None],
            [v[None, None] for v in nus],
        )[0, 0]
    )
    return val, obj + float(C_row @ b_out), x, status


# ---------------------------------------------------------------------------- LP bounds
def lp_margin_bounds(
    net: ReLUNetwork,
    lo: Any,
    hi: Any,
    labels: Any,
    intermediate: str = "greedy",
    decide: bool = False,
    time_limit: float | None = None,
) -> np.ndarray:
    """Certified lower bounds ``(n, m)`` of ``min f_r - f_i`` over each box ``[lo_k, hi_k]``
    by the triangle LP relaxation (``+inf`` at ``i = r``; a scalar network gets one column,
    the margin ``f`` for label 1 and ``-f`` for label 0, as in
    :func:`~lipschitz.certify.margins.margin_lower_bounds`).

    ``intermediate``: ``"greedy"`` (LP-LAST, CROWN bounds for the hidden layers) or ``"lp"``
    (LP-ALL, hidden layers after the first LP-tightened). Per box the LP is built once in
    HiGHS and solved for each margin's objective from the previous basis; each entry is
    ``dual_bound`` at the duals of that solve, so it holds in exact arithmetic.

    ``decide=True``: margins that CROWN already proves positive are not solved (their entry
    is CROWN's bound), the others are solved weakest first and a box stops at its first
    margin whose LP optimum is negative (the LP cannot certify it); the margins not solved
    keep CROWN's (valid) bound. ``time_limit``: seconds per box; margins left unsolved when
    it runs out keep CROWN's bound, and a solve cut short by it gives the larger of CROWN's
    bound and the dual bound at HiGHS's last duals (both valid).

    Raises
    ------
    ValueError
        On boxes of the wrong width, with ``lo > hi``, NaN or infinite bounds, labels out of
        range, an unknown ``intermediate`` or ``time_limit <= 0``.
    """
    net.check()
    if intermediate not in INTERMEDIATE:
        raise ValueError(f"unknown intermediate {intermediate!r}; choose one of {INTERMEDIATE}")
    lo2, hi2 = _as_boxes(net, lo, hi)
    limit = _as_time(time_limit)
    n, m = lo2.shape[0], net.output_dim
    labels = _as_labels(labels, n, m)
    crown = margin_lower_bounds(net, lo2, hi2, labels, "crown") if n else np.empty((0, m))
    out = np.array(crown, dtype=float, copy=True)
    if n == 0:
        return out
    greedy = layer_bounds(net, lo2, hi2, "crown")
    Cs = _functionals(labels, m)
    for s in range(n):
        deadline = None if limit is None else time.perf_counter() + limit
        rows = [0] if m == 1 else [i for i in range(m) if i != labels[s]]
        if decide:
            rows = sorted((i for i in rows if not crown[s, i] > 0), key=lambda i: crown[s, i])
            if not rows:
                continue
        g_s = [(gl[s], gu[s]) for gl, gu in greedy]
        lp, bounds = _build(net, lo2[s], hi2[s], g_s, intermediate, deadline)
        lp.set_crown_basis(bounds, Cs[s, rows[0]])
        for i in rows:
            left = None if deadline is None else deadline - time.perf_counter()
            if left is not None and left <= 0:
                break
            val, obj, _, status = _margin_solve(net, lp, lo2[s], hi2[s], bounds, Cs[s, i], left)
            if val is None:
                continue
            out[s, i] = val if status == "kOptimal" else max(val, crown[s, i])
            if decide and status == "kOptimal" and obj < 0:
                break
    return out


# ---------------------------------------------------------------------------- exact
@dataclass
class MILPVerdict:
    """Outcome of :func:`milp_verify` on one box.

    ``status``: ``"certified"`` (every margin ``f_r - f_i`` is positive on the whole box,
    proved in exact arithmetic), ``"attacked"`` (``counterexample`` is a point of the box where
    the rigorous logit enclosure proves ``f_i >= f_r`` for some ``i != r``) or ``"unknown"``
    (time limit). ``margin_lower``: a certified lower bound of the minimum margin over the box
    (positive when certified); ``margin_upper``: a certified upper bound of it from the
    counterexample's enclosure (``+inf`` without one); ``nodes``: branch-and-bound nodes
    evaluated."""

    status: str
    margin_lower: float
    counterexample: np.ndarray | None
    seconds: float
    nodes: int
    margin_upper: float = math.inf


def _margin_upper(net: ReLUNetwork, x: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Certified upper bounds of ``C_i . f(x)`` (``C`` rows with entries in {-1, 0, 1})."""
    flo, fhi = logit_enclosure(net, x[None])
    flo, fhi = flo[0], fhi[0]
    pos = np.where(C > 0, C * fhi, 0.0).sum(axis=1)
    neg = np.where(C < 0, C * flo, 0.0).sum(axis=1)
    return round_up(round_up(pos) + neg)


def _check_counterexample(net, x, lo, hi, C) -> tuple[np.ndarray, float] | None:
    """The point clipped into the box, with a certified upper bound ``<= 0`` of its smallest
    margin, when its forward pass misclassifies and the enclosure proves it."""
    if x is None or not np.all(np.isfinite(x)):
        return None
    x = np.minimum(np.maximum(np.asarray(x, dtype=float), lo), hi)
    y = net.forward(x)
    if not np.min(C @ y) <= 0:
        return None
    ub = _margin_upper(net, x, C)
    if not np.min(ub) <= 0:
        return None
    return x, float(np.min(ub))


def _local_attack(net, lo, hi, x, C, steps, deadline):
    """Projected sign-gradient descent of each margin from ``x``: the first verified
    counterexample, or None."""
    width = hi - lo
    for c in C:
        z = x.copy()
        for t in range(steps):
            if deadline is not None and time.perf_counter() > deadline:
                return None
            g = net.gradients(z, c)
            step = width * (0.25 * (1.0 - t / steps) + 0.01)
            z = np.minimum(np.maximum(z - step * np.sign(g), lo), hi)
            found = _check_counterexample(net, z, lo, hi, C)
            if found is not None:
                return found
    return None


def _propagate(net, lo, hi, bounds: Bounds, parent: Bounds, start: int) -> Bounds | None:
    """Recompute the layers after ``start`` (interval and CROWN on the node's bounds,
    intersected with the parent's); None when bounds cross (the node is empty)."""
    out = [(bl.copy(), bu.copy()) for bl, bu in bounds]
    for k in range(start + 1, net.depth):
        gl, gu = _greedy_layer(net, lo, hi, out, k)
        pl, pu = parent[k]
        out[k] = (np.maximum(pl, gl), np.minimum(pu, gu))
    for bl, bu in out:
        if np.any(bl > bu):
            return None
    return out


def _drop_proved(pend: np.ndarray, lb: np.ndarray, proved: float):
    """The runners still open (``lb <= 0``) and their bounds, and ``proved`` lowered to the
    smallest margin of those just proved."""
    done = lb > 0
    if np.any(done):
        proved = min(proved, float(np.min(lb[done])))
    return pend[~done], lb[~done], proved


def milp_verify(
    net: ReLUNetwork,
    lo: Any,
    hi: Any,
    label: int,
    time_limit: float = 10.0,
    x0: Any = None,
    attack: bool = True,
) -> MILPVerdict:
    """Exact verification of ``min_{i != r} min_{x in [lo, hi]} f_r(x) - f_i(x) > 0``
    (``r = label``; a scalar network: ``f > 0`` for label 1, ``-f > 0`` for label 0).

    With ``attack``, a local attack (projected sign gradient from ``x0``, default the box's
    centre) runs first (at most a fifth of the budget);
    then best-first branch and bound on the unstable neurons: a node fixes the sign of some
    pre-activations (``u = 0`` or ``l = 0``), recomputes the later layers' bounds (interval
    and CROWN, intersected with its parent's) and bounds each open margin by CROWN, then by
    the triangle LP (HiGHS, warm-started), each bound being ``dual_bound`` at those
    multipliers (exact arithmetic). A margin is closed in a node when its bound is positive;
    an LP point (or a short local attack from it) that the logit enclosure proves
    misclassified ends the search as ``"attacked"``. The branching neuron maximizes
    ``|g_j| (a_j - relu(z_j))`` at the LP point of the node's weakest margin (``g_j`` the
    dual weight of ``a_j``), ties broken by the triangle's height ``u (-l) / (u - l)``.
    An empty node (crossing bounds, or an LP Farkas ray whose ``dual_bound`` is positive) is
    pruned.

    Raises
    ------
    ValueError
        On a box of the wrong width, ``lo > hi``, NaN or infinite bounds, a label out of
        range, ``time_limit <= 0`` or an ``x0`` outside the box.
    """
    t0 = time.perf_counter()
    net.check()
    lo2, hi2 = _as_boxes(net, lo, hi)
    if lo2.shape[0] != 1:
        raise ValueError("milp_verify takes one box: lo and hi of shape (input_dim,)")
    limit = _as_time(time_limit)
    if limit is None:
        raise ValueError("time_limit must be > 0 seconds, got None")
    lo1, hi1 = lo2[0], hi2[0]
    m = net.output_dim
    lab = _as_labels(np.atleast_1d(label), 1, m)
    r = int(lab[0])
    deadline = t0 + limit
    C_all = _functionals(lab, m)[0]
    rows = [0] if m == 1 else [i for i in range(m) if i != r]
    C = C_all[rows]  # (c, m)
    if x0 is None:
        start = lo1 / 2 + hi1 / 2
    else:
        start = np.asarray(x0, dtype=float).reshape(-1)
        if start.size != lo1.size or not np.all(np.isfinite(start)):
            raise ValueError(f"x0 must be a finite point of width {lo1.size}")
        if np.any(start < lo1) or np.any(start > hi1):
            raise ValueError("x0 must lie in the box [lo, hi]")

    def verdict(status, lower, cex=None, upper=math.inf, nodes=0):
        return MILPVerdict(status, float(lower), cex, time.perf_counter() - t0, nodes, upper)

    W_all, b_all = list(net.weights), list(net.biases)

    def crown_bounds(bounds, pend):
        b2 = [(bl[None], bu[None]) for bl, bu in bounds]
        Cp = C[pend][None]
        nus = greedy_multipliers(W_all, b2, Cp, "crown")
        return dual_bound(W_all, b_all, lo1[None], hi1[None], b2, Cp, nus)[0]

    greedy = layer_bounds(net, lo2, hi2, "crown")
    root = [(gl[0], gu[0]) for gl, gu in greedy]
    root_crown = crown_bounds(root, np.arange(len(rows)))
    if np.all(root_crown > 0):
        return verdict("certified", float(np.min(root_crown)))
    found = _check_counterexample(net, start, lo1, hi1, C)
    if found is None and attack:
        found = _local_attack(net, lo1, hi1, start, C, 30, t0 + 0.2 * limit)
    if found is not None:
        return verdict("attacked", float(np.min(root_crown)), found[0], found[1])
    lp, root = _build(net, lo1, hi1, root, "lp", t0 + 0.5 * limit)
    lp.set_crown_basis(root, C[int(np.argmin(root_crown))])

    proved = math.inf  # smallest positive bound that closed a margin somewhere
    unresolved = math.inf  # bounds of nodes that could be neither closed nor split
    counter = 0
    heap: list[tuple[float, int, Bounds, np.ndarray, np.ndarray]] = []
    pend0 = np.arange(len(rows))
    heap.append((float(np.min(root_crown)), counter, root, pend0, root_crown.copy()))
    nodes = 0
    current = -math.inf

    def lower_now():
        open_min = min((item[0] for item in heap), default=math.inf)
        return min(proved, unresolved, open_min, current)

    while heap:
        if time.perf_counter() > deadline:
            return verdict("unknown", lower_now(), nodes=nodes)
        key, _, bounds, pend, lb = heapq.heappop(heap)
        current = key
        nodes += 1
        lb = np.maximum(lb, crown_bounds(bounds, pend))
        pend, lb, proved = _drop_proved(pend, lb, proved)
        if pend.size == 0:
            current = math.inf
            continue
        # the node's LP
        for k, (bl, bu) in enumerate(bounds):
            lp.set_bounds(k, bl, bu)
        worst = None  # (objective, x, nus, margin index)
        empty = False
        for q in np.argsort(lb, kind="stable"):  # weakest first; stop at the first unproved
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            c = C[pend[q]]
            status, x, nus, obj, ray = lp.solve(lp.a_idx[-1], c @ net.weights[-1], left)
            b2 = [(bl[None], bu[None]) for bl, bu in bounds]
            if status in ("kInfeasible", "kUnboundedOrInfeasible"):
                if ray is not None:
                    zero = np.zeros((1, 2, m))
                    nus2 = [np.stack([v, -v])[None] for v in ray]
                    # 0 >= dual_bound for any multipliers on a nonempty node: a positive
                    # value at either sign of the ray proves the node empty
                    proof = dual_bound(W_all, b_all, lo1[None], hi1[None], b2, zero, nus2)[0]
                    if np.max(proof) > 0:
                        empty = True
                break
            if nus is None:
                break
            val = float(
                dual_bound(
                    W_all,
                    b_all,
                    lo1[None],
                    hi1[None],
                    b2,
                    c[None, None],
                    [v[None, None] for v in nus],
                )[0, 0]
            )
            lb[q] = max(lb[q], val)
            if status == "kOptimal" and x is not None:
                value = obj + float(c @ net.biases[-1])
                if value < 0:
                    found = _check_counterexample(net, x[: lo1.size], lo1, hi1, C)
                    if found is None and attack:
                        found = _local_attack(
                            net,
                            lo1,
                            hi1,
                            np.clip(x[: lo1.size], lo1, hi1),
                            C[[pend[q]]],
                            5,
                            deadline,
                        )
                    if found is not None:
                        current = min(current, float(lb[q]))
                        return verdict("attacked", lower_now(), found[0], found[1], nodes)
                if not lb[q] > 0:
                    worst = (value, x, nus, int(pend[q]))
            if not lb[q] > 0:
                break
        if empty:
            current = math.inf
            continue
        pend, lb, proved = _drop_proved(pend, lb, proved)
        if pend.size == 0:
            current = math.inf
            continue
        # branch
        choice = _branch_neuron(net, bounds, worst, C)
        node_bound = float(np.min(lb))
        if choice is None:
            unresolved = min(unresolved, node_bound)
            current = math.inf
            continue
        k, j = choice
        for side in (0, 1):
            child = [(bl.copy(), bu.copy()) for bl, bu in bounds]
            if side == 0:
                child[k][1][j] = 0.0
            else:
                child[k][0][j] = 0.0
            child = _propagate(net, lo1, hi1, child, bounds, k)
            if child is None:
                continue
            counter += 1
            heapq.heappush(heap, (node_bound, counter, child, pend.copy(), lb.copy()))
        current = math.inf
    current = math.inf
    if unresolved < math.inf:
        return verdict("unknown", lower_now(), nodes=nodes)
    return verdict("certified", proved, nodes=nodes)


def _branch_neuron(net, bounds: Bounds, worst, C) -> tuple[int, int] | None:
    """The unstable neuron ``(layer, index)`` to split (None when every neuron is stable)."""
    best, best_score = None, -math.inf
    for k, (l, u) in enumerate(bounds):
        unst = (l < 0) & (u > 0)
        if not np.any(unst):
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            height = np.where(unst, u * (-l) / (u - l), 0.0)
        if worst is not None:
            _, x, nus, i = worst
            g = C[i] @ net.weights[-1] if k == net.depth - 1 else nus[k + 1] @ net.weights[k + 1]
            d = net.input_dim + sum(net.hidden_sizes[:k]) * 2
            H = l.size
            z, a = x[d : d + H], x[d + H : d + 2 * H]
            viol = np.maximum(a - np.maximum(z, 0.0), 0.0)
            score = np.abs(g) * viol + 1e-6 * (np.abs(g) + np.abs(nus[k])) * height
        else:
            score = height
        score = np.where(unst, score, -math.inf)
        j = int(np.argmax(score))
        if score[j] > best_score:
            best, best_score = (k, j), float(score[j])
    return best
