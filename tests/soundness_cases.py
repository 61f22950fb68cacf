"""Random cases and exact ground truth for the soundness audit.

Two families of cases, each a plain function of an integer seed (so that every failure is
reproducible from the seed alone):

* :func:`network_case`: a small ReLU network (input dimension 1-3, one or two hidden layers
  of 2-4 neurons, 1-2 outputs) whose layers have weight scales drawn log-uniformly in
  ``[1e-12, 1e6]``, on the global box or on a box with a centre up to ``1e2`` and a radius in
  ``[1e-3, 1e2]``, with an output functional. :func:`network_truth` gives its exact
  Lipschitz constant (:class:`ExactLipschitz`).
* :func:`pop_case`: a small polynomial optimization problem (1-3 variables, degree at most
  4) on a narrow and/or offset box (widths ``1e-4 .. 1e3``, centres up to ``1e4``), sometimes
  with an extra ball or quadratic constraint, to minimize or maximize, with the best of many
  feasible points (:class:`FeasibleValue`) checked and evaluated exactly.

The ground truth never trusts floating point. For networks, candidate points of every
activation region come from a floating-point enumeration (as in ``tests/enumeration.py``, in
coordinates normalized to the box), but each point is then converted exactly to a rational
point of the box, the network is evaluated at it in :class:`fractions.Fraction` arithmetic
from the float weights, and the point is kept only when no pre-activation is exactly zero
there. At such a point ``c . f`` is differentiable with the exact chain-rule gradient, so the
largest dual norm of these exact gradients is a lower bound on the Lipschitz constant that
holds in exact arithmetic, and equal to it when the enumeration found every region (regions
thinner than ``1e-9`` of the box radius can be missed). An upper bound reported as sound
must therefore be ``>=`` it. For a polynomial problem, a point satisfying every constraint
exactly has an exact objective value that every certified lower bound (minimize) must lie
below and every certified upper bound (maximize) above.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.optimize import linprog

import lipschitz
import polyopt as po
from lipschitz.spec import GLOBAL_RADIUS

NORMS = ("inf", "1", "2")
"""Input norms; ``"2"`` only where a method supports it."""
WEIGHT_SCALES = (-12.0, 6.0)
"""Weight scales of a layer are ``10**uniform(*WEIGHT_SCALES)``."""
REGION_MARGIN = 1e-9
"""A region whose largest inscribed ball (in box-normalized coordinates) has a smaller radius
is treated as empty by the enumeration."""
SAMPLE_POINTS = 64
"""Random points of the box added to the enumeration's candidates."""
POP_SAMPLES = 200
"""Random points drawn in the box of a polynomial problem when looking for feasible points."""


# ---------------------------------------------------------------------- exact arithmetic


def _fr_matrix(W: np.ndarray) -> list[list[Fraction]]:
    return [[Fraction(float(v)) for v in row] for row in np.atleast_2d(W)]


def _fr_vector(v: np.ndarray) -> list[Fraction]:
    return [Fraction(float(a)) for a in np.ravel(v)]


def dual_norm_exact(g: list[Fraction], norm: str) -> Fraction:
    """The dual norm of ``g`` for the input norm ``norm``; for ``"2"`` its **square**."""
    if norm == "inf":
        return sum((abs(a) for a in g), Fraction(0))
    if norm == "1":
        return max((abs(a) for a in g), default=Fraction(0))
    if norm == "2":
        return sum((a * a for a in g), Fraction(0))
    raise ValueError(f"unknown norm {norm!r}")


# ---------------------------------------------------------------------- networks


