"""Exact Lipschitz constants by mixed-integer programming (LipMIP) and its LP relaxation.

``exact`` solves the program of :mod:`lipschitz.exact.encoding` with HiGHS (or SCIP) and then
proves its answer without trusting the solver's tolerances. Everything is about the network's
floats read as exact reals, and "holds" means: in exact arithmetic.

* ``lower`` is the dual norm of a *realized* gradient: the gradient of ``c . f`` at a point of
  the box where no pre-activation is 0, which the exact (rational) forward pass confirms, so
  ``f`` is affine around it. The gradient and its norm are computed in exact rational
  arithmetic and rounded down. Hence ``lower <= L`` holds.
* ``upper`` is proved by a branch-and-bound over the forward-mode program in the per-neuron
  hull formulation (same bounds, same problem, a much tighter LP relaxation than big-M's;
  each program first gets a few nodes, the programs left open share the rest of the time
  budget) in which every node's bound is a Neumaier-Shcherbina bound from the LP duals
  (:class:`lipschitz.exact.milp.DualBound`, valid for any multipliers), and a node with every
  neuron fixed is also bounded by its pattern's gradient norm computed in exact arithmetic.
  The program is a relaxation of the true problem
  in exact arithmetic (outward-rounded interval bounds, no computed coefficients), and the
  interval bound ``cap`` of each program bounds it too. Hence ``L <= upper`` holds. HiGHS's own
  floating-point dual bound is only the target of that proof (``info["solver_upper"]``).
* The network is first rescaled by powers of two (per neuron, the input and the output: exact
  in floating point, and the activation patterns do not change), so that badly scaled
  networks reach the solver with numbers of order 1; the bounds are scaled back with directed
  rounding.

``status`` is ``"optimal"`` when ``upper - lower <= EXACT_REL_TOL * upper`` (relative only:
no absolute floor), and then ``value`` is the realized gradient norm rounded to nearest, with
``lower <= value <= upper``; ``sound`` is True exactly then. Otherwise ``value = upper`` and
the status says why the bracket is wider: ``"time_limit"`` (the time limit was reached),
``"gap"`` (a requested ``rel_gap``, or a proof that ran out of nodes or met a degenerate
pattern), ``"solver_error"`` never hides a bound: the bracket ``lower <= L <= upper`` holds in
every case, only ``sound`` (the value is exact) is then False.

``liplp`` is the LP relaxation of the same program (binaries in ``[0, 1]``), reported through a
bound from the LP duals that holds in exact arithmetic.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np
from scipy.optimize import linprog

from polyopt.logs import logs_when_verbose

from ..intervals import NeuronCounts
from ..lower import lower_bound
from ..network import ReLUNetwork
from ..result import LipschitzBound
from ..spec import Box, resolve_domain, resolve_norm, resolve_output
from .branching import STRONG_CANDIDATES, ChildBound, Pseudocosts
from .encoding import (
    GradientMIP,
    dual_ball_vertices,
    encode_gradient_norm,
    propagate_fixings,
    resolve_output_norm,
    tighten_bounds,
)
from .milp import (
    MIP_SOLVERS,
    LPRelaxation,
    down,
    scip_available,
    solve_lp_certified,
    solve_milp,
    up,
)

log = logging.getLogger("lipschitz")

EXACT_REL_TOL = 1e-6
"""A bracket wider than this, relative to its upper end, is not reported as ``"optimal"``."""

PROOF_REL = 2.5e-7
"""The proof aims at ``best * (1 + PROOF_REL)`` (or the solver's bound if higher)."""

PROOF_NODES = 20_000
"""Node budget of one program's proof."""

PROOF_FIRST_NODES = 50
"""Node budget of each program's first proof attempt (most programs close at their root);
the programs still open then share the rest of the time budget."""

SDP_SEED_SHARE = 0.2
"""Under a time limit, the share of it kept back for the SDP seed..."""
SDP_SEED_FLOOR = 10.0
"""...but at least this many seconds, up to :data:`SDP_SEED_MOST` of a short limit: HR-2 of
an (80, 80) network takes 2.6 s, so a 10 s limit with a 2 s seed budget left the bracket's
upper end at Fast-Lip's 8.16 instead of HR-2's 2.71."""
SDP_SEED_MOST = 0.6
MILP_SHARE = 0.7
"""Under a time limit, the share of the time left after the bounds that the MILPs may use;
the rest goes to the proofs."""
PROOF_SECONDS = 10.0
"""Time budget of the proofs without a time limit: this, or 5 times the MIP time if longer."""

SIGN_VECTORS = 10
"""Up to this many outputs, the box dual ball (output norm ``"1"``) is enumerated."""


@dataclass(repr=False)
class ExactValue(LipschitzBound):
    """An exact Lipschitz constant with the bracket ``lower <= L <= upper`` that proves it
    (see the module docstring for what each field guarantees)."""

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

    def to_dict(self) -> dict[str, Any]:
        """The :meth:`LipschitzBound.to_dict` record with ``"type": "ExactValue"`` and the
        bracket ``lower`` / ``upper`` (strict JSON: non-finite numbers as strings)."""
        from polyopt.jsonio import to_strict

        return super().to_dict() | to_strict({"lower": self.lower, "upper": self.upper})

    def to_json(self, path: str | None = None) -> str:
        """The :meth:`to_dict` record as strict JSON text (written to ``path`` when given)."""
        from polyopt.jsonio import write_json

        return write_json(self.to_dict(), path)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExactValue:
        """The exact value back from :meth:`to_dict` (``LipschitzBound.from_dict`` of such a
        record also gives an ``ExactValue``)."""
        from polyopt.jsonio import decode_strict

        if not isinstance(data, dict):
            raise ValueError("an ExactValue record must be a JSON object")
        kind = data.get("type", cls.__name__)
        if kind != cls.__name__:
            raise ValueError(f"the record is a {kind}, not an {cls.__name__}")
        return cls(
            **LipschitzBound._fields_from_dict(data),
            lower=float(decode_strict(data.get("lower", "nan"))),
            upper=float(decode_strict(data.get("upper", "nan"))),
        )

    @classmethod
    def from_json(cls, text_or_path: Any) -> ExactValue:
        """The exact value back from :meth:`to_json` text, or from the JSON file at a path."""
        from polyopt.jsonio import load_json

        return cls.from_dict(load_json(text_or_path))


# ---------------------------------------------------------------------- exact arithmetic


def _dyadic(a: Any) -> tuple[np.ndarray, int]:
    """``a = M * 2**e`` exactly: ``M`` an object array of Python ints, one exponent ``e``."""
    a = np.asarray(a, dtype=float)
    if not np.all(np.isfinite(a)):
        raise ValueError("exact arithmetic needs finite numbers")
    mant, ex = np.frexp(a)
    m = np.ldexp(mant, 53).astype(np.int64).reshape(-1).tolist()
    e = (ex.astype(np.int64) - 53).reshape(-1).tolist()
    nz = [ei for mi, ei in zip(m, e) if mi]
    e0 = min(nz) if nz else 0
    M = np.empty(len(m), dtype=object)
    M[:] = [mi << (ei - e0) if mi else 0 for mi, ei in zip(m, e)]
    return M.reshape(a.shape), e0


def _align(A: np.ndarray, ea: int, B: np.ndarray, eb: int) -> tuple[np.ndarray, np.ndarray, int]:
    e = min(ea, eb)
    return A * (1 << (ea - e)), B * (1 << (eb - e)), e


def _fraction(n: int, e: int) -> Fraction:
    return Fraction(n * (1 << e)) if e >= 0 else Fraction(n, 1 << -e)


def _to_float(q: Fraction, how: str) -> float:
    """``q`` rounded ``"down"``, ``"up"`` or to ``"nearest"``."""
    try:
        f = float(q)
    except OverflowError:
        f = math.inf if q > 0 else -math.inf
    if how == "down" and (math.isinf(f) or Fraction(f) > q):
        f = float(down(f)) if not (math.isinf(f) and f < 0) else f
    elif how == "up" and (math.isinf(f) or Fraction(f) < q):
        f = float(up(f)) if not (math.isinf(f) and f > 0) else f
    return f


class _ExactNet:
    """A network's weights as exact dyadic rationals: exact forward passes and Jacobians."""

    def __init__(self, net: ReLUNetwork) -> None:
        self.net = net
        self.W = [_dyadic(W) for W in net.weights]
        self.b = [_dyadic(b) for b in net.biases]

    def pattern_at(self, x: np.ndarray) -> list[np.ndarray] | None:
        """The activation pattern at ``x`` when no pre-activation is 0 there (exactly), else
        None: then ``f`` is affine around ``x`` with that pattern's gradient."""
        A, ea = _dyadic(x)
        masks = []
        for (W, ew), (b, eb) in zip(self.W[:-1], self.b[:-1]):
            Z, ez = W.dot(A), ew + ea
            Z, B, ez = _align(Z, ez, b, eb)
            Z = Z + B
            if any(z == 0 for z in Z):
                return None
            m = np.array([z > 0 for z in Z], dtype=bool)
            masks.append(m.astype(float))
            A, ea = np.where(m, Z, 0), ez
        return masks

    def jacobian_t(self, masks: list[np.ndarray]) -> tuple[np.ndarray, int]:
        """``J^T`` of a pattern, ``(input_dim, output_dim)``, exactly."""
        G, e = self.W[-1][0].T, self.W[-1][1]
        for k in range(self.net.depth - 1, -1, -1):
            keep = np.asarray(masks[k], dtype=bool)
            G = self.W[k][0].T.dot(np.where(keep[:, None], G, 0))
            e += self.W[k][1]
        return G, e

    @staticmethod
    def objective(G: np.ndarray, eg: int, V: np.ndarray, norm: str, direction=None):
        """``max_v ||J^T v||_*`` (or ``max_v (J^T v) . d``) over the rows of ``V``, exactly:
        the value and the maximizing row."""
        best, arg = None, None
        for v in V:
            D, ev = _dyadic(v)
            g = G.dot(D)
            if direction is None:
                a = [abs(gi) for gi in g]
                val = sum(a) if norm == "inf" else max(a, default=0)
            else:
                i = int(np.flatnonzero(direction)[0])
                val = g[i] if direction[i] > 0 else -g[i]
            q = _fraction(int(val), eg + ev)
            if best is None or q > best:
                best, arg = q, v
        return best, arg


# ---------------------------------------------------------------------- power-of-two scaling


@dataclass
class _Scaling:
    """``net`` on ``box`` rescaled by powers of two: ``L(original) = 2**shift * L(net)``; a
    point ``y`` here is ``x = 2**-input_exp * y`` there."""

    net: ReLUNetwork
    box: Box
    shift: int
    input_exp: int

    @classmethod
    def identity(cls, net, box) -> _Scaling:
        return cls(net, box, 0, 0)

    @classmethod
    def balance(cls, net: ReLUNetwork, box: Box) -> _Scaling:
        """Each hidden neuron scaled so that its pre-activation interval has radius about 1,
        the box so that its radius is about 1, and the output so that its largest weight is
        about 1. Positive scalings commute with ReLU, so the patterns stay the same; the
        identity is returned when a scaled number would not be exact."""

        def expo(v):
            v = np.asarray(v, dtype=float)
            out = np.zeros(v.shape, dtype=np.int64)
            ok = np.isfinite(v) & (v > 0)
            out[ok] = -np.round(np.log2(v[ok])).astype(np.int64)
            return out

        with np.errstate(all="ignore"):
            a = int(expo(np.max(box.radius)))
            prev = np.full(net.input_dim, a, dtype=np.int64)
            lo, hi = np.ldexp(box.lower, a), np.ldexp(box.upper, a)
            Ws, bs, E = [], [], []
            for W, b in zip(net.weights[:-1], net.biases[:-1]):
                Wc = np.ldexp(W, -prev[None, :])
                mid, rad = (lo + hi) / 2, (hi - lo) / 2
                e = expo(np.abs(Wc) @ rad)
                Ws.append(np.ldexp(Wc, e[:, None]))
                bs.append(np.ldexp(b, e))
                E.append((e[:, None] - prev[None, :], e))
                zc, zr = Ws[-1] @ mid + bs[-1], np.abs(Ws[-1]) @ rad
                lo, hi = np.maximum(zc - zr, 0.0), np.maximum(zc + zr, 0.0)
                prev = e
            Wc = np.ldexp(net.weights[-1], -prev[None, :])
            t = int(expo(np.abs(Wc).max(initial=0.0)))
            Ws.append(np.ldexp(Wc, t))
            bs.append(np.ldexp(net.biases[-1], t))
            E.append((t - prev[None, :], np.full(net.output_dim, t)))
            center, radius = np.ldexp(box.center, a), np.ldexp(box.radius, a)
        exact = all(
            np.all(np.isfinite(Wn))
            and np.array_equal(np.ldexp(Wn, -eW), W)
            and np.all(np.isfinite(bn))
            and np.array_equal(np.ldexp(bn, -eb), b)
            for Wn, bn, (eW, eb), W, b in zip(Ws, bs, E, net.weights, net.biases)
        )
        exact = exact and np.array_equal(np.ldexp(center, -a), box.center)
        exact = exact and np.array_equal(np.ldexp(radius, -a), box.radius)
        exact = exact and bool(np.all(radius > 0)) and bool(np.all(np.isfinite(radius)))
        if not exact:
            return cls.identity(net, box)
        return cls(ReLUNetwork(Ws, bs), Box(center, radius), a - t, a)

    def to_input(self, y: np.ndarray) -> np.ndarray:
        return np.ldexp(np.asarray(y, dtype=float), -self.input_exp)

    def value(self, q: Fraction, how: str) -> float:
        return _to_float(q * Fraction(2) ** self.shift, how)

    def bound(self, x: float, how: str) -> float:
        if not math.isfinite(x):
            return x
        return self.value(Fraction(x), how)


# ---------------------------------------------------------------------- the problem


def _spec(net, norm, domain, output, output_norm):
    if not isinstance(net, ReLUNetwork):
        raise TypeError(f"net must be a ReLUNetwork, got {type(net).__name__}")
    net.check()
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


def _functionals(c, onorm, m: int) -> np.ndarray | None:
    """Output functionals whose largest objective is the program's: ``c``, the dual ball's
    vertices, or every sign vector of the box (None when there are too many)."""
    if c is not None:
        return np.asarray(c, dtype=float)[None, :]
    V = dual_ball_vertices(*onorm, m)
    if V is not None:
        return V
    if m > SIGN_VECTORS:
        return None
    return np.array(list(itertools.product((-1.0, 1.0), repeat=m)))


def _pattern(enc: GradientMIP, u_values: np.ndarray) -> list[np.ndarray]:
    """The 0/1 activation pattern of values of the neuron binaries (stable neurons from the
    intervals); ``u_values`` is indexed like the model's variables."""
    masks = []
    for u, act in zip(enc.u, enc.active):
        m = act.astype(float)
        free = u >= 0
        m[free] = np.round(u_values[u[free]])
        masks.append(m)
    return masks


def _interior_point(net: ReLUNetwork, lo: np.ndarray, hi: np.ndarray, masks) -> np.ndarray | None:
    """A point well inside the pattern's activation region (margin LP as in the region
    enumeration; a float candidate, checked exactly by the caller), or None."""
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
        offs.append(-lo[i])
        rows.append(np.append(eye[i], 1.0))
        offs.append(hi[i])
    cost = np.zeros(n + 1)
    cost[-1] = -1.0
    with np.errstate(all="ignore"):
        res = linprog(
            cost,
            A_ub=np.array(rows),
            b_ub=np.array(offs),
            bounds=[(None, None)] * (n + 1),
            method="highs",
        )
    if res.status != 0 or not -res.fun > 0:
        return None
    return res.x[:n]


class _Node(NamedTuple):
    """An open node of a proof."""

    lb: np.ndarray
    ub: np.ndarray
    parent: float  # the parent's bound
    solve: Any = None  # its LP solve, if known
    propagated: bool = False  # whether ``lb``, ``ub`` are already propagated
    basis: Any = None  # the LP basis to start from (the parent's)


def _fixed(lb: np.ndarray, ub: np.ndarray, fixings) -> tuple[np.ndarray, np.ndarray]:
    """Copies of ``lb``, ``ub`` with the binaries of ``(var, value, ...)`` fixed."""
    lb, ub = lb.copy(), ub.copy()
    for var, value, *_ in fixings:
        lb[var] = ub[var] = value
    return lb, ub


class _Search:
    """The state of one program's proof, to resume it: the LP, the pseudocosts, the open
    nodes (a heap by bound, and the next node of the current dive), the largest bound of the
    closed nodes and the nodes so far."""

    def __init__(self, enc: GradientMIP) -> None:
        self.lp = LPRelaxation(enc.model)
        self.costs = Pseudocosts(enc.binaries)
        self.heap: list[tuple[float, int, _Node]] = []
        self.seq = itertools.count()
        self.dive: _Node | None = _Node(self.lp.lb.copy(), self.lp.ub.copy(), math.inf)
        self.closed = -math.inf
        self.nodes = 0

    def wait(self, node: _Node) -> None:
        """Put ``node`` on the heap, by its parent's bound."""
        heapq.heappush(self.heap, (-node.parent, next(self.seq), node))


class _Problem:
    """One ``exact`` call on the rescaled network: the realized incumbent and the proofs."""

    def __init__(self, scaling: _Scaling, norm, c, onorm, deadline) -> None:
        self.sc = scaling
        self.net, self.box = scaling.net, scaling.box
        self.norm, self.c, self.onorm = norm, c, onorm
        self.exnet = _ExactNet(self.net)
        self.V = _functionals(c, onorm, self.net.output_dim)
        # the box strictly inside the true one (points there are in it exactly)
        self.inner = (
            up(self.box.center - self.box.radius),
            down(self.box.center + self.box.radius),
        )
        self.best: Fraction | None = None
        self.best_eval: dict[str, Any] | None = None
        self.deadline = deadline
        self.seen: set[bytes] = set()
        self.leaf_cache: dict[bytes, float] = {}
        self.realized = 0

    @property
    def best_float(self) -> float:
        return -math.inf if self.best is None else _to_float(self.best, "down")

    # ------------------------------------------------------------------ lower end

    def realize(self, x: np.ndarray, found_by: str, hint=None) -> bool:
        """Make ``x`` (clipped into the box) a realized gradient if no pre-activation is 0
        there in exact arithmetic; keep it if it beats the incumbent."""
        x = np.clip(np.asarray(x, dtype=float).reshape(-1), *self.inner)
        if not np.all(np.isfinite(x)):
            return False
        masks = self.exnet.pattern_at(x)
        if masks is None:
            return False
        G, eg = self.exnet.jacobian_t(masks)
        V = self.V
        if V is None:  # box output ball with many outputs: sign vectors from floats
            Gf = np.array([[float(_fraction(int(v), eg)) for v in row] for row in G])
            s = np.sign(Gf.T @ np.sign(Gf @ np.ones(Gf.shape[1])))
            V = np.array([np.where(s >= 0, 1.0, -1.0)] + ([hint] if hint is not None else []))
        q, w = _ExactNet.objective(G, eg, V, self.norm)
        self.realized += 1
        if self.best is None or q > self.best:
            self.best = q
            self.best_eval = {
                "argmax": x,
                "pattern": masks,
                "output_functional": w,
                "verified": True,
                "found_by": found_by,
            }
            return True
        return False

    def evaluate(self, enc: GradientMIP, xs: np.ndarray, found_by: str) -> None:
        """A solution of the program: realize its pattern at a point inside the pattern's
        region, else at the solution's own point or near it."""
        masks = _pattern(enc, xs)
        key = b"".join(m.astype(np.int8).tobytes() for m in masks)
        if key in self.seen:
            return
        self.seen.add(key)
        hint = None
        if enc.w is not None:
            hint = np.where(xs[enc.w] >= 0, 1.0, -1.0)
        x0 = _interior_point(self.net, *self.inner, masks)
        if x0 is not None and self.realize(x0, found_by, hint):
            return
        x_star = xs[enc.x]
        if self.realize(x_star, found_by, hint) or x0 is not None:
            return
        rng = np.random.default_rng(len(self.seen))
        radius = 1e-6 * self.box.radius
        for _ in range(8):
            self.realize(x_star + radius * rng.uniform(-1, 1, size=x_star.size), found_by, hint)

    # ------------------------------------------------------------------ upper end

    def leaf_bound(self, enc: GradientMIP, masks, direction) -> float:
        """The program's largest objective with every neuron fixed to ``masks``: the
        pattern's gradient norm, exactly, rounded up (inf without a finite functional set)."""
        if self.V is None:
            return math.inf
        key = b"".join(m.astype(np.int8).tobytes() for m in masks)
        key += b"" if direction is None else np.asarray(direction).tobytes()
        if key not in self.leaf_cache:
            G, eg = self.exnet.jacobian_t(masks)
            q, _ = _ExactNet.objective(G, eg, self.V, self.norm, direction)
            self.leaf_cache[key] = _to_float(q, "up")
        return self.leaf_cache[key]

    def target(self, solver_bound: float) -> float:
        t = self.best_float * (1 + PROOF_REL) if self.best is not None else -math.inf
        if math.isfinite(solver_bound):
            t = max(t, solver_bound * (1 + PROOF_REL))
        return t

    def prove(
        self,
        enc: GradientMIP,
        solver_bound: float,
        direction,
        budget_end: float,
        max_nodes: int = PROOF_NODES,
        search: _Search | None = None,
    ):
        """Branch-and-bound over the program's neuron binaries with rigorous node bounds,
        by reliability branching (:mod:`~lipschitz.exact.branching`), diving into the LP's
        side of each branch and taking the open node of largest bound when a dive ends, on at
        most ``max_nodes`` more nodes until ``budget_end``. Each node's box is first narrowed
        by :func:`~lipschitz.exact.encoding.propagate_fixings` (binaries the fixed ones
        imply, ReLU-output ranges). Returns ``(upper, complete, nodes, search)``: ``upper``
        bounds the program's maximum in exact arithmetic whether or not the proof completed,
        ``nodes`` counts this call's nodes, and passing ``search`` back resumes the proof
        where it stopped."""
        if search is None:
            search = _Search(enc)
        lp, costs, heap = search.lp, search.costs, search.heap
        ints = costs.ints
        target = self.target(solver_bound)
        floor = 1.0 if self.deadline is None else 0.05
        start = search.nodes

        def solve(lb, ub, basis=None):
            left = max(budget_end - time.perf_counter(), floor)
            return lp.solve(lb, ub, time_limit=left, basis=basis)

        def child(var: int, value: float) -> ChildBound:
            lb, ub = _fixed(lb_node, ub_node, [(var, value)])
            lb, ub, infeasible = propagate_fixings(enc, lb, ub)
            if infeasible:
                return ChildBound(lb, ub, -math.inf)
            out = solve(lb, ub)
            return ChildBound(lb, ub, min(out.bound, bound), out)

        def out_of_time() -> bool:
            return time.perf_counter() > budget_end

        # after branching the LP's side is dived into at once (warm starts), the other waits
        # in the heap by its bound, from which the best node is taken when a dive ends, so
        # the largest open bound (the proof's bound if it stops short) keeps falling
        dive, search.dive = search.dive, None
        closed, nodes = search.closed, search.nodes
        upper = None  # set when the proof stops short
        while dive is not None or heap:
            if dive is None:
                dive = heapq.heappop(heap)[2]
            lb_node, ub_node, parent, sol, propagated, basis = dive
            # without a time limit the root is always bounded; with one, not past it (the
            # program's interval bound `cap` then stands for it)
            first = nodes == 0 and self.deadline is None
            if not first and (nodes - start >= max_nodes or out_of_time()):
                search.dive = dive  # kept for a later call
                upper = max([closed, parent] + [-h[0] for h in heap])
                break
            dive = None
            nodes += 1
            if not propagated:
                lb_node, ub_node, infeasible = propagate_fixings(enc, lb_node, ub_node)
                if infeasible:  # no point of the program in this node
                    continue
            if sol is None:
                sol = solve(lb_node, ub_node, basis)
            bound = min(sol.bound, parent)
            fixed = bool(np.all(lb_node[ints] == ub_node[ints]))
            if fixed:
                vals = np.zeros(lp.lb.size)
                vals[ints] = lb_node[ints]
                bound = min(bound, self.leaf_bound(enc, _pattern(enc, vals), direction))
            if bound <= target or fixed:
                closed = max(closed, bound)
                continue
            if sol.x is None:  # no LP point (a failed solve): split on a free binary
                j = int(ints[np.flatnonzero(lb_node[ints] < ub_node[ints])[0]])
                for val in (0.0, 1.0):
                    search.wait(_Node(*_fixed(lb_node, ub_node, [(j, val)]), bound))
                continue
            xu = sol.x[ints]
            if np.all(np.abs(xu - np.round(xu)) <= 1e-6):
                self.evaluate(enc, sol.x, "proof")
                target = max(target, self.target(-math.inf))
                if bound <= target:
                    closed = max(closed, bound)
                    continue
            limit = None if nodes == 1 else STRONG_CANDIDATES
            pick = costs.choose(lb_node, ub_node, sol.x, bound, target, child, out_of_time, limit)
            bound = pick.bound
            if bound <= target:  # strong branching closed the node
                closed = max(closed, bound)
                continue
            if pick.fixings:  # the same node again, with binaries fixed
                closed = max([closed] + [side_bound for *_, side_bound in pick.fixings])
                dive = _Node(*_fixed(lb_node, ub_node, pick.fixings), bound, basis=sol.basis)
                continue
            j = pick.var
            lp_side = 1.0 if sol.x[j] >= 0.5 else 0.0
            for val in (lp_side, 1.0 - lp_side):
                known = pick.children[int(val)]
                if known is not None and known.bound <= target:
                    closed = max(closed, known.bound)
                    continue
                if known is not None:
                    node = _Node(known.lb, known.ub, min(known.bound, bound), known.solve, True)
                else:
                    node = _Node(*_fixed(lb_node, ub_node, [(j, val)]), bound)
                if dive is None:
                    dive = node
                else:  # waiting nodes keep the parent's basis, not an LP solution (memory)
                    search.wait(node._replace(solve=None, basis=sol.basis))
        search.closed, search.nodes = closed, nodes
        return (closed if upper is None else upper), upper is None, nodes - start, search


# ---------------------------------------------------------------------- exact


@logs_when_verbose("lipschitz", "polyopt")
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
    sdp_seed: str | None = "auto",
) -> ExactValue:
    """The exact Lipschitz constant of a ReLU network on a box (LipMIP), with a proof.

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
        Seconds for the whole call (the solves and the proof); when reached the result has
        status ``"time_limit"`` and the bracket proved so far.
    rel_gap
        Let the solver stop once its gap is below ``rel_gap`` (LipMIP(x%)); status ``"gap"``
        when the proved bracket is then wider than ``EXACT_REL_TOL``.
    sdp_seed
        A certified relaxation bound that caps the bracket's upper end: ``"hr-2"``, ``"shor"``
        (:func:`lipschitz.upper_bound` on the same network, domain and output functional),
        None, or ``"auto"`` (default): under a time limit Shor, then HR-2 with the time left
        (the smaller bound counts), none without a limit (the proof then closes the bracket
        by itself). Under a time limit the seed's share
        (:func:`seed_budget`: 20 %, at least 10 s but at most 60 % of a short limit) is kept
        back for it; it runs after the MILPs and the proofs, and only when they left the
        bracket open (a closed bracket cannot be improved), with that share and whatever
        time they did not use. Not for ``output_norm`` programs.

    Returns
    -------
    ExactValue
        ``lower <= L <= upper`` holds in exact arithmetic in every case. With status
        ``"optimal"`` the bracket is within ``EXACT_REL_TOL`` (relative), ``value`` is the
        realized gradient norm (``lower <= value <= upper``) and ``sound`` is True; otherwise
        ``value = upper`` and ``sound`` is False. ``info``: the solver's status and
        floating-point bound (``solver_upper``), nodes of the solver and of the proof,
        whether the proof completed, the maximizing point, its pattern and output
        functional.
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
    if solver not in MIP_SOLVERS:
        raise ValueError(f"unknown MIP solver {solver!r}; choose one of {MIP_SOLVERS}")
    if solver == "scip" and not scip_available():
        raise ValueError("solver='scip' needs pyscipopt (pip install pyscipopt)")
    if sdp_seed not in ("auto", "hr-2", "shor", None):
        raise ValueError(f"sdp_seed must be 'auto', 'hr-2', 'shor' or None, got {sdp_seed!r}")
    wants_seed = sdp_seed is not None and c is not None
    wants_seed = wants_seed and not (sdp_seed == "auto" and time_limit is None)
    reserve = seed_budget(time_limit) if wants_seed and time_limit is not None else 0.0
    sc = _Scaling.balance(net, box)
    snet, sbox = sc.net, sc.box
    pre = tan = None
    if tighten:
        pre, tan = tighten_bounds(snet, sbox, norm, c, onorm, mode, formulation, not split)
    t_bounds = time.perf_counter() - t0
    if split:
        directions = [s * e for e in np.eye(net.input_dim) for s in (1.0, -1.0)]
    else:
        directions = [None]
    encs = [
        encode_gradient_norm(snet, sbox, norm, c, onorm, mode, pre, tan, formulation, d)
        for d in directions
    ]
    order = sorted(range(len(encs)), key=lambda k: -encs[k].cap)
    deadline = None if time_limit is None else t0 + time_limit - reserve
    prob = _Problem(sc, norm, c, onorm, deadline)
    if warm_start and c is not None:  # a good point first: the programs only look above it
        lb = lower_bound(
            snet, method="search", norm=norm, domain=sbox, output=c, samples=2000, starts=16
        )
        prob.realize(np.asarray(lb.info["argmax"], dtype=float), "search")
    nodes, statuses, solver_up = 0, {}, {}
    timed_out = False
    t_mip = time.perf_counter()
    # under a time limit the MILPs leave a share of it to the proofs, which turn the solver's
    # floating-point bounds into rigorous ones
    mip_end = None if deadline is None else t_mip + MILP_SHARE * (deadline - t_mip)
    for k in order:
        enc = encs[k]
        if enc.cap <= prob.best_float:  # its interval bound cannot beat what is found
            continue
        remaining = None if deadline is None else mip_end - time.perf_counter()
        if remaining is not None and remaining <= 0:
            timed_out = True
            break
        model = enc.model
        if prob.best is not None:  # only a better value is of interest
            best = prob.best_float
            model = enc.model.copy()
            idx = np.array(list(model.cost), dtype=np.int64)
            model.row(idx, [model.cost[i] for i in idx], lo=best + 1e-9 * abs(best))
        out = solve_milp(model, solver, remaining, max(rel_gap, 1e-10), verbose=verbose)
        log.info(
            "exact: MILP %d of %d (%s): %s, best %.10g, %d nodes",
            len(statuses) + 1,
            len(encs),
            solver,
            out.status,
            prob.best_float,
            out.nodes,
        )
        nodes += out.nodes
        statuses[k] = out.status
        timed_out |= out.status == "time_limit"
        if out.status in ("optimal", "time_limit") and out.x is not None:
            solver_up[k] = out.bound + enc.offset
        elif out.status == "infeasible":  # nothing above the cutoff (to be proved)
            solver_up[k] = prob.best_float
        if out.x is not None:
            prob.evaluate(enc, out.x, "mip")
    t_mip = time.perf_counter() - t_mip
    # the proofs: every program's maximum, rigorously
    if deadline is None:
        budget_end = time.perf_counter() + max(PROOF_SECONDS, 5 * t_mip)
    else:
        budget_end = deadline
    proofs: dict[int, tuple[float, bool]] = {}
    proof_nodes = 0

    def proof_program(k: int) -> GradientMIP:
        """The program that the proof bounds: the forward program (its LP relaxation prunes far
        better than the backward one's) in the per-neuron hull formulation, whose LP
        relaxation is much tighter than big-M's."""
        enc = encs[k]
        if mode == "forward" and formulation == "hull":
            return enc
        return encode_gradient_norm(
            snet, sbox, norm, c, onorm, "forward", pre, tan, "hull", directions[k]
        )

    # every program first with a few nodes (most close at once), then the rest share what
    # is left of the budget
    todo = [k for k in order if encs[k].cap > prob.best_float]
    proof_encs = {k: proof_program(k) for k in todo}
    log.info("exact: MILPs done in %.2f s; proving %d program(s)", t_mip, len(todo))
    searches: dict[int, _Search] = {}  # the second round resumes the first one's proofs
    for rnd in range(2):
        left = [k for k in todo if not proofs.get(k, (0.0, False))[1]]
        for i, k in enumerate(left):
            end = budget_end
            if rnd == 1:
                end = min(
                    budget_end,
                    time.perf_counter() + (budget_end - time.perf_counter()) / (len(left) - i),
                )
            proof_enc = proof_encs[k]
            cap = PROOF_FIRST_NODES if rnd == 0 else PROOF_NODES
            up_k, done, n_k, searches[k] = prob.prove(
                proof_enc, solver_up.get(k, math.inf), directions[k], end, cap, searches.get(k)
            )
            if proof_enc.offset != 0.0:
                up_k = float(up(up_k + proof_enc.offset))
            up_k = min(up_k, encs[k].cap, proof_enc.cap, proofs.get(k, (math.inf, False))[0])
            proofs[k] = (up_k, done)
            proof_nodes += n_k
    uppers = [proofs[k][0] if k in proofs else encs[k].cap for k in order]
    complete = all(done for _, done in proofs.values())
    if not complete and time.perf_counter() > budget_end and deadline is not None:
        timed_out = True
    upper_s = max(uppers) if uppers else -math.inf
    best = prob.best
    lower = sc.value(best, "down") if best is not None else 0.0
    lower = max(lower, 0.0)
    upper = sc.bound(max(upper_s, 0.0), "up")

    def closed() -> bool:
        return best is not None and upper - lower <= EXACT_REL_TOL * upper

    seed = None
    if wants_seed and not closed():
        left = None if time_limit is None else t0 + time_limit - time.perf_counter()
        seed = _sdp_seed(net, box, c, norm, sdp_seed, left)
    if seed is not None and seed.value < upper:  # a tighter certified bound from the SDP
        upper = float(seed.value)
    upper = max(upper, lower)
    if closed():
        status = "optimal"
    elif timed_out:
        status = "time_limit"
    else:
        status = "gap"
    value = sc.value(best, "nearest") if status == "optimal" else upper
    value = min(max(value, lower), upper)
    info: dict[str, Any] = {
        "solver": solver,
        "solver_status": [statuses.get(k) for k in range(len(encs))],
        "solver_upper": max(solver_up.values()) * 2.0**sc.shift if solver_up else math.nan,
        "nodes": nodes,
        "proof_nodes": proof_nodes,
        "proof_complete": complete,
        "programs": len(encs),
        "solved": len(statuses),
        "bounds_seconds": t_bounds,
        "scale_exponent": sc.shift,
        "verified": best is not None,
        "sdp_seed": None if seed is None else float(seed.value),
    }
    if prob.best_eval is not None:
        ev = dict(prob.best_eval)
        ev["argmax"] = sc.to_input(ev["argmax"])
        info.update(ev)
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


def seed_budget(time_limit: float) -> float:
    """Seconds the SDP seed may take under ``time_limit``: ``SDP_SEED_SHARE`` of it, at least
    ``SDP_SEED_FLOOR`` seconds but at most ``SDP_SEED_MOST`` of it."""
    return max(SDP_SEED_SHARE * time_limit, min(SDP_SEED_FLOOR, SDP_SEED_MOST * time_limit))


def _sdp_seed(net, box, c, norm, sdp_seed, seconds) -> LipschitzBound | None:
    """The certified relaxation bound that caps the bracket (see :func:`exact`) within
    ``seconds`` (None: no limit), or None. ``"auto"`` runs Shor first (a first-order
    relaxation: it fits short shares, where a time-limited HR-2 may return a loose bound),
    then HR-2 with the time left if that is at least what Shor took (HR-2's relaxation
    contains Shor's), and keeps the smaller sound bound."""
    from ..upper import upper_bound

    end = None if seconds is None else time.perf_counter() + seconds
    methods = {"shor": ["shor"], "hr-2": ["hr-2"], "auto": ["shor", "hr-2"]}[sdp_seed]
    best, took = None, 0.0
    for m in methods:
        left = None if end is None else end - time.perf_counter()
        if left is not None and (left <= 0 or left < took):
            break
        t_m = time.perf_counter()
        kw = dict(norm=norm, domain=box, output=c, time_limit=left)
        b = upper_bound(net, method="shor", **kw) if m == "shor" else upper_bound(net, **kw)
        took = time.perf_counter() - t_m
        log.info("exact: SDP seed %s = %.10g (%s)", b.method, b.value, b.status)
        if b.sound and np.isfinite(b.value) and (best is None or b.value < best.value):
            best = b
    return best


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
    norm: the largest of the ``2 n`` direction LPs). The program is built on the network
    rescaled by powers of two (as in :func:`exact`); the value is a bound from the LP duals
    that holds in exact arithmetic. When HiGHS does not solve an LP (after retries without
    presolve) the status is ``"solver_error"`` and the value ``nan``; a finite value is
    always sound.
    """
    t0 = time.perf_counter()
    norm, box, c, onorm = _spec(net, norm, domain, output, output_norm)
    if mode not in ("forward", "backward"):
        raise ValueError(f"unknown mode {mode!r}: use 'forward' or 'backward'")
    if mode == "forward" and norm == "1":
        directions = [s * e for e in np.eye(net.input_dim) for s in (1.0, -1.0)]
    else:
        directions = [None]
    sc = _Scaling.balance(net, box)
    value, status, lp_value, solve_seconds = -np.inf, "optimal", -np.inf, 0.0
    message = ""
    for d in directions:
        enc = encode_gradient_norm(sc.net, sc.box, norm, c, onorm, mode, direction=d)
        out, bound = solve_lp_certified(enc.model)
        solve_seconds += out.seconds
        if out.status != "optimal" or not np.isfinite(bound):
            # the program is feasible (the network's own points satisfy it): any other
            # verdict is the solver's failure
            status, value, message = "solver_error", np.nan, out.message
            break
        value = max(value, float(up(bound + enc.offset)))
        lp_value = max(lp_value, out.objective + enc.offset)
    if np.isfinite(value):
        value = sc.bound(value, "up")
        lp_value = lp_value * 2.0**sc.shift
    info = {
        "solver": "highs",
        "solve_seconds": solve_seconds,
        "lp_value": lp_value,
        "mode": mode,
        "programs": len(directions),
        "scale_exponent": sc.shift,
    }
    if message:
        info["message"] = message
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
