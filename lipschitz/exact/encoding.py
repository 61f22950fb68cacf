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

The program is a relaxation of the true problem in exact arithmetic (the network's floats read
as exact reals), so a bound on it proved in exact arithmetic bounds the Lipschitz constant:

* every interval bound is computed with outward rounding (:func:`affine_range`: a margin of
  ``gamma_n`` times the sum of the magnitudes of the summed terms, plus the underflow of each
  product), and every right-hand side computed from them is rounded in the direction that
  relaxes its row;
* no coefficient is a computed product: the output functional ``c`` and a fixed direction are
  variables fixed by their bounds, and every expression that would otherwise be multiplied by
  the next layer's weights (an active neuron's tangent or backward value, an output) becomes a
  variable with an equality row, so every row holds original weights (or 0, 1, -1);
* a neuron is stable when its rigorous bounds say so (``lo >= 0`` or ``hi <= 0``), with no
  margin: an unstable neuron always has ``lo < 0 < hi``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..network import ReLUNetwork
from ..spec import Box
from .milp import TINY, LinearModel, down, gamma, up


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
    a_vars: list[np.ndarray] = field(default_factory=list)
    """Per hidden layer, each neuron's ReLU-output variable (-1 where there is none)."""

    @property
    def binaries(self) -> np.ndarray:
        """The column indices of the neuron binaries, layer by layer."""
        parts = [u[u >= 0] for u in self.u]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def affine_range(
    W: np.ndarray, lo: np.ndarray, hi: np.ndarray, b: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rigorous ``[min, max]`` of each entry of ``W x + b`` over ``lo <= x <= hi``.

    The float sums get a margin of ``gamma_{n+2}`` times the sum of the magnitudes of their
    terms (not of the result, so cancellation cannot hide the rounding) plus the underflow of
    every product, and the ends are rounded outward: the interval holds in exact arithmetic.
    Entries that overflow are infinite.
    """
    W = np.atleast_2d(np.asarray(W, dtype=float))
    lo = np.asarray(lo, dtype=float)
    hi = np.asarray(hi, dtype=float)
    with np.errstate(all="ignore"):
        P, Q = W * lo, W * hi
        P[W == 0.0] = 0.0  # 0 times an infinite bound
        Q[W == 0.0] = 0.0
        zl = np.minimum(P, Q).sum(axis=1)
        zu = np.maximum(P, Q).sum(axis=1)
        T = np.maximum(np.abs(P), np.abs(Q)).sum(axis=1)
        if b is not None:
            b = np.asarray(b, dtype=float)
            zl, zu, T = zl + b, zu + b, T + np.abs(b)
        n = W.shape[1] + 2
        err = gamma(n + 1) * T * (1.0 + 2.0 * gamma(n + 1)) + (n + 1) * TINY
        zl, zu = down(zl - err), up(zu + err)
    zl[np.isnan(zl)] = -np.inf
    zu[np.isnan(zu)] = np.inf
    return zl, zu


def sum_up(terms: np.ndarray) -> float:
    """A float ``>=`` the exact sum of nonnegative floats."""
    terms = np.asarray(terms, dtype=float).reshape(-1)
    if terms.size == 0:
        return 0.0
    total = float(terms.sum()) * (1.0 + 2.0 * gamma(terms.size + 1))
    return float(up(total + terms.size * TINY))


def box_bounds(box: Box) -> tuple[np.ndarray, np.ndarray]:
    """Float bounds that contain the box ``|x - center| <= radius`` in exact arithmetic
    (``center -+ radius`` rounded outward)."""
    return down(box.center - box.radius), up(box.center + box.radius)


def interval_bounds(
    net: ReLUNetwork, box: Box
) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[np.ndarray], list[np.ndarray]]:
    """Rigorous interval bounds of every hidden pre-activation on the box, and the stably
    active (``lo >= 0``) and inactive (``hi <= 0``) masks."""
    if box.dim != net.input_dim:
        raise ValueError(f"box has dimension {box.dim}, network input {net.input_dim}")
    lo, hi = box_bounds(box)
    bounds, active, inactive = [], [], []
    for k, (W, b) in enumerate(zip(net.weights[:-1], net.biases[:-1])):
        zl, zu = affine_range(W, lo, hi, b)
        _check_finite(k, zl, zu)
        bounds.append((zl, zu))
        inactive.append(zu <= 0)
        active.append((zl >= 0) & (zu > 0))
        lo, hi = np.maximum(zl, 0.0), np.maximum(zu, 0.0)
    return bounds, active, inactive


def _check_finite(k: int, lo: np.ndarray, hi: np.ndarray, what: str = "pre-activation") -> None:
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise ValueError(
            f"the interval bounds of the {what}s of hidden layer {k} overflow double "
            "precision on this domain: the weights or the domain are too large for the "
            "MIP encoding (rescale the network or use a smaller domain)"
        )


def _as_variable(model: LinearModel, idx, vals, c0: float, lo: float, hi: float) -> int | None:
    """One model variable equal to the affine expression ``vals . x[idx] + c0`` (whose
    rigorous range is ``[lo, hi]``), or None when the expression is identically 0."""
    if idx.size == 0 and c0 == 0.0:
        return None
    if idx.size == 1 and vals[0] == 1.0 and c0 == 0.0:
        return int(idx[0])
    v = model.var(lo, hi)
    model.row(np.append(idx, v), np.append(-vals, 1.0), c0, c0)
    return v


def _picks(n: int, idx: list[int], rows: list[int]) -> Affine:
    """The affine form whose output ``rows[k]`` is the variable ``idx[k]`` (the other outputs
    0)."""
    M = np.zeros((n, len(idx)))
    M[rows, np.arange(len(idx))] = 1.0
    return Affine(np.array(idx, dtype=np.int64), M, np.zeros(n))


def _switch_box(ylo, yhi, active, inactive) -> tuple[np.ndarray, np.ndarray]:
    """The interval of ``s = u * y`` per neuron: ``y``'s for active ones, 0 for inactive
    ones, the hull of both otherwise."""
    slo = np.where(active, ylo, np.where(inactive, 0.0, np.minimum(ylo, 0.0)))
    shi = np.where(active, yhi, np.where(inactive, 0.0, np.maximum(yhi, 0.0)))
    return slo, shi


def _materialize(model: LinearModel, e: Affine, lo: np.ndarray, hi: np.ndarray) -> Affine:
    """``e`` as one variable per row (rows identically 0 stay empty), so that multiplying it
    by a matrix computes no float products."""
    n = e.const.size
    idx, rows = [], []
    for j in range(n):
        v = _as_variable(model, *e.row(j), lo[j], hi[j])
        if v is not None:
            idx.append(v)
            rows.append(j)
    return _picks(n, idx, rows)


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
    """Rigorous interval of ``W_out^T w`` over the dual ball."""
    if kind == "1":
        r = np.array([sum_up(col) for col in np.abs(W_out).T])
        return -r, r
    V = dual_ball_vertices(kind, cls, W_out.shape[0])
    lo, hi = np.empty(W_out.shape[1]), np.empty(W_out.shape[1])
    for i, col in enumerate(W_out.T):
        a, b = affine_range(V, col, col)
        lo[i], hi[i] = a.min(), b.max()
    return lo, hi


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


def _forward(model, net, bounds, active, inactive, x, u_vars, z_exprs, a_vars, hull) -> None:
    """Encode the forward pass: binaries for unstable neurons, ReLU outputs where needed.
    Every layer's input is a selection of variables, so ``W_k`` enters the rows unchanged.
    Per layer, ``u_vars``, ``z_exprs`` and ``a_vars`` receive the neurons' binaries, their
    pre-activations and their ReLU-output variables (-1: none)."""
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
                model.row(np.append(idx, uj), np.append(vals, lo[j]), lo=down(lo[j] - c0))
                model.row(np.append(idx, uj), np.append(vals, -hi[j]), hi=-c0)
                continue
            a = model.var(0.0, hi[j])
            # a >= z;  a <= z - l (1 - u);  a <= h u
            model.row(np.append(idx, a), np.append(-vals, 1.0), lo=c0)
            model.row(
                np.concatenate([idx, [a, uj]]),
                np.concatenate([-vals, [1.0, -lo[j]]]),
                hi=up(c0 - lo[j]),
            )
            model.row([a, uj], [1.0, -hi[j]], hi=0.0)
            a_idx.append(a)
            a_rows.append(j)
        u_vars.append(u)
        a_of = np.full(n, -1, dtype=np.int64)
        a_of[np.array(a_rows, dtype=np.int64)] = np.array(a_idx, dtype=np.int64)
        a_vars.append(a_of)
        prev = _picks(n, a_idx, a_rows)


def _switch(
    model, y: Affine, ylo, yhi, u, active, inactive
) -> tuple[Affine, np.ndarray, np.ndarray]:
    """``s = u * y`` for one layer (every output a variable), with the interval of ``s``."""
    n = ylo.size
    slo, shi = _switch_box(ylo, yhi, active, inactive)
    out_idx, out_rows = [], []
    for j in range(n):
        if inactive[j]:
            continue
        idx, vals, c0 = y.row(j)
        if active[j]:
            s = _as_variable(model, idx, vals, c0, ylo[j], yhi[j])
            if s is not None:
                out_idx.append(s)
                out_rows.append(j)
            continue
        s = model.var(slo[j], shi[j])
        lo, hi = ylo[j], yhi[j]
        # y - h (1 - u) <= s <= y - l (1 - u);   l u <= s <= h u
        model.row(
            np.concatenate([idx, [s, u[j]]]),
            np.concatenate([-vals, [1.0, -hi]]),
            lo=down(c0 - hi),
        )
        model.row(
            np.concatenate([idx, [s, u[j]]]),
            np.concatenate([-vals, [1.0, -lo]]),
            hi=up(c0 - lo),
        )
        model.row([s, u[j]], [1.0, -lo], lo=0.0)
        model.row([s, u[j]], [1.0, -hi], hi=0.0)
        out_idx.append(s)
        out_rows.append(j)
    return _picks(n, out_idx, out_rows), slo, shi


def _switch_hull(model, y: Affine, ylo, yhi, u, active, inactive):
    """``s = u * y`` with every output a variable and the per-neuron hull for unstable ones
    (``y`` is an affine form of variables with boxes)."""
    n = ylo.size
    slo, shi = _switch_box(ylo, yhi, active, inactive)
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
    return _picks(n, out_idx, out_rows), slo, shi


def _objective_l1(model: LinearModel, g: Affine, glo, ghi) -> float:
    """``max sum_i |g_i|``; returns the objective's constant offset (a float sum: callers
    give expressions without constants, where it is 0)."""
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
        model.row(np.concatenate([idx, [a, b]]), np.concatenate([-vals, [1.0, m1]]), hi=up(c0 + m1))
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
            big = float(up(top - lo_))
            # m <= sign g + big (1 - beta)
            model.row(
                np.concatenate([idx, [m, beta]]),
                np.concatenate([-sign * vals, [1.0, big]]),
                hi=up(sign * c0 + big),
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


def _max_of_linear(model: LinearModel, o: Affine, olo, ohi, V: np.ndarray) -> float:
    """``max_v v . o`` over the rows ``v`` of ``V``: one binary per candidate. ``o`` is a
    selection of variables and ``V`` has entries 0 and +-1, so ``v . o`` is computed
    exactly. Returns the rigorous upper bound of the maximum."""
    cand_lo, cand_hi = affine_range(V, olo, ohi)
    floor = float(cand_lo.max())
    top = float(cand_hi.max())
    m = model.var(floor, top)
    model.maximize([m], [1.0])
    betas = []
    for v, lo_, hi_ in zip(V, cand_lo, cand_hi):
        if hi_ < floor:
            continue  # never the largest
        e = o.left_multiply(v[None, :])
        idx, vals, c0 = e.row(0)
        beta = model.binary()
        big = float(up(top - lo_))
        # m <= v . o + big (1 - beta)
        model.row(
            np.concatenate([idx, [m, beta]]),
            np.concatenate([-vals, [1.0, big]]),
            hi=up(c0 + big),
        )
        betas.append(beta)
    model.row(betas, np.ones(len(betas)), 1.0, 1.0)
    return top


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
    interval bounds where tighter valid bounds are known (:func:`tighten_bounds`); they must
    hold in exact arithmetic.

    ``formulation="hull"`` (forward mode) encodes each unstable ReLU and switch by the convex
    hull of its two cases over the box of its inputs (copies ``v1 = u v`` of the inputs, as
    in Anderson et al. 2020's ideal formulations) instead of big-M rows on one interval: more
    variables, a much tighter LP relaxation. ``"bigm"`` is LipMIP's appendix D encoding.

    ``direction`` (forward mode) fixes ``t``: the program then maximizes the derivative along
    that one direction (used to split the L1 case into its ``2 n`` vertex directions).

    Raises
    ------
    ValueError
        When an interval bound overflows double precision (weights or domain too large).
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
    bounds, active, inactive = interval_bounds(net, box)
    if pre_bounds is not None:
        bounds = [
            (np.maximum(lo, l2), np.minimum(hi, h2))
            for (lo, hi), (l2, h2) in zip(bounds, pre_bounds)
        ]
        for k, (lo, hi) in enumerate(bounds):
            inactive[k] = inactive[k] | (hi <= 0)
            active[k] = (active[k] | (lo >= 0)) & ~inactive[k]
    xlo, xhi = box_bounds(box)
    x = np.array([model.var(lo, hi) for lo, hi in zip(xlo, xhi)], dtype=np.int64)
    u_vars: list[np.ndarray] = []
    z_exprs: list[Affine] = []
    p_exprs: list[Affine] = []
    t_used: list[tuple[np.ndarray, np.ndarray]] = []
    a_vars: list[np.ndarray] = []
    _forward(model, net, bounds, active, inactive, x, u_vars, z_exprs, a_vars, hull)
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
            rlo, rhi = -np.ones(t.size), np.ones(t.size)
        else:  # a fixed direction: variables fixed by their bounds
            direction = np.asarray(direction, dtype=float)
            fixed = np.array([model.var(d, d) for d in direction], dtype=np.int64)
            rlo = rhi = direction
        tv = t if direction is None else fixed
        r = Affine(tv, np.eye(tv.size), np.zeros(tv.size))
        for k in range(net.depth):
            W = net.weights[k]
            p = r.left_multiply(W)
            if k == 0 and norm == "1" and direction is None:  # exact over the l1 ball
                plo, phi = -np.abs(W).max(axis=1), np.abs(W).max(axis=1)
            else:
                plo, phi = affine_range(W, rlo, rhi)
            if tangent_bounds is not None and tangent_bounds[k][0] is not None:
                plo = np.maximum(plo, tangent_bounds[k][0])
                phi = np.minimum(phi, tangent_bounds[k][1])
            _check_finite(k, plo, phi, "tangent")
            p_exprs.append(p)
            t_used.append((plo, phi))
            switch = _switch_hull if hull else _switch
            r, rlo, rhi = switch(model, p, plo, phi, u_vars[k], active[k], inactive[k])
        olo, ohi = affine_range(W_out, rlo, rhi)
        _check_finite(net.depth, olo, ohi, "output tangent")
        o = _materialize(model, r.left_multiply(W_out), olo, ohi)
        if output_norm is None:
            model.maximize(o.idx, c @ o.M)  # o.M selects: c @ o.M is c itself
            cap = float(affine_range(c[None, :], olo, ohi)[1][0])
        elif vertices is not None:
            cap = _max_of_linear(model, o, olo, ohi, vertices)
        else:  # l1 norm of the outputs: sum |o_i|
            offset = _objective_l1(model, o, olo, ohi)
            cap = sum_up(np.maximum(np.abs(olo), np.abs(ohi)))
    else:
        if output_norm is None:  # w = c, fixed by its bounds
            wv = np.array([model.var(ci, ci) for ci in c], dtype=np.int64)
            ylo, yhi = affine_range(W_out.T, c, c)
        else:
            w = wv = _output_ball(model, *output_norm, m_out)
            ylo, yhi = _w_interval(W_out, *output_norm)
        y = Affine(wv, W_out.T.copy(), np.zeros(W_out.shape[1]))
        for k in range(net.depth - 1, -1, -1):
            _check_finite(k, ylo, yhi, "backward value")
            s, slo, shi = _switch(model, y, ylo, yhi, u_vars[k], active[k], inactive[k])
            y = s.left_multiply(net.weights[k].T)
            ylo, yhi = affine_range(net.weights[k].T, slo, shi)
        _check_finite(0, ylo, yhi, "gradient")
        objective = _objective_l1 if norm == "inf" else _objective_linf
        offset = objective(model, y, ylo, yhi)
        mag = np.maximum(np.abs(ylo), np.abs(yhi))
        cap = sum_up(mag) if norm == "inf" else float(mag.max(initial=0.0))
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
        cap,
        counts,
        z_exprs,
        p_exprs,
        bounds,
        t_used,
        a_vars,
    )


def propagate_fixings(
    enc: GradientMIP, lb: np.ndarray, ub: np.ndarray
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Interval propagation through the forward pass under a node's variable bounds (binaries
    fixed by branching), layer by layer: each pre-activation's rigorous range over the box of
    its inputs (:func:`affine_range`, within the program's own bounds); a free binary whose
    neuron's range is strictly positive (negative) is fixed to 1 (0), and each ReLU-output
    variable gets the range of its neuron's output (0 when off, ``z`` when on). Every point
    of the program with integral binaries in the node's box satisfies the new bounds, so a
    bound over the new box bounds the node. Returns ``(lb, ub, infeasible)``; ``infeasible``
    when a fixed binary contradicts its neuron's range (no such point)."""
    lb, ub = lb.copy(), ub.copy()
    for k, z in enumerate(enc.z_exprs):
        if z.idx.size:
            zl, zh = affine_range(z.M, lb[z.idx], ub[z.idx], z.const)
        else:
            zl, zh = z.const.copy(), z.const.copy()
        zl = np.maximum(zl, enc.pre_bounds[k][0])
        zh = np.minimum(zh, enc.pre_bounds[k][1])
        u = enc.u[k]
        has = u >= 0
        on, off = np.zeros(u.size, dtype=bool), np.zeros(u.size, dtype=bool)
        on[has], off[has] = lb[u[has]] == 1.0, ub[u[has]] == 0.0
        if np.any(on & (zh < 0)) or np.any(off & (zl > 0)):
            return lb, ub, True
        free = has & ~on & ~off
        to1, to0 = free & (zl > 0), free & (zh < 0)
        lb[u[to1]] = 1.0
        ub[u[to0]] = 0.0
        on, off = on | to1, off | to0
        av = enc.a_vars[k]
        hasa = av >= 0
        idx = av[hasa]
        ub[idx] = np.minimum(ub[idx], np.where(off, 0.0, np.maximum(zh, 0.0))[hasa])
        lb[idx] = np.maximum(lb[idx], np.where(on | enc.active[k], np.maximum(zl, 0.0), 0.0)[hasa])
        if np.any(lb[idx] > ub[idx]):
            return lb, ub, True
    return lb, ub, False


def _lp_range(model: LinearModel, expr: Affine, j: int) -> tuple[float, float]:
    """``[min, max]`` of one affine expression over the model's LP relaxation, valid in exact
    arithmetic (from the LP duals, whatever the solver's status)."""
    from .milp import solve_lp_certified  # local: milp imports nothing from here

    idx, vals, c0 = expr.row(j)
    if idx.size == 0:
        return c0, c0
    top = []  # certified max of sign * expr
    for sign in (1.0, -1.0):
        _, bound = solve_lp_certified(model.with_cost(idx, sign * vals))
        top.append(float(up(bound + sign * c0)) if np.isfinite(bound) else np.inf)
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