@dataclass
class NetworkCase:
    """A random network with its domain, output functional and input norm.

    Attributes
    ----------
    seed
        The seed that :func:`network_case` turns into this case.
    net
        The network.
    domain
        ``"global"`` or ``(center, radius)`` as :func:`lipschitz.upper_bound` takes it.
    output
        The output spec (None, an int, a pair or a vector).
    norm
        The input norm.
    scales
        The weight scale of each layer (for the reports).
    """

    seed: int
    net: lipschitz.ReLUNetwork
    domain: Any
    output: Any
    norm: str
    scales: list[float] = field(default_factory=list)

    @property
    def box(self) -> lipschitz.Box:
        """The domain as a :class:`lipschitz.Box`."""
        if isinstance(self.domain, str):
            return lipschitz.Box.around(self.net.input_dim, GLOBAL_RADIUS)
        return lipschitz.Box(*self.domain)

    @property
    def c(self) -> np.ndarray:
        """The output functional as a vector."""
        return lipschitz.spec.resolve_output(self.output, self.net.output_dim)

    def kwargs(self) -> dict[str, Any]:
        """``norm``, ``domain`` and ``output`` as keyword arguments of the bound functions."""
        return {"norm": self.norm, "domain": self.domain, "output": self.output}

    def describe(self) -> str:
        """One line for failure messages."""
        sizes = [self.net.input_dim, *self.net.hidden_sizes, self.net.output_dim]
        dom = (
            "global"
            if isinstance(self.domain, str)
            else f"box(center={np.round(self.box.center, 6).tolist()}, "
            f"radius={np.round(self.box.radius, 9).tolist()})"
        )
        sc = ", ".join(f"{s:.1e}" for s in self.scales)
        return (
            f"network_case({self.seed}): sizes {sizes}, weight scales [{sc}], {dom}, "
            f"output {self.output!r}, norm {self.norm!r}"
        )


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(10.0 ** rng.uniform(lo, hi))


def random_network_case(rng: np.random.Generator, norms=NORMS, seed: int = -1) -> NetworkCase:
    """A random small network case drawn with ``rng`` (see the module docstring).

    Parameters
    ----------
    rng
        The random generator.
    norms
        The input norms to draw from.
    seed
        Recorded in the case (for the reports).

    Returns
    -------
    NetworkCase
        Half of the layers get biases of their own scale (``scale * normal``); the others get
        biases that put each neuron's hyperplane through a random point of the domain, so
        that local boxes keep unstable neurons.
    """
    n = int(rng.integers(1, 4))
    depth = int(rng.integers(1, 3))
    hidden = [int(rng.integers(2, 5)) for _ in range(depth)]
    outputs = int(rng.integers(1, 3))
    if rng.random() < 0.35:
        domain: Any = "global"
        center, radius = np.zeros(n), np.full(n, GLOBAL_RADIUS)
    else:
        center = rng.uniform(-1.0, 1.0, n) * _log_uniform(rng, -2.0, 2.0)
        if rng.random() < 0.2:
            center = np.zeros(n)
        if rng.random() < 0.7:
            radius = np.full(n, _log_uniform(rng, -3.0, 2.0))
            domain = (center, float(radius[0]))
        else:
            radius = np.array([_log_uniform(rng, -3.0, 2.0) for _ in range(n)])
            domain = (center, radius)
    sizes = [n, *hidden, outputs]
    weights, biases, scales = [], [], []
    a = center + radius * rng.uniform(-1.0, 1.0, n)  # a point of the domain, propagated
    for k in range(len(sizes) - 1):
        s = _log_uniform(rng, *WEIGHT_SCALES)
        W = s * rng.standard_normal((sizes[k + 1], sizes[k]))
        if k < depth and rng.random() < 0.5:
            # hyperplanes through (a perturbation of) the propagated point
            spread = np.abs(W) @ (radius if k == 0 else np.abs(a) + 1.0)
            b = -(W @ a) + 0.3 * spread * rng.uniform(-1.0, 1.0, sizes[k + 1])
        else:
            b = s * rng.standard_normal(sizes[k + 1])
        weights.append(W)
        biases.append(b)
        scales.append(s)
        a = np.maximum(W @ a + b, 0.0)
    net = lipschitz.ReLUNetwork(weights, biases)
    if outputs == 1:
        output: Any = None
    else:
        kind = rng.integers(3)
        if kind == 0:
            output = int(rng.integers(outputs))
        elif kind == 1:
            output = (0, 1) if rng.random() < 0.5 else (1, 0)
        else:
            output = rng.uniform(-2.0, 2.0, outputs)
    norm = str(rng.choice(list(norms)))
    return NetworkCase(seed, net, domain, output, norm, scales)


