"""The LipMIP encoding of ``max ||grad (z . f)(x)||_*`` over a box as a mixed-integer program.

Jordan and Dimakis (2020), appendix D: the generalized gradient is a composition of affine,
*conditional* (``u = [z > 0]``, either value at ``z = 0``) and *switch* (``s = u y``) operators,
each MIP-encodable given interval bounds on its input. Per hidden layer ``k``:

* forward, ``z_k = W_k a_{k-1} + b_k`` with interval bounds ``[l, h]`` (interval propagation);
  an unstable neuron gets a binary ``u`` and, unless it is in the last hidden layer,
  ``a = relu(z)`` as ``a >= z``, ``a >= 0``, ``a <= z - l (1 - u)``, ``a <= h u`` (which also
  forces ``u = [z > 0]``); in the last hidden layer only the conditional is needed:
  ``z >= l (1 - u)``, ``z <= h u``. Stable neurons are fixed (``u`` = 1 or 0, no binary).
* backward, ``y_L = W_out^T w`` (``w = c`` for a scalar functional, or ``w`` a variable in the
  dual ball of the output norm), ``s_k = u_k * y_k`` (switch:
  ``y - h(1 - u) <= s <= y - l(1 - u)``, ``l u <= s <= h u`` with ``[l, h]`` the interval of
  ``y``), ``y_{k-1} = W_k^T s_k``; the gradient is ``g = W_1^T s_1``.
* the objective ``||g||_1`` (input norm L-inf) is ``sum_i |g_i|`` with one binary per
  coordinate whose sign the intervals leave open (``|g_i| <= g_i + 2 max(-lo, 0)(1 - b)``,
  ``|g_i| <= -g_i + 2 max(hi, 0) b``); coordinates of fixed sign enter linearly. ``||g||_inf``
  (input norm L1) is ``max_i |g_i|`` with one binary per candidate ``+-g_i``.

Vector outputs (appendix E) put ``w`` in the dual ball of a *linear* output norm: ``"1"``
(the box ``[-1, 1]^m``), ``"inf"`` (the l1 ball), ``"cross"`` (the polytope ``P`` of
proposition E.1) or ``("cross", i)`` (the hull of ``e_i - e_j`` and ``e_k``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .lcep import stability
from .milp import LinearModel
from .network import ReLUNetwork
from .spec import Box, dual_norm

STABLE_MARGIN = 1e-9
"""Relative margin by which a tightened bound must clear 0 to fix a neuron."""


@dataclass
class Affine:
    """A vector of affine expressions ``M @ v[idx] + const`` in model variables."""

    idx: np.ndarray
    M: np.ndarray
    const: np.ndarray

    @classmethod
    def constant(cls, const: np.ndarray) -> Affine:
        const = np.asarray(const, dtype=float)
        return cls(np.zeros(0, dtype=np.int64), np.zeros((const.size, 0)), const)

    def row(self, j: int) -> tuple[np.ndarray, np.ndarray, float]:
        keep = self.M[j] != 0.0
        return self.idx[keep], self.M[j][keep], float(self.const[j])

    def left_multiply(self, A: np.ndarray) -> Affine:
        M = A @ self.M
        keep = np.any(M != 0.0, axis=0)
        return Affine(self.idx[keep], M[:, keep], A @ self.const)


@dataclass
class GradientMIP:
    """The model and where its pieces live."""

    model: LinearModel
    x: np.ndarray
    u: list[np.ndarray]
    active: list[np.ndarray]
    inactive: list[np.ndarray]
    w: np.ndarray | None
    t: np.ndarray | None
    vertices: np.ndarray | None
    offset: float
    cap: float
    counts: dict[str, int] = field(default_factory=dict)
    z_exprs: list[Affine] = field(default_factory=list)
    p_exprs: list[Affine] = field(default_factory=list)
    pre_bounds: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    tangent_bounds: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)


def resolve_output_norm(output_norm: Any, m: int) -> tuple[str, int | None]:
    """``"inf"``, ``"1"``, ``"cross"`` or ``("cross", i)``."""
    if isinstance(output_norm, tuple) and len(output_norm) == 2 and output_norm[0] == "cross":
        i = output_norm[1]
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool) or not -m <= i < m:
            raise ValueError(f"('cross', i) needs a class index in [0, {m}), got {i!r}")
        return "cross", int(i) % m
    key = str(output_norm).lower() if isinstance(output_norm, (str, int)) else None
    key = {"linf": "inf", "l1": "1", "1": "1", "inf": "inf", "cross": "cross"}.get(key or "")
    if key is None:
        raise ValueError(
            f"unknown output_norm {output_norm!r}: use 'inf', '1', 'cross' or ('cross', i) "
            "(linear output norms, LipMIP appendix E)"
        )
    if m < 2 and key == "cross":
        raise ValueError("the cross-norm needs at least two outputs")
    return key, None


def dual_ball_vertices(kind: str, cls: int | None, m: int) -> np.ndarray | None:
    """Vertices of the output norm's dual ball (``None`` for the box: too many)."""
    eye = np.eye(m)
    if kind == "inf":
        return np.vstack([eye, -eye])
    if kind == "cross":
        classes = range(m) if cls is None else [cls]
        diffs = [eye[i] - eye[j] for i in classes for j in range(m) if j != i]
        return np.vstack([eye] + ([np.array(diffs)] if diffs else []))
    return None


