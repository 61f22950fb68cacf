"""The Lipschitz Constant Estimation Problem (LCEP) of a ReLU network as a polyopt Problem.

For hidden layers ``z_k = W_k a_{k-1} + b_k``, ``a_k = relu(z_k)`` and the output functional
``c . f``, the Lipschitz constant on a box for the input norm ``||.||`` is

    max  t^T W_1^T diag(u_1) W_2^T ... diag(u_L) W_out^T c
    s.t. u (u - 1) = 0, (u - 1/2) z >= 0                 (u in ReLU'(z), exactly)
         (z_k - W_k a_{k-1} - b_k)^2 = 0                (the "bad", dense constraints)
         a (a - z) = 0, a >= 0, a >= z                  (a = relu(z), hidden layers < L)
         x in the box, t in the unit ball of the input norm

(Chen, Magron, Lasserre, Pauwels 2020, problem LCEP / LCEP-MLP1). Neurons whose interval
bounds prove them stable on the box are fixed (``u = 0`` or ``1``) and removed. For ``L >= 2``
hidden layers the objective has degree ``L + 1``; it is lifted to a QCQP with auxiliary
variables ``s_kj = u_kj h_kj`` where ``h_k = W_{k+1}^T s_{k+1}`` (``s_L = u_L * W_out^T c``), so
that the objective is ``t^T W_1^T s_1`` (degree 2) and every constraint has degree <= 2.
Each ``s_kj`` gets interval bounds from those of ``h_kj``.

The variables are ``u = (1 + sg) / 2`` with ``sg`` (named ``sg{k}_{j}``) in ``[-1, 1]``, so that
``u (u - 1) = 0`` reads ``sg^2 = 1``: the same problem, whose moment matrices have unit
diagonal entries (which the low-rank solver keeps exactly). For the L-inf input norm the
objective is linear in ``t``, so its maximum over the cube is attained at a vertex and
``t_i^2 = 1`` replaces ``t_i^2 <= 1`` (exact, and a tighter relaxation).

Every variable ``v`` also gets its interval ``lo <= v <= hi`` and ``(v - lo)(hi - v) >= 0``
(``z`` from interval bound propagation, ``a`` in ``[0, max(h, 0)]``, ``s`` from the bounds of
``h``): without them the first-order relaxation of a lifted problem is unbounded. With
``cuts=True`` (default) valid constraints linking ``u`` to the interval bounds ``[l, h]`` of an
unstable ``z`` are added inside the neuron's clique: ``z >= l (1 - u)``, ``z <= h u`` and, for
activations, ``a = u z``, ``a <= h u``, ``a <= z - l (1 - u)``; and ``s (u - 1) = 0``,
``lo u <= s <= hi u`` for lifted variables. They never cut off a feasible point, so the bound
stays valid; ``cuts=False`` gives the paper's formulation plus the variable intervals.

Rounding. The coefficients of the objective (sums of products of weights along paths, folded
through stable neurons) are computed in floating point; their error is bounded a priori,
relative to the magnitudes of the summed terms (:func:`gradient_error`), and the objective
gets the constant ``||e||_*`` that covers it, so cancellation (``1e9 + 1e-9 - 1e9``) or
underflow cannot make the bound smaller than the true constant. The affine expressions of
deeper pre-activations folded through stable-active neurons carry a bounded error
(:func:`lipschitz.intervals.forward_error`); the constraints that depend on the sign or the
bounds of such a pre-activation are relaxed by that error, and the quadratic box constraints
get a constant covering the rounding of their expansion, so that the network's own points stay
feasible. The interval bounds are rounded outward (:meth:`ReLUNetwork.interval_bounds`;
neuron stability from :func:`lipschitz.intervals.stability`).

``substitute=True`` (used for the first-order relaxations) replaces every ``z`` by its affine
expression instead of a variable with a squared equality: the same first-order relaxation with
a smaller moment matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import polyopt as po
from polyopt.algebra import Polynomial, Variable

from .intervals import NeuronCounts, affine_interval, forward_error, stability
from .network import ETA, ReLUNetwork, gamma, round_down, round_up
from .spec import Box, dual_norm_upper

DENSE_BOX_LIMIT = 256
"""With ``substitute=True``, ``(z - l)(h - z) >= 0`` is kept up to this many variables in z."""


@dataclass
class LCEP:
    """The lifted LCEP: the polyopt problem, its natural cliques and its bad constraints.

    ``constant_gradient`` (when every path is fixed) is an upper bound on the magnitudes of
    the exact constant gradient, componentwise (the computed gradient widened by its rounding
    error), so its dual norm bounds the Lipschitz constant.
    """

    problem: po.Problem | None
    cliques: list[list[int]]
    bad: list[int]
    counts: NeuronCounts
    constant_gradient: np.ndarray | None = None
    lifted: int = 0
    rounding: np.ndarray | None = None
    """Per input, the bound on the rounding error of the objective's coefficients (its dual
    norm is the constant added to the objective)."""


class _Builder:
    """Polynomials from index rows into one global, creation-ordered variable list."""

    def __init__(self) -> None:
        self.vars: list[Variable] = []
        self.lo: list[float] = []
        self.hi: list[float] = []

    def new(self, name: str, lo: float, hi: float) -> int:
        self.vars.append(Variable(name))
        self.lo.append(float(lo))
        self.hi.append(float(hi))
        return len(self.vars) - 1

    def poly(self, rows: np.ndarray, coefs: np.ndarray) -> Polynomial:
        """``sum_t coefs[t] * prod_j var[rows[t, j]]`` (``-1`` pads rows)."""
        rows = np.asarray(rows, dtype=np.int64)
        coefs = np.asarray(coefs, dtype=float)
        keep = coefs != 0
        rows, coefs = rows[keep], coefs[keep]
        if rows.size == 0 or rows.shape[0] == 0:
            return Polynomial.constant(0.0)
        used = np.unique(rows[rows >= 0])
        n = used.size
        local = np.where(rows >= 0, np.searchsorted(used, np.maximum(rows, 0)), n)
        local.sort(axis=1)
        return Polynomial.from_codes(tuple(self.vars[i] for i in used), local, coefs)

    def affine(self, a: np.ndarray) -> Polynomial:
        """The affine form ``a[:N] . v + a[N]``."""
        nz = np.flatnonzero(a[:-1])
        rows = np.concatenate([nz, [-1]])[:, None]
        return self.poly(rows, np.concatenate([a[nz], [a[-1]]]))

    def times_affine(self, var: int, a: np.ndarray, shift: float = 0.0) -> Polynomial:
        """``(v_var + shift) * (a . v + a_N)``."""
        nz = np.flatnonzero(a[:-1])
        rows = [np.column_stack([np.full(nz.size, var), nz]), np.array([[var, -1]])]
        coefs = [a[nz], [a[-1]]]
        if shift:
            rows += [np.column_stack([nz, np.full(nz.size, -1)]), np.array([[-1, -1]])]
            coefs += [shift * a[nz], [shift * a[-1]]]
        return self.poly(np.vstack(rows), np.concatenate(coefs))

    def square(self, a: np.ndarray) -> Polynomial:
        """``(a . v + a_N)^2``."""
        nz = np.flatnonzero(a[:-1])
        idx = np.concatenate([nz, [-1]])
        c = np.concatenate([a[nz], [a[-1]]])
        i, j = np.triu_indices(idx.size)
        coef = c[i] * c[j] * np.where(i == j, 1.0, 2.0)
        return self.poly(np.column_stack([idx[i], idx[j]]), coef)


def gradient_error(
    net: ReLUNetwork,
    c: np.ndarray,
    inactive: list[np.ndarray],
    columns: int,
    vmax: float = 1.0,
) -> np.ndarray:
    """Per input ``i``, a bound on the error of the computed gradient coefficients.

    A backward pass ``h_{k-1} = W_k^T D_k h_k`` from ``h_L = W_out^T c`` in floating point,
    with ``D_k`` diagonal in ``[0, 1]`` (zero on ``inactive``) and the products carried as
    affine or polynomial coefficients in ``columns`` monomials bounded by ``vmax`` in
    magnitude, differs from the exact one, once evaluated, by at most ``e_i`` in component
    ``i``: ``gamma_K`` times the path magnitudes ``|W_1|^T ... |W_out|^T |c|`` (``K`` the
    total length of the sums and products) plus the underflow of every product, propagated.

    Raises
    ------
    ValueError
        When the path magnitudes overflow float64.
    """
    Ws = net.weights
    K = net.depth + 4 + net.input_dim + sum(net.hidden_sizes) + net.output_dim
    with np.errstate(over="ignore", invalid="ignore"):
        M = np.abs(Ws[-1]).T @ np.abs(c)
        under = np.full(M.shape, (Ws[-1].shape[0] + 2) * ETA * columns * max(vmax, 1.0))
        for k in range(net.depth - 1, -1, -1):
            M = np.where(inactive[k], 0.0, M)
            under = np.where(inactive[k], 0.0, under)
            A = np.abs(Ws[k]).T
            M = A @ M
            under = A @ under + (Ws[k].shape[0] + 2) * ETA * columns * max(vmax, 1.0)
        e = round_up(2.0 * gamma(K) * M * (1.0 + 2.0 * gamma(K)) + 2.0 * under)
    if not np.all(np.isfinite(e)):
        raise ValueError(
            "the products of the weights along paths overflow float64: the network's weights "
            "are too large for a bound in double precision (rescale the network)"
        )
    return e


def path_magnitudes(net: ReLUNetwork, c: np.ndarray, inactive: list[np.ndarray]) -> float:
    """The largest entry of ``|W_k|^T ... |W_out|^T |c|`` over the hidden layers: a bound on
    the magnitude of every backward quantity of the LCEP."""
    M = np.abs(net.weights[-1]).T @ np.abs(c)
    top = float(M.max(initial=0.0))
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(net.depth - 1, 0, -1):
            M = np.abs(net.weights[k]).T @ np.where(inactive[k], 0.0, M)
            top = max(top, float(M.max(initial=0.0)))
    return top


def build_lcep(
    net: ReLUNetwork,
    box: Box,
    norm: str,
    c: np.ndarray,
    cuts: bool = True,
    substitute: bool = False,
    affine_links: bool = False,
) -> LCEP:
    """The lifted LCEP of ``c . net`` on ``box`` for the input norm ``norm``.

    ``substitute=True`` creates no ``z`` variables: every ``z`` is replaced by its affine
    expression ``W_k a_{k-1} + b_k`` (for first-order relaxations this is the same relaxation
    without the dense squared equalities, whose null space it removes); the redundant linear
    bounds ``l <= z <= h`` are then implied by the other variables' bounds and omitted, and
    the quadratic ``(z - l)(h - z) >= 0`` is kept when ``z`` involves at most
    :data:`DENSE_BOX_LIMIT` variables.

    ``affine_links=True`` states the links as the affine ``z - W_k a_{k-1} - b_k = 0`` instead
    of the squared equalities: HR-d then imposes ``L(h m) = 0`` for every ``m`` of degree <= 1
    (the same relaxation, since ``M_1`` is PSD), linear rows that first-order and low-rank
    solvers handle far better than one degenerate quadratic row.
    """
    L = net.depth
    n0 = net.input_dim
    bounds, active, inactive = stability(net, box)
    unstable = [~(a | i) for a, i in zip(active, inactive)]
    ferr, zmag = forward_error(net, box, active, inactive)
    scale = max(
        float(np.max(np.abs(box.lower))),
        float(np.max(np.abs(box.upper))),
        max(float(m.max(initial=0.0)) for m in zmag),
        path_magnitudes(net, c, inactive),
        1.0,
    )
    if not scale <= np.sqrt(np.finfo(float).max / (64.0 * (n0 + sum(net.hidden_sizes)))):
        raise ValueError(
            f"the LCEP's quadratic constraints would overflow float64: its variables reach "
            f"{scale:.3g} in magnitude (pre-activations, gradient paths or the domain box); "
            "rescale the inputs or the network"
        )
    # slack of the constraints of unstable neuron (k, j): the error of its folded expression
    # plus the rounding of the constraints' constants (relative to their terms' magnitudes)
    nvars_max = 3 * net.input_dim + 4 * sum(net.hidden_sizes) + 2
    slack = [
        round_up(
            fe
            + 8.0 * gamma(W.shape[1] + 4) * (zm + np.abs(zl) + np.abs(zh) + np.abs(b))
            + (nvars_max + 8) * ETA * scale
        )
        for fe, zm, (zl, zh), W, b in zip(ferr, zmag, bounds, net.weights, net.biases)
    ]

    def quad_margin(mag: float, terms: int) -> float:
        """Constant covering the rounding of the expansion of ``(v - lo)(hi - v)``."""
        return float(round_up(8.0 * gamma(terms + 4) * mag * mag + (terms + 4) ** 2 * ETA))

    counts = NeuronCounts.from_masks(active, inactive)
    Ws = net.weights
    # which backward quantities are non-constant (decides where products must be lifted)
    g_out = Ws[-1].T @ c
    # v_k = diag(u_k) h_k with h_{L-1} = W_out^T c and h_{k-1} = W_k^T v_k: v_kj is
    # structurally nonzero when h_kj is and the neuron is not inactive, non-constant when
    # h_kj is (active neurons) or when u_kj is free and h_kj nonzero
    nonconst_v = [np.zeros(p, bool) for p in net.hidden_sizes]
    nonzero_v = [np.zeros(p, bool) for p in net.hidden_sizes]
    nonconst_v[L - 1] = unstable[L - 1] & (g_out != 0)
    nonzero_v[L - 1] = ~inactive[L - 1] & (g_out != 0)
    need_s = [np.zeros(p, bool) for p in net.hidden_sizes]
    for k in range(L - 2, -1, -1):
        h_nonconst = (np.abs(Ws[k + 1].T) @ nonconst_v[k + 1].astype(float)) > 0
        h_nonzero = (np.abs(Ws[k + 1].T) @ nonzero_v[k + 1].astype(float)) > 0
        need_s[k] = unstable[k] & h_nonconst
        nonconst_v[k] = (unstable[k] & h_nonzero) | (active[k] & h_nonconst)
        nonzero_v[k] = ~inactive[k] & h_nonzero

    B = _Builder()
    xl, xh = box.lower, box.upper
    xs = [B.new(f"x{i + 1}", xl[i], xh[i]) for i in range(n0)]
    ts = [B.new(f"t{i + 1}", -1.0, 1.0) for i in range(n0)]
    rs = [B.new(f"r{i + 1}", 0.0, 1.0) for i in range(n0)] if norm == "1" else []
    us, zs, ys, ss = [], [], [], []
    for k in range(L):
        zl, zh = bounds[k]
        idx = np.flatnonzero(unstable[k])
        u_k, z_k, y_k, s_k = {}, {}, {}, {}
        for j in idx:
            u_k[j] = B.new(f"sg{k + 1}_{j + 1}", -1.0, 1.0)
            if not substitute:
                sl = float(slack[k][j])
                z_k[j] = B.new(f"z{k + 1}_{j + 1}", zl[j] - sl, zh[j] + sl)
            if k < L - 1:
                sl = float(slack[k][j])
                y_k[j] = B.new(f"y{k + 1}_{j + 1}", -sl, max(zh[j], 0.0) + sl)
            if need_s[k][j]:
                s_k[j] = B.new(f"s{k + 1}_{j + 1}", -np.inf, np.inf)  # bounds set below
        us.append(u_k)
        zs.append(z_k)
        ys.append(y_k)
        ss.append(s_k)
    N = len(B.vars)

    cons: list = []
    bad: list[int] = []
    cliques: list[list[int]] = []

    def add(con, is_bad: bool = False) -> None:
        if is_bad:
            bad.append(len(cons))
        cons.append(con)

    # input box and dual-norm ball
    for i in range(n0):
        x, t = B.vars[xs[i]], B.vars[ts[i]]
        add(x - xl[i] >= 0)
        add(xh[i] - x >= 0)
        mu = quad_margin(abs(xl[i]) + abs(xh[i]), 1)
        add((x - xl[i]) * (xh[i] - x) + mu >= 0)
        if norm == "inf":
            # the objective is linear in t, so max over the cube = max over its vertices:
            # t_i^2 = 1 is an exact reformulation (and a tighter relaxation than t_i^2 <= 1)
            add(t * t - 1 == 0)
        else:
            add(1 - t * t >= 0)
            add(t + 1 >= 0)
            add(1 - t >= 0)
        clique = [xs[i], ts[i]]
        if norm == "1":
            r = B.vars[rs[i]]
            add(r - t >= 0)
            add(r + t >= 0)
            add(r >= 0)
            add(1 - r >= 0)
            add(r * (1 - r) >= 0)
            # |t| <= r <= 1 gives t^2 <= r^2 <= r: with sum r <= 1 these bound the trace of
            # the t block of the moment matrix by 1 (an L2-type bound on t) instead of n
            add(r - t * t >= 0)
            add(r * r - t * t >= 0)
            clique.append(rs[i])
        cliques.append(clique)
    if norm == "2":
        add(1 - po.polysum([B.vars[t] * B.vars[t] for t in ts]) >= 0, is_bad=True)
    elif norm == "1":
        add(1 - po.polysum([B.vars[r] for r in rs]) >= 0, is_bad=True)

    # forward pass: affine expressions of each layer's activations in the variables
    prev = np.zeros((n0, N + 1))
    prev[np.arange(n0), xs] = 1.0
    for k in range(L):
        E = Ws[k] @ prev
        E[:, N] += net.biases[k]
        zl, zh = bounds[k]
        act = np.zeros((Ws[k].shape[0], N + 1))
        act[active[k]] = E[active[k]]
        for j, ui in us[k].items():
            u = 0.5 + 0.5 * B.vars[ui]  # u = (1 + sg) / 2 with sg = +-1
            # the bounds and the sign constraints hold up to the slack for the folded expression
            sl = float(slack[k][j])
            l_, h_ = float(round_down(zl[j] - sl)), float(round_up(zh[j] + sl))
            z_mu = quad_margin(float(zmag[k][j]) + abs(l_) + abs(h_), np.count_nonzero(E[j]))
            if substitute:
                z = B.affine(E[j])
                clique = [ui]
            else:
                zi = zs[k][j]
                z = B.vars[zi]
                e = E[j].copy()
                e[zi] -= 1.0
                add((B.affine(e) if affine_links else B.square(e)) == 0, is_bad=True)
                clique = [ui, zi]
            add(u * (u - 1) == 0)
            add((u - 0.5) * z + 0.5 * sl >= 0)
            if not substitute:
                add(z - l_ >= 0)
                add(h_ - z >= 0)
            if not substitute or np.count_nonzero(E[j, :N]) <= DENSE_BOX_LIMIT:
                add((z - l_) * (h_ - z) + z_mu >= 0)
            if cuts:
                add(z - l_ * (1 - u) + sl >= 0)
                add(h_ * u - z + sl >= 0)
            if k < L - 1:
                yi = ys[k][j]
                y = B.vars[yi]
                y_hi = max(h_, 0.0)
                add(y * (y - z) == 0)
                add(y + sl >= 0)
                add(y - z + sl >= 0)
                add(y_hi - y >= 0)
                add((y + sl) * (y_hi - y) + quad_margin(y_hi + sl, 1) >= 0)
                if cuts:
                    add(y - u * z == 0)
                    add(h_ * u - y + sl >= 0)
                    add(z - l_ * (1 - u) - y + sl >= 0)
                act[j, yi] = 1.0
                clique.append(yi)
            cliques.append(clique)
        prev = act

    # backward pass: the gradient as an affine expression, lifting products u * h
    lo = np.array(B.lo)
    hi = np.array(B.hi)
    V = np.zeros((Ws[L - 1].shape[0], N + 1))
    V[active[L - 1], N] = g_out[active[L - 1]]
    for j, ui in us[L - 1].items():
        V[j, ui] = 0.5 * g_out[j]
        V[j, N] = 0.5 * g_out[j]
    lifted = 0
    clique_of = {v: q for q, cl in enumerate(cliques) for v in cl}
    for k in range(L - 2, -1, -1):
        H = Ws[k + 1].T @ V
        Vk = np.zeros((Ws[k].shape[0], N + 1))
        Vk[active[k]] = H[active[k]]
        for j, ui in us[k].items():
            if j in ss[k]:
                si = ss[k][j]
                hl, hh = affine_interval(H[j], lo, hi)
                slo, shi = min(hl, 0.0), max(hh, 0.0)
                lo[si], hi[si] = slo, shi
                s, u = B.vars[si], 0.5 + 0.5 * B.vars[ui]
                add(s - B.times_affine(ui, 0.5 * H[j], shift=1.0) == 0, is_bad=True)
                add(s - slo >= 0)
                add(shi - s >= 0)
                add((s - slo) * (shi - s) + quad_margin(abs(slo) + abs(shi), 1) >= 0)
                if cuts:
                    add(s * (u - 1) == 0)
                    add(s - hl * u >= 0)
                    add(hh * u - s >= 0)
                Vk[j, si] = 1.0
                lifted += 1
                cliques[clique_of[ui]].append(si)
            else:
                Vk[j, ui] = 0.5 * H[j, N]
                Vk[j, N] = 0.5 * H[j, N]
        V = Vk
    grad = Ws[0].T @ V  # (n0, N + 1)
    # the computed coefficients differ from the exact ones: at the network's point the
    # objective is within e . |t| <= ||e||_* of t . (exact gradient)
    vmax = max(1.0, float(np.max(np.abs(lo))), float(np.max(np.abs(hi))))
    err = gradient_error(net, c, inactive, columns=N + 1, vmax=vmax)

    if not np.any(grad[:, :N]):
        # |exact gradient| <= |computed| + err componentwise; dual norms are monotone
        bound = round_up(np.abs(grad[:, N]) + err)
        return LCEP(None, cliques, bad, counts, constant_gradient=bound, rounding=err)
    rows_t = np.repeat(np.array(ts), N + 1)
    rows_v = np.tile(np.concatenate([np.arange(N), [-1]]), n0)
    objective = B.poly(np.column_stack([rows_t, rows_v]), grad.reshape(-1))
    objective = objective + dual_norm_upper(err, norm)
    problem = po.Problem(maximize=objective, constraints=cons, variables=B.vars)
    return LCEP(problem, cliques, bad, counts, lifted=lifted)