def network_case(seed: int, norms=NORMS) -> NetworkCase:
    """The network case of ``seed``: the network, domain and output do not depend on
    ``norms``; the norm is drawn from ``norms`` with a separate stream."""
    case = random_network_case(np.random.default_rng(seed), NORMS, seed)
    case.norm = str(np.random.default_rng([seed, 1]).choice(list(norms)))
    return case


class _RegionPoints:
    """Depth-first enumeration of activation regions in box-normalized coordinates ``u``
    (``x = center + radius * u``, ``u`` in ``[-1, 1]^n``), one interior point per region.

    Each affine row is normalized before the margin LP (HiGHS drops tiny coefficients), so
    weight scales do not matter to it. Only candidates come out: they are checked exactly.
    """

    def __init__(self, net, center, radius):
        self.W = net.weights
        self.b = net.biases
        self.center = np.asarray(center, float)
        self.radius = np.asarray(radius, float)
        self.n = self.center.size
        self.points: list[np.ndarray] = []

    def margin(self, rows, offs) -> tuple[float, np.ndarray | None]:
        n = self.n
        A = [np.append(-a, 1.0) for a in rows]
        rhs = list(offs)
        for i in range(n):
            e = np.zeros(n + 1)
            e[i], e[-1] = -1.0, 1.0
            A.append(e.copy())  # u_i - s >= -1
            rhs.append(1.0)
            e[i] = 1.0
            A.append(e)  # u_i + s <= 1
            rhs.append(1.0)
        cost = np.zeros(n + 1)
        cost[-1] = -1.0
        res = linprog(
            cost,
            A_ub=np.array(A),
            b_ub=np.array(rhs),
            bounds=[(None, None)] * (n + 1),
            method="highs",
        )
        if res.status != 0:
            return -np.inf, None
        return float(-res.fun), res.x[:n]

    def run(self) -> list[np.ndarray]:
        n = self.n
        # first layer input: x = center + radius * u
        self._layer(0, np.diag(self.radius), self.center.copy(), [], [], np.zeros(n))
        return self.points

    def _layer(self, k, A_prev, c_prev, rows, offs, point):
        if k == len(self.W) - 1:
            self.points.append(point)
            return
        Z = self.W[k] @ A_prev
        z0 = self.W[k] @ c_prev + self.b[k]
        mag = np.abs(self.W[k]) @ (np.abs(A_prev).sum(axis=1) + np.abs(c_prev)) + np.abs(self.b[k])
        self._neuron(k, Z, z0, mag, 0, np.zeros(Z.shape[0]), rows, offs, point)

    def _neuron(self, k, Z, z0, mag, j, mask, rows, offs, point):
        if j == Z.shape[0]:
            self._layer(k + 1, mask[:, None] * Z, mask * z0, rows, offs, point)
            return
        norm = float(np.linalg.norm(Z[j]))
        if norm <= 1e-13 * max(mag[j], 1e-300):  # constant on the region (to rounding)
            mask[j] = 1.0 if z0[j] > 0 else 0.0
            self._neuron(k, Z, z0, mag, j + 1, mask, rows, offs, point)
            return
        a, o = Z[j] / norm, float(z0[j]) / norm
        for on in (1.0, 0.0):
            sign = 1.0 if on else -1.0
            new_rows, new_offs = rows + [sign * a], offs + [sign * o]
            s, u = self.margin(new_rows, new_offs)
            if s > REGION_MARGIN and u is not None:
                mask[j] = on
                self._neuron(k, Z, z0, mag, j + 1, mask.copy(), new_rows, new_offs, u)
        mask[j] = 0.0