def _output_ball(model: LinearModel, kind: str, cls: int | None, m: int) -> np.ndarray:
    """Variables ``w`` constrained to the dual ball of the output norm."""
    w = np.array([model.var(-1.0, 1.0) for _ in range(m)])
    if kind == "1":
        return w
    if kind == "cross" and cls is not None:
        V = dual_ball_vertices(kind, cls, m)
        lam = np.array([model.var(0.0, 1.0) for _ in range(V.shape[0])])
        model.row(lam, np.ones(lam.size), 1.0, 1.0)
        for i in range(m):  # w_i = sum_v lam_v V[v, i]
            model.row(np.concatenate([[w[i]], lam]), np.concatenate([[-1.0], V[:, i]]), 0, 0)
        return w
    p = np.array([model.var(0.0, 1.0) for _ in range(m)])
    q = np.array([model.var(0.0, 1.0) for _ in range(m)])
    for i in range(m):  # w = p - q
        model.row([w[i], p[i], q[i]], [1.0, -1.0, 1.0], 0.0, 0.0)
    if kind == "inf":
        model.row(np.concatenate([p, q]), np.ones(2 * m), hi=1.0)
    else:  # proposition E.1
        model.row(p, np.ones(m), hi=1.0)
        model.row(q, np.ones(m), hi=1.0)
        model.row(np.concatenate([p, q]), np.concatenate([np.ones(m), -np.ones(m)]), lo=0.0)
    return w