@dataclass
class ExactLipschitz:
    """The exact gradients of ``c . f`` at exactly checked interior points of the box.

    ``value(norm)`` is the largest dual norm among them, an exact rational (for ``"2"`` the
    square of the norm). It is a lower bound on the Lipschitz constant in exact arithmetic and
    equals it when every activation region was found.
    """

    net: Any
    center: list[Fraction]
    radius: list[Fraction]
    c: list[Fraction]
    weights: list[list[list[Fraction]]]
    biases: list[list[Fraction]]
    gradients: dict[tuple, list[Fraction]] = field(default_factory=dict)
    rejected: int = 0

    @classmethod
    def of(cls, net, center, radius, c) -> ExactLipschitz:
        """An empty collection for ``c . net`` on the box ``center +- radius``."""
        return cls(
            net,
            _fr_vector(center),
            _fr_vector(np.broadcast_to(radius, np.shape(center))),
            _fr_vector(c),
            [_fr_matrix(W) for W in net.weights],
            [_fr_vector(b) for b in net.biases],
        )

    def exact_point(self, u: np.ndarray) -> list[Fraction]:
        """``center + radius * u`` exactly, ``u`` clipped to ``[-1, 1]`` (so in the box)."""
        return [
            c + r * Fraction(float(min(1.0, max(-1.0, ui))))
            for c, r, ui in zip(self.center, self.radius, u)
        ]

    def in_box(self, x: list[Fraction]) -> bool:
        """Whether the rational point ``x`` lies in the box (exactly)."""
        return all(abs(xi - c) <= r for xi, c, r in zip(x, self.center, self.radius))

    def gradient_at(self, x: list[Fraction]) -> tuple[tuple, list[Fraction]] | None:
        """``(pattern, gradient)`` of ``c . f`` at the rational point ``x``, computed exactly;
        None when a pre-activation is exactly 0 there (``c . f`` may not be differentiable)."""
        a = x
        masks = []
        for W, b in zip(self.weights[:-1], self.biases[:-1]):
            z = [sum((w * v for w, v in zip(row, a)), Fraction(0)) + bj for row, bj in zip(W, b)]
            if any(zj == 0 for zj in z):
                return None
            m = tuple(zj > 0 for zj in z)
            masks.append(m)
            a = [zj if mj else Fraction(0) for zj, mj in zip(z, m)]
        # backward: g = W_1^T D_1 ... W_L^T D_L W_out^T c
        Wout = self.weights[-1]
        g = [
            sum((Wout[i][j] * self.c[i] for i in range(len(Wout))), Fraction(0))
            for j in range(len(Wout[0]))
        ]
        for W, m in zip(reversed(self.weights[:-1]), reversed(masks)):
            gm = [gj if mj else Fraction(0) for gj, mj in zip(g, m)]
            g = [
                sum((W[i][j] * gm[i] for i in range(len(W))), Fraction(0)) for j in range(len(W[0]))
            ]
        return tuple(masks), g

    def add_point(self, x: list[Fraction]) -> bool:
        """Add the exact gradient at the rational point ``x`` (in the box, no pre-activation
        exactly 0); False when the point is rejected."""
        if not self.in_box(x):
            self.rejected += 1
            return False
        out = self.gradient_at(x)
        if out is None:
            self.rejected += 1
            return False
        pattern, g = out
        self.gradients.setdefault(pattern, g)
        return True

    def add_float_point(self, x: np.ndarray) -> bool:
        """Add the exact gradient at the float point ``x`` (read exactly)."""
        return self.add_point(_fr_vector(x))

    def value(self, norm: str) -> Fraction:
        """The largest exact dual norm (its square for ``"2"``)."""
        if not self.gradients:
            raise RuntimeError("no exactly verified region point")
        return max(dual_norm_exact(g, norm) for g in self.gradients.values())

    def approx(self, norm: str) -> float:
        """``value(norm)`` as a float norm (the square root taken for ``"2"``)."""
        v = float(self.value(norm))
        return math.sqrt(v) if norm == "2" else v

    def upper_ok(self, bound: float, norm: str) -> bool:
        """Whether ``bound >= L`` holds exactly (``+inf`` is always a valid upper bound)."""
        if math.isnan(bound):
            raise ValueError("nan is not a bound")
        if bound == math.inf:
            return True
        if bound == -math.inf:
            return False
        b = Fraction(bound)
        if norm == "2":
            return b >= 0 and b * b >= self.value(norm)
        return b >= self.value(norm)

    def lower_ok(self, bound: float, norm: str) -> bool:
        """Whether ``bound <= L`` holds exactly (``-inf`` is always a valid lower bound)."""
        if math.isnan(bound):
            raise ValueError("nan is not a bound")
        if bound == -math.inf:
            return True
        if bound == math.inf:
            return False
        b = Fraction(bound)
        if norm == "2":
            return b <= 0 or b * b <= self.value(norm)
        return b <= self.value(norm)


def exact_lipschitz(net, center, radius, c, samples: int = SAMPLE_POINTS, seed: int = 0):
    """The exact gradients of ``c . net`` on every activation region of the box found by the
    enumeration, plus ``samples`` random points (see the module docstring).

    Returns
    -------
    ExactLipschitz
    """
    center = np.asarray(center, float).reshape(-1)
    radius = np.broadcast_to(np.asarray(radius, float), center.shape).astype(float)
    truth = ExactLipschitz.of(net, center, radius, c)
    hidden = sum(net.hidden_sizes)
    if hidden > 12:
        raise ValueError(f"{hidden} hidden neurons: the enumeration handles at most 12")
    for u in _RegionPoints(net, center, radius).run():
        truth.add_point(truth.exact_point(u))
    rng = np.random.default_rng([seed, 2])
    U = rng.uniform(-1.0, 1.0, size=(samples, center.size))
    X = center + radius * U
    seen = set(truth.gradients)
    pats = [
        tuple(z > 0 for z in zs) for zs in zip(*(np.atleast_2d(z) for z in net.preactivations(X)))
    ]
    for u, p in zip(U, pats):
        key = tuple(tuple(bool(v) for v in layer) for layer in p)
        if key not in seen:
            seen.add(key)
            truth.add_point(truth.exact_point(u))
    if not truth.gradients:  # pragma: no cover - every box has an interior region
        raise RuntimeError("no exactly verified region point")
    return truth


@lru_cache(maxsize=512)
def network_truth(seed: int) -> ExactLipschitz:
    """The exact gradients of :func:`network_case` ``(seed)`` (cached; norm-independent)."""
    case = network_case(seed)
    box = case.box
    return exact_lipschitz(case.net, box.center, box.radius, case.c, seed=seed)


# ---------------------------------------------------------------------- polynomial problems


def _exponents(n: int, degree: int) -> list[tuple[int, ...]]:
    return [e for e in itertools.product(range(degree + 1), repeat=n) if 0 < sum(e) <= degree]


def evaluate_exact(poly: po.Polynomial, variables, x: list[Fraction]) -> Fraction:
    """The polynomial at the rational point ``x`` (ordered as ``variables``), exactly, from
    its float coefficients."""
    pos = {v.id: k for k, v in enumerate(variables)}
    cols = [pos[v.id] for v in poly.variables]
    total = Fraction(0)
    for row, coef in zip(poly.exponents, poly.coefficients):
        term = Fraction(float(coef))
        for col, e in zip(cols, row):
            if e:
                term *= x[col] ** int(e)
        total += term
    return total


def feasible_exact(problem: po.Problem, x: list[Fraction]) -> bool:
    """Whether ``x`` satisfies every constraint of ``problem`` exactly."""
    for con in problem.constraints:
        v = evaluate_exact(con.poly, problem.variables, x)
        if (con.kind == "ineq" and v < 0) or (con.kind == "eq" and v != 0):
            return False
    return True


@dataclass
class PopCase:
    """A random polynomial problem.

    Attributes
    ----------
    seed
        The seed that :func:`pop_case` turns into this case.
    problem
        The problem.
    lo, hi
        The box (as floats: the constraints are ``x_i - lo_i >= 0``, ``hi_i - x_i >= 0``).
    box_form
        ``"linear"`` (those constraints only) or ``"both"`` (also the redundant
        ``(x_i - lo_i) (hi_i - x_i) >= 0``, without which the relaxations of higher-degree
        objectives are unbounded).
    extra
        ``None``, ``"ball"`` or ``"quadratic"``: the additional constraint.
    anchor
        A point of the box around which the extra constraint holds.
    """

    seed: int
    problem: po.Problem
    lo: np.ndarray
    hi: np.ndarray
    box_form: str
    extra: str | None
    anchor: np.ndarray

    @property
    def sense(self) -> str:
        return self.problem.sense

    @property
    def degree(self) -> int:
        """The largest degree among the objective and the constraints."""
        return self.problem.degree

    def describe(self) -> str:
        """One line for failure messages."""
        return (
            f"pop_case({self.seed}): {self.sense} of degree {self.problem.objective.degree} in "
            f"{self.problem.nvars} variables, {self.box_form} box lo={self.lo.tolist()} "
            f"hi={self.hi.tolist()}, extra constraint {self.extra}"
        )