def _w_interval(W_out: np.ndarray, kind: str, cls: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Interval of ``W_out^T w`` over the dual ball."""
    if kind == "1":
        r = np.abs(W_out).sum(axis=0)
        return -r, r
    V = dual_ball_vertices(kind, cls, W_out.shape[0])
    vals = V @ W_out
    return vals.min(axis=0), vals.max(axis=0)


def _split(model: LinearModel, v: np.ndarray, u: int) -> np.ndarray:
    """Copies ``v1 = u v`` of input variables with their boxes (``v - v1`` is the ``u = 0``
    part): the disjunctive (Balas) lifting behind the per-neuron convex hull."""
    copies = np.empty(v.size, dtype=np.int64)
    for i, vi in enumerate(v):
        lo, hi = model.lb[vi], model.ub[vi]
        c = model.var(min(lo, 0.0), max(hi, 0.0))
        model.row([c, u], [1.0, -lo], lo=0.0)  # v1 >= lo u
        model.row([c, u], [1.0, -hi], hi=0.0)  # v1 <= hi u
        model.row([vi, c, u], [1.0, -1.0, lo], lo=lo)  # v - v1 >= lo (1 - u)
        model.row([vi, c, u], [1.0, -1.0, hi], hi=hi)  # v - v1 <= hi (1 - u)
        copies[i] = c
    return copies


def _relu_hull(model, idx, vals, c0, uj, hi_j, last) -> int | None:
    """The convex hull of one unstable ReLU (or, in the last layer, of its conditional)."""
    v1 = _split(model, idx, uj)
    # the u = 0 side: w . (v - v1) + b (1 - u) <= 0
    model.row(np.concatenate([idx, v1, [uj]]), np.concatenate([vals, -vals, [-c0]]), hi=-c0)
    if last:  # the u = 1 side: w . v1 + b u >= 0
        model.row(np.append(v1, uj), np.append(vals, c0), lo=0.0)
        return None
    a = model.var(0.0, hi_j)  # a = w . v1 + b u  (>= 0 by its bounds)
    model.row(np.concatenate([[a], v1, [uj]]), np.concatenate([[1.0], -vals, [-c0]]), 0.0, 0.0)
    return a


def _forward(model, net, bounds, active, inactive, x, u_vars, z_exprs, hull=False) -> None:
    """Encode the forward pass: binaries for unstable neurons, ReLU outputs where needed."""
    prev = Affine(x, np.eye(x.size), np.zeros(x.size))
    L = net.depth
    for k in range(L):
        z = prev.left_multiply(net.weights[k])
        z.const = z.const + net.biases[k]
        z_exprs.append(z)
        lo, hi = bounds[k]
        last = k == L - 1
        n = lo.size
        u = np.full(n, -1, dtype=np.int64)
        a_idx, a_rows = [], []
        for j in range(n):
            idx, vals, c0 = z.row(j)
            if inactive[k][j]:
                continue
            if active[k][j]:
                if not last:  # a = z
                    a = model.var(max(lo[j], 0.0), max(hi[j], 0.0))
                    model.row(np.append(idx, a), np.append(-vals, 1.0), c0, c0)
                    a_idx.append(a)
                    a_rows.append(j)
                continue
            uj = model.binary()
            u[j] = uj
            if hull:
                a = _relu_hull(model, idx, vals, c0, uj, hi[j], last)
                if a is not None:
                    a_idx.append(a)
                    a_rows.append(j)
                continue
            if last:
                # u = 1 => z >= 0 :  z >= l (1 - u);   u = 0 => z <= 0 :  z <= h u
                model.row(np.append(idx, uj), np.append(vals, lo[j]), lo=lo[j] - c0)
                model.row(np.append(idx, uj), np.append(vals, -hi[j]), hi=-c0)
                continue
            a = model.var(0.0, hi[j])
            # a >= z;  a <= z - l (1 - u);  a <= h u
            model.row(np.append(idx, a), np.append(-vals, 1.0), lo=c0)
            model.row(
                np.concatenate([idx, [a, uj]]),
                np.concatenate([-vals, [1.0, -lo[j]]]),
                hi=c0 - lo[j],
            )
            model.row([a, uj], [1.0, -hi[j]], hi=0.0)
            a_idx.append(a)
            a_rows.append(j)
        u_vars.append(u)
        M = np.zeros((n, len(a_idx)))
        M[a_rows, np.arange(len(a_idx))] = 1.0
        prev = Affine(np.array(a_idx, dtype=np.int64), M, np.zeros(n))


def _switch(
    model, y: Affine, ylo, yhi, u, active, inactive
) -> tuple[Affine, np.ndarray, np.ndarray]:
    """``s = u * y`` for one layer, with the interval of ``s``."""
    n = ylo.size
    new_idx, new_rows, new_vals = [], [], []
    keep_rows = np.zeros(n, dtype=bool)
    slo = np.where(active, ylo, np.where(inactive, 0.0, np.minimum(ylo, 0.0)))
    shi = np.where(active, yhi, np.where(inactive, 0.0, np.maximum(yhi, 0.0)))
    for j in range(n):
        if inactive[j]:
            continue
        if active[j]:
            keep_rows[j] = True
            continue
        idx, vals, c0 = y.row(j)
        if idx.size == 0:  # y constant: s = c0 u
            if c0 != 0.0:
                new_idx.append(u[j])
                new_rows.append(j)
                new_vals.append(c0)
            continue
        s = model.var(slo[j], shi[j])
        lo, hi = ylo[j], yhi[j]
        # y - h (1 - u) <= s <= y - l (1 - u);   l u <= s <= h u
        model.row(np.concatenate([idx, [s, u[j]]]), np.concatenate([-vals, [1.0, -hi]]), lo=c0 - hi)
        model.row(np.concatenate([idx, [s, u[j]]]), np.concatenate([-vals, [1.0, -lo]]), hi=c0 - lo)
        model.row([s, u[j]], [1.0, -lo], lo=0.0)
        model.row([s, u[j]], [1.0, -hi], hi=0.0)
        new_idx.append(s)
        new_rows.append(j)
        new_vals.append(1.0)
    M_old = np.where(keep_rows[:, None], y.M, 0.0)
    M_new = np.zeros((n, len(new_idx)))
    M_new[new_rows, np.arange(len(new_idx))] = new_vals
    out = Affine(
        np.concatenate([y.idx, np.array(new_idx, dtype=np.int64)]),
        np.hstack([M_old, M_new]),
        np.where(keep_rows, y.const, 0.0),
    )
    return out, slo, shi


def _switch_hull(model, y: Affine, ylo, yhi, u, active, inactive):
    """``s = u * y`` with every output a variable and the per-neuron hull for unstable ones
    (``y`` is an affine form of variables with boxes)."""
    n = ylo.size
    slo = np.where(active, ylo, np.where(inactive, 0.0, np.minimum(ylo, 0.0)))
    shi = np.where(active, yhi, np.where(inactive, 0.0, np.maximum(yhi, 0.0)))
    out_idx, out_rows = [], []
    for j in range(n):
        if inactive[j]:
            continue
        idx, vals, c0 = y.row(j)
        s = model.var(slo[j], shi[j])
        if active[j]:  # s = y
            model.row(np.append(idx, s), np.append(-vals, 1.0), c0, c0)
        else:  # s = w . v1 + c0 u
            v1 = _split(model, idx, u[j])
            model.row(
                np.concatenate([[s], v1, [u[j]]]), np.concatenate([[1.0], -vals, [-c0]]), 0.0, 0.0
            )
        out_idx.append(s)
        out_rows.append(j)
    M = np.zeros((n, len(out_idx)))
    M[out_rows, np.arange(len(out_idx))] = 1.0
    return Affine(np.array(out_idx, dtype=np.int64), M, np.zeros(n)), slo, shi


def _objective_l1(model: LinearModel, g: Affine, glo, ghi) -> float:
    """``max sum_i |g_i|``; returns the objective's constant offset."""
    offset = 0.0
    for i in range(glo.size):
        idx, vals, c0 = g.row(i)
        if glo[i] >= 0 or ghi[i] <= 0:
            sign = 1.0 if glo[i] >= 0 else -1.0
            model.maximize(idx, sign * vals)
            offset += sign * c0
            continue
        a = model.var(0.0, max(-glo[i], ghi[i]))
        b = model.binary()
        m1, m2 = -2.0 * glo[i], 2.0 * ghi[i]
        # a <= g + m1 (1 - b);   a <= -g + m2 b
        model.row(np.concatenate([idx, [a, b]]), np.concatenate([-vals, [1.0, m1]]), hi=c0 + m1)
        model.row(np.concatenate([idx, [a, b]]), np.concatenate([vals, [1.0, -m2]]), hi=-c0)
        model.maximize([a], [1.0])
    return offset


def _objective_linf(model: LinearModel, g: Affine, glo, ghi) -> float:
    """``max max_i |g_i|`` with one binary per candidate ``+-g_i``."""
    top = float(max(np.abs(glo).max(initial=0.0), np.abs(ghi).max(initial=0.0)))
    m = model.var(0.0, top)
    model.maximize([m], [1.0])
    betas = []
    for i in range(glo.size):
        idx, vals, c0 = g.row(i)
        for sign, hi_, lo_ in ((1.0, ghi[i], glo[i]), (-1.0, -glo[i], -ghi[i])):
            if hi_ <= 0:
                continue
            beta = model.binary()
            big = top - lo_
            # m <= sign g + big (1 - beta)
            model.row(
                np.concatenate([idx, [m, beta]]),
                np.concatenate([-sign * vals, [1.0, big]]),
                hi=sign * c0 + big,
            )
            betas.append(beta)
    if betas:
        model.row(betas, np.ones(len(betas)), 1.0, 1.0)
    else:  # every coordinate is identically 0
        model.row([m], [1.0], hi=0.0)
    return 0.0


def _tangent_ball(model: LinearModel, norm: str, n: int) -> np.ndarray:
    """Variables ``t`` in the unit ball of the input norm (the direction of the derivative)."""
    t = np.array([model.var(-1.0, 1.0) for _ in range(n)], dtype=np.int64)
    if norm == "1":
        p = np.array([model.var(0.0, 1.0) for _ in range(n)])
        q = np.array([model.var(0.0, 1.0) for _ in range(n)])
        for i in range(n):  # t = p - q, sum (p + q) <= 1
            model.row([t[i], p[i], q[i]], [1.0, -1.0, 1.0], 0.0, 0.0)
        model.row(np.concatenate([p, q]), np.ones(2 * n), hi=1.0)
    return t


def _max_of_linear(model: LinearModel, o: Affine, olo, ohi, V: np.ndarray) -> None:
    """``max_v v . o`` over the rows ``v`` of ``V``: one binary per candidate."""
    cand_lo = np.minimum(V * olo, V * ohi).sum(axis=1)
    cand_hi = np.maximum(V * olo, V * ohi).sum(axis=1)
    top = float(cand_hi.max())
    m = model.var(float(cand_lo.max()), top)
    model.maximize([m], [1.0])
    betas = []
    for v, lo_, hi_ in zip(V, cand_lo, cand_hi):
        if hi_ < cand_lo.max():
            continue  # never the largest
        e = o.left_multiply(v[None, :])
        idx, vals, c0 = e.row(0)
        beta = model.binary()
        big = top - lo_
        # m <= v . o + big (1 - beta)
        model.row(
            np.concatenate([idx, [m, beta]]), np.concatenate([-vals, [1.0, big]]), hi=c0 + big
        )
        betas.append(beta)
    model.row(betas, np.ones(len(betas)), 1.0, 1.0)


def _interval(W: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mid, rad = (lo + hi) / 2, (hi - lo) / 2
    return W @ mid - np.abs(W) @ rad, W @ mid + np.abs(W) @ rad


def encode_gradient_norm(
    net: ReLUNetwork,
    box: Box,
    norm: str,
    c: np.ndarray | None = None,
    output_norm: tuple[str, int | None] | None = None,
    mode: str = "forward",
    pre_bounds: list[tuple[np.ndarray, np.ndarray]] | None = None,
    tangent_bounds: list[tuple[np.ndarray | None, np.ndarray | None]] | None = None,
    formulation: str = "bigm",
    direction: np.ndarray | None = None,
) -> GradientMIP:
    """The LipMIP program for ``c . f`` (or the full output with ``output_norm``).

    ``mode="forward"`` propagates a direction ``t`` in the input norm's unit ball through the
    switches (``max t . grad = ||grad||_*`` is linear in ``t``, so no binaries are needed for
    the norm); ``mode="backward"`` is LipMIP's own order (the gradient ``W_1^T s_1`` first,
    then its dual norm with one binary per coordinate of open sign).

    ``pre_bounds`` (per hidden layer, ``(lo, hi)`` of the pre-activations) and
    ``tangent_bounds`` (per hidden layer, of the forward-mode ``W_k r_{k-1}``) replace the
    interval bounds where tighter valid bounds are known (:func:`tighten_bounds`).

    ``formulation="hull"`` (forward mode) encodes each unstable ReLU and switch by the convex
    hull of its two cases over the box of its inputs (copies ``v1 = u v`` of the inputs, as
    in Anderson et al. 2020's ideal formulations) instead of big-M rows on one interval: more
    variables, a much tighter LP relaxation. ``"bigm"`` is LipMIP's appendix D encoding.

    ``direction`` (forward mode) fixes ``t``: the program then maximizes the derivative along
    that one direction (used to split the L1 case into its ``2 n`` vertex directions).
    """
    if norm not in ("inf", "1"):
        raise ValueError(
            f"the MIP encoding handles the input norms 'inf' and '1' (polyhedral dual norms), "
            f"not {norm!r}"
        )
    if mode not in ("forward", "backward"):
        raise ValueError(f"unknown mode {mode!r}: use 'forward' or 'backward'")
    if formulation not in ("hull", "bigm"):
        raise ValueError(f"unknown formulation {formulation!r}: use 'hull' or 'bigm'")
    hull = formulation == "hull" and mode == "forward"
    model = LinearModel()
    bounds, active, inactive = stability(net, box)
    if pre_bounds is not None:
        bounds = [
            (np.maximum(lo, l2), np.minimum(hi, h2))
            for (lo, hi), (l2, h2) in zip(bounds, pre_bounds)
        ]
        for k, (lo, hi) in enumerate(bounds):
            margin = STABLE_MARGIN * (1.0 + np.abs(lo) + np.abs(hi))
            active[k] = active[k] | (lo > margin)
            inactive[k] = inactive[k] | (hi < -margin)
    x = np.array([model.var(lo, hi) for lo, hi in zip(box.lower, box.upper)], dtype=np.int64)
    u_vars: list[np.ndarray] = []
    z_exprs: list[Affine] = []
    p_exprs: list[Affine] = []
    t_used: list[tuple[np.ndarray, np.ndarray]] = []
    _forward(model, net, bounds, active, inactive, x, u_vars, z_exprs, hull)
    W_out = net.weights[-1]
    m_out = W_out.shape[0]
    vertices = None
    if output_norm is not None:
        vertices = dual_ball_vertices(*output_norm, m_out)
    w = t = None
    offset = 0.0
    if mode == "forward":
        if direction is None:
            t = _tangent_ball(model, norm, net.input_dim)
            r = Affine(t, np.eye(t.size), np.zeros(t.size))
            rlo, rhi = -np.ones(t.size), np.ones(t.size)
        else:
            r = Affine.constant(direction)
            rlo = rhi = r.const
        for k in range(net.depth):
            W = net.weights[k]
            p = r.left_multiply(W)
            if k == 0 and norm == "1" and direction is None:  # exact over the l1 ball
                plo, phi = -np.abs(W).max(axis=1), np.abs(W).max(axis=1)
            else:
                plo, phi = _interval(W, rlo, rhi)
            if tangent_bounds is not None and tangent_bounds[k][0] is not None:
                plo = np.maximum(plo, tangent_bounds[k][0])
                phi = np.minimum(phi, tangent_bounds[k][1])
            p_exprs.append(p)
            t_used.append((plo, phi))
            switch = _switch_hull if hull else _switch
            r, rlo, rhi = switch(model, p, plo, phi, u_vars[k], active[k], inactive[k])
        o = r.left_multiply(W_out)
        olo, ohi = _interval(W_out, rlo, rhi)
        if output_norm is None:
            idx, vals, c0 = o.left_multiply(c[None, :]).row(0)
            model.maximize(idx, vals)
            offset = c0
            cap = float(np.maximum(c * olo, c * ohi).sum())
        elif vertices is not None:
            _max_of_linear(model, o, olo, ohi, vertices)
            cap = float(np.maximum(vertices * olo, vertices * ohi).sum(axis=1).max())
        else:  # l1 norm of the outputs: sum |o_i|
            offset = _objective_l1(model, o, olo, ohi)
            cap = float(np.maximum(np.abs(olo), np.abs(ohi)).sum())
    else:
        if output_norm is None:
            y = Affine.constant(W_out.T @ c)
            ylo = yhi = y.const
        else:
            w = _output_ball(model, *output_norm, m_out)
            y = Affine(w, W_out.T.copy(), np.zeros(W_out.shape[1]))
            ylo, yhi = _w_interval(W_out, *output_norm)
        for k in range(net.depth - 1, -1, -1):
            s, slo, shi = _switch(model, y, ylo, yhi, u_vars[k], active[k], inactive[k])
            y = s.left_multiply(net.weights[k].T)
            ylo, yhi = _interval(net.weights[k].T, slo, shi)
        objective = _objective_l1 if norm == "inf" else _objective_linf
        offset = objective(model, y, ylo, yhi)
        cap = float(dual_norm(np.maximum(np.abs(ylo), np.abs(yhi)), norm))
    counts = {
        "variables": model.nvars,
        "constraints": model.nrows,
        "binaries": int(sum(model.integer)),
        "unstable": int(sum(int((u >= 0).sum()) for u in u_vars)),
    }
    return GradientMIP(
        model,
        x,
        u_vars,
        active,
        inactive,
        w,
        t,
        vertices,
        offset,
        cap * (1 + 1e-12),
        counts,
        z_exprs,
        p_exprs,
        bounds,
        t_used,
    )


def _lp_range(model: LinearModel, expr: Affine, j: int) -> tuple[float, float]:
    """Certified ``[min, max]`` of one affine expression over the model's LP relaxation."""
    from .milp import solve_lp_certified  # local: milp imports nothing from here

    idx, vals, c0 = expr.row(j)
    if idx.size == 0:
        return c0, c0
    top = []  # certified max of sign * expr
    for sign in (1.0, -1.0):
        res, bound = solve_lp_certified(model.with_cost(idx, sign * vals))
        top.append(bound + sign * c0 if res.status == "optimal" else np.inf)
    return -top[1], top[0]


def tighten_bounds(
    net: ReLUNetwork,
    box: Box,
    norm: str,
    c: np.ndarray | None,
    output_norm: tuple[str, int | None] | None,
    mode: str = "forward",
    formulation: str = "bigm",
    tangent: bool = True,
) -> tuple[list, list]:
    """LP-based bounds (optimization-based bound tightening): for each hidden layer after the
    first, the range of every unstable pre-activation (and, in forward mode, of every
    ``W_k r_{k-1}``) over the LP relaxation of the program built with the bounds found so far.
    Each range is certified by LP duality, so the bounds are valid; layer 1 is exact already.
    """
    pre: list | None = None
    tan: list | None = None
    for k in range(1, net.depth):
        enc = encode_gradient_norm(net, box, norm, c, output_norm, mode, pre, tan, formulation)
        pre = [(lo.copy(), hi.copy()) for lo, hi in enc.pre_bounds]
        lo, hi = pre[k]
        for j in np.flatnonzero(~(enc.active[k] | enc.inactive[k])):
            a, b = _lp_range(enc.model, enc.z_exprs[k], j)
            lo[j], hi[j] = max(lo[j], a), min(hi[j], b)
        if mode == "forward" and tangent:
            tan = [(a.copy(), b.copy()) for a, b in enc.tangent_bounds]
            tlo, thi = tan[k]
            for j in np.flatnonzero(~enc.inactive[k]):
                a, b = _lp_range(enc.model, enc.p_exprs[k], j)
                tlo[j], thi[j] = max(tlo[j], a), min(thi[j], b)
    return pre, tan