def random_pop_case(rng: np.random.Generator, seed: int = -1) -> PopCase:
    """A random small polynomial problem drawn with ``rng`` (see the module docstring)."""
    n = int(rng.integers(1, 4))
    xs = list(np.ravel(po.variables("x", n)))
    center = np.where(
        rng.random(n) < 0.7, rng.uniform(-1.0, 1.0, n) * 10.0 ** rng.uniform(-2.0, 4.0, n), 0.0
    )
    width = 10.0 ** rng.uniform(-4.0, 3.0, n)
    if rng.random() < 0.5:  # one width for all coordinates
        width[:] = width[0]
    lo, hi = center - width / 2, center + width / 2
    degree = int(rng.integers(1, 5))
    monos = _exponents(n, degree)
    k = int(rng.integers(1, min(len(monos), 6) + 1))
    chosen = [monos[i] for i in rng.choice(len(monos), size=k, replace=False)]
    top = [e for e in monos if sum(e) == degree]
    if not any(sum(e) == degree for e in chosen):
        chosen.append(top[int(rng.integers(len(top)))])
    objective = float(rng.normal()) * _log_uniform(rng, -2.0, 2.0)
    for e in chosen:
        coef = float(rng.normal()) * _log_uniform(rng, -2.0, 2.0)
        term = po.Polynomial.constant(coef)
        for v, p in zip(xs, e):
            if p:
                term = term * v**p
        objective = objective + term
    cons = []
    box_form = "linear" if rng.random() < 0.3 else "both"
    for v, a, b in zip(xs, lo, hi):
        cons += [v >= float(a), v <= float(b)]
        if box_form == "both":  # the redundant product, which bounds the higher moments
            cons.append((v - float(a)) * (float(b) - v) >= 0)
    anchor = lo + (hi - lo) * rng.uniform(0.2, 0.8, n)
    extra = None
    roll = rng.random()
    if roll < 0.2:
        extra = "ball"
        rad = float(np.linalg.norm(width)) * rng.uniform(0.2, 0.8)
        cons.append(sum((v - float(m)) ** 2 for v, m in zip(xs, anchor)) <= rad**2)
    elif roll < 0.35:
        extra = "quadratic"
        B = rng.standard_normal((n, n))
        B = (B + B.T) / 2 / (width[:, None] * width[None, :])
        lin = rng.standard_normal(n) / width
        d = [v - float(m) for v, m in zip(xs, anchor)]
        q = float(rng.uniform(0.1, 1.0))
        for i in range(n):
            q = q + float(lin[i]) * d[i]
            for j in range(n):
                q = q + float(B[i, j]) * d[i] * d[j]
        cons.append(q >= 0)
    if rng.random() < 0.5:
        problem = po.Problem(minimize=objective, constraints=cons)
    else:
        problem = po.Problem(maximize=objective, constraints=cons)
    return PopCase(seed, problem, lo, hi, box_form, extra, anchor)


def pop_case(seed: int) -> PopCase:
    """The polynomial problem of ``seed``."""
    return random_pop_case(np.random.default_rng(seed), seed)


@dataclass
class FeasibleValue:
    """The best objective value found at exactly feasible points.

    Attributes
    ----------
    value
        The exact objective at ``point`` (the smallest found for ``minimize``, the largest for
        ``maximize``).
    point
        The rational point.
    sense
        ``"min"`` or ``"max"``.
    feasible
        The number of exactly feasible points tried.
    """

    value: Fraction
    point: list[Fraction]
    sense: str
    feasible: int

    def ok(self, bound: float) -> bool:
        """Whether a bound of the relaxation is on the right side of ``value`` (exactly):
        ``bound <= value`` for ``minimize``, ``>=`` for ``maximize``. An infinite bound of the
        wrong sign (a claim of infeasibility) is never right: the problem has a feasible point.
        """
        if math.isnan(bound):
            raise ValueError("nan is not a bound")
        if math.isinf(bound):
            return (bound < 0) == (self.sense == "min")
        b = Fraction(bound)
        return b <= self.value if self.sense == "min" else b >= self.value


@lru_cache(maxsize=512)
def pop_truth(seed: int, samples: int = POP_SAMPLES) -> FeasibleValue | None:
    """The best exactly feasible value of :func:`pop_case` ``(seed)`` among the box's corners,
    its centre, the anchor and ``samples`` random points (None if none is feasible)."""
    case = pop_case(seed)
    prob = case.problem
    rng = np.random.default_rng([seed, 3])
    cands = [np.array(corner, float) for corner in itertools.product(*zip(case.lo, case.hi))]
    cands += [(case.lo + case.hi) / 2, case.anchor]
    cands += list(case.lo + (case.hi - case.lo) * rng.random((samples, case.lo.size)))
    best: FeasibleValue | None = None
    count = 0
    for p in cands:
        x = _fr_vector(p)
        if not feasible_exact(prob, x):
            continue
        count += 1
        v = evaluate_exact(prob.objective, prob.variables, x)
        better = best is None or (v < best.value if prob.sense == "min" else v > best.value)
        if better:
            best = FeasibleValue(v, x, prob.sense, 0)
    if best is not None:
        best.feasible = count
    return best


# ---------------------------------------------------------------------- runners and verdicts

NETWORK_METHODS: dict[str, tuple[str, ...]] = {
    "shor": NORMS,
    "hr-1": NORMS,
    "hr-2": NORMS,
    "fastlip": NORMS,
    "naive": NORMS,
    "lipsdp": NORMS,
    "lipopt": ("inf", "1"),
    "liplp": ("inf", "1"),
    "exact": ("inf", "1"),
    "lower": NORMS,
}
"""The network methods audited and the input norms each supports."""

POP_SOLVERS = ("clarabel", "scs", "sdpa", "arrow", "lp")
"""The polyopt solvers audited (``"lp"``: ``method="lp"``, solved by HiGHS)."""

ROUNDING = 1e-9
"""A violation smaller than this (relative) is reported as rounding-level, a larger one as
gross; both are violations."""


def run_network_method(name: str, case: NetworkCase):
    """Run the network method ``name`` on ``case`` with its default settings."""
    net, kw = case.net, case.kwargs()
    if name == "shor":
        return lipschitz.upper_bound(net, method="shor", **kw)
    if name == "hr-1":
        return lipschitz.upper_bound(net, order=1, **kw)
    if name == "hr-2":
        return lipschitz.upper_bound(net, order=2, **kw)
    if name in ("fastlip", "naive"):
        return lipschitz.upper_bound(net, method=name, **kw)
    if name == "lipsdp":
        return lipschitz.lipsdp(net, **kw)
    if name == "lipopt":
        return lipschitz.lipopt(net, **kw)
    if name == "liplp":
        return lipschitz.liplp(net, **kw)
    if name == "exact":
        return lipschitz.exact(net, **kw)
    if name == "lower":
        return lipschitz.lower_bound(net, **kw)
    raise ValueError(f"unknown method {name!r}")


@dataclass
class Verdict:
    """Whether a result claims a bound, and whether the claim is on the wrong side.

    Attributes
    ----------
    claimed
        The result claims a bound valid in exact arithmetic (``sound`` / ``certified``, or a
        lower bound, which is always claimed).
    invalid
        The claim is on the wrong side of the exact truth.
    status
        The result's status.
    value
        The bound (for :func:`lipschitz.exact` the end of the bracket that fails, if any).
    truth
        The truth as a float (the Lipschitz constant, or the feasible objective value).
    excess
        How far on the wrong side, relative to ``max(|value|, |truth|)`` (0 when valid).
    message
        A line for reports.
    """

    claimed: bool
    invalid: bool
    status: str
    value: float
    truth: float
    excess: float = 0.0
    message: str = ""

    @property
    def gross(self) -> bool:
        """An invalid claim by more than rounding."""
        return self.invalid and self.excess > ROUNDING


def _excess(value: float, truth: Fraction, squared: bool = False) -> float:
    """``|value - truth| / max(|value|, |truth|)`` computed exactly (``truth`` is the square
    of the compared quantity when ``squared``: then the relative difference of the squares,
    halved, which is the relative difference of the norms to first order)."""
    if math.isinf(value):
        return math.inf
    v = Fraction(value)
    if squared:
        v = v * v
    scale = max(abs(v), abs(truth))
    if scale == 0:
        return 0.0
    rel = float(abs(v - truth) / scale)
    return rel / 2 if squared else rel


def judge_network(name: str, case: NetworkCase, result, truth: ExactLipschitz) -> Verdict:
    """Compare ``result`` of the method ``name`` with the exact constant.

    Upper bounds: a ``sound`` finite value must be ``>= L``. ``lower``: a finite value must be
    ``<= L``. ``exact``: when ``sound``, ``lower <= L <= upper``; with status ``"time_limit"``
    or ``"gap"`` the documented upper end of the bracket must still be ``>= L``. Points the
    method reports (``info["argmax"]``) are first added to the truth when they check exactly
    (no pre-activation 0 there): the truth only gains genuine gradients.
    """
    norm = case.norm
    for key in ("argmax",):
        x = getattr(result, "info", {}).get(key)
        if x is not None:
            x = np.asarray(x, dtype=float).reshape(-1)
            if x.size == case.net.input_dim and np.all(np.isfinite(x)):
                truth.add_float_point(x)
    L = truth.approx(norm)
    status = str(result.status)
    head = f"{name} on {case.describe()}"
    if name == "exact":
        lower, upper = float(result.lower), float(result.upper)
        claimed = bool(result.sound)
        if claimed:
            checks = [("lower", lower, truth.lower_ok), ("upper", upper, truth.upper_ok)]
        elif status in ("time_limit", "gap"):
            checks = [("upper", upper, truth.upper_ok)]
        else:
            checks = []
        for end, v, ok in checks:
            if not math.isnan(v) and not ok(v, norm):
                ex = _excess(v, truth.value(norm), norm == "2")
                return Verdict(
                    claimed,
                    True,
                    status,
                    v,
                    L,
                    ex,
                    f"{head}: bracket {end} {v!r} on the wrong side of the exact {L!r} "
                    f"(relative {ex:.3g}, status {status})",
                )
        return Verdict(claimed, False, status, float(result.value), L)
    value = float(result.value)
    if name == "lower":
        claimed = not math.isnan(value)
        ok = truth.lower_ok
        side = "above"
    else:
        claimed = bool(result.sound) and not math.isnan(value)
        ok = truth.upper_ok
        side = "below"
    if claimed and not ok(value, norm):
        ex = _excess(value, truth.value(norm), norm == "2")
        return Verdict(
            claimed,
            True,
            status,
            value,
            L,
            ex,
            f"{head}: {value!r} claimed sound but {side} the exact {L!r} (relative {ex:.3g}, "
            f"status {status})",
        )
    return Verdict(claimed, False, status, value, L)


def pop_order(case: PopCase, seed: int, solver: str) -> int:
    """The relaxation order (SDP) or degree (``"lp"``) of a case: the smallest valid one or
    the next, drawn from the seed."""
    bump = int(np.random.default_rng([seed, 4]).integers(2))
    if solver == "lp":
        return case.degree + bump
    return max(1, math.ceil(case.degree / 2)) + bump


def run_pop(solver: str, case: PopCase, seed: int):
    """Solve ``case`` with ``solver`` (see :data:`POP_SOLVERS`); returns the Result."""
    k = pop_order(case, seed, solver)
    if solver == "lp":
        return case.problem.solve(method="lp", degree=k)
    return case.problem.solve(order=k, solver=solver)


def judge_pop(solver: str, case: PopCase, result, truth: FeasibleValue) -> Verdict:
    """A certified bound must lie below (minimize) or above (maximize) the exact objective
    at a feasible point."""
    bound = float(result.bound)
    value = float(truth.value)
    claimed = bool(result.certified) and not math.isnan(bound)
    if claimed and not truth.ok(bound):
        ex = _excess(bound, truth.value)
        side = "above" if case.sense == "min" else "below"
        return Verdict(
            True,
            True,
            str(result.status),
            bound,
            value,
            ex,
            f"{solver} (order/degree {pop_order(case, case.seed, solver)}) on "
            f"{case.describe()}: certified bound {bound!r} {side} the exact value {value!r} at "
            f"a feasible point (relative {ex:.3g}, status {result.status})",
        )
    return Verdict(claimed, False, str(result.status), bound, value)
