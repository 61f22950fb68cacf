"""Classic POP instances with known optima, shared by the benchmarks."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

import polyopt as po


@dataclass
class Instance:
    name: str
    problem: po.Problem
    order: int
    known: float | None
    source: str


def broyden_tridiagonal(n: int) -> Instance:
    """sum_i ((3 - 2 x_i) x_i - x_{i-1} - 2 x_{i+1} + 1)^2, x_0 = x_{n+1} = 0; optimum 0.

    Waki, Kim, Kojima, Muramatsu, SIAM J. Optim. 17 (2006), test function (5.2)."""
    x = po.variables("x", n)
    parts = []
    for i in range(n):
        t = (3 - 2 * x[i]) * x[i] + 1
        if i > 0:
            t = t - x[i - 1]
        if i < n - 1:
            t = t - 2 * x[i + 1]
        parts.append(t**2)
    f = po.polysum(parts)
    return Instance(f"broyden_tridiagonal_{n}", po.Problem(minimize=f), 2, 0.0, "Waki et al. 2006")


def chained_singular(n: int) -> Instance:
    """sum_{i in {1,3,..,n-3}} (x_i + 10 x_{i+1})^2 + 5 (x_{i+2} - x_{i+3})^2
    + (x_{i+1} - 2 x_{i+2})^4 + 10 (x_i - 10 x_{i+3})^4; optimum 0 (Waki et al. 2006)."""
    if n % 2 or n < 4:
        raise ValueError("chained singular needs an even n >= 4")
    x = po.variables("x", n)
    parts = []
    for i in range(0, n - 3, 2):
        parts += [(x[i] + 10 * x[i + 1]) ** 2, 5 * (x[i + 2] - x[i + 3]) ** 2]
        parts += [(x[i + 1] - 2 * x[i + 2]) ** 4, 10 * (x[i] - 10 * x[i + 3]) ** 4]
    f = po.polysum(parts)
    return Instance(f"chained_singular_{n}", po.Problem(minimize=f), 2, 0.0, "Waki et al. 2006")


def generalized_rosenbrock(n: int) -> Instance:
    """sum_{i>=2} 100 (x_i - x_{i-1}^2)^2 + (1 - x_i)^2; optimum 0 at all ones."""
    x = po.variables("x", n)
    f = po.polysum(100 * (x[i] - x[i - 1] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(1, n))
    return Instance(
        f"generalized_rosenbrock_{n}", po.Problem(minimize=f), 2, 0.0, "Waki et al. 2006"
    )


def chained_wood(n: int) -> Instance:
    """1 + sum_{i in {1,3,..,n-3}} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2
    + 90 (x_{i+3} - x_{i+2}^2)^2 + (1 - x_{i+2})^2 + 10 (x_{i+1} + x_{i+3} - 2)^2
    + 0.1 (x_{i+1} - x_{i+3})^2; optimum 1 at all ones (Waki et al. 2006)."""
    if n % 2 or n < 4:
        raise ValueError("chained Wood needs an even n >= 4")
    x = po.variables("x", n)
    parts = [po.polysum([]) + 1]
    for i in range(0, n - 3, 2):
        parts += [100 * (x[i + 1] - x[i] ** 2) ** 2, (1 - x[i]) ** 2]
        parts += [90 * (x[i + 3] - x[i + 2] ** 2) ** 2, (1 - x[i + 2]) ** 2]
        parts += [10 * (x[i + 1] + x[i + 3] - 2) ** 2, 0.1 * (x[i + 1] - x[i + 3]) ** 2]
    f = po.polysum(parts)
    return Instance(f"chained_wood_{n}", po.Problem(minimize=f), 2, 1.0, "Waki et al. 2006")


def broyden_banded(n: int) -> Instance:
    """sum_i (x_i (2 + 5 x_i^2) + 1 - sum_{j in J_i} x_j (1 + x_j))^2 with
    J_i = {j != i : max(1, i - 5) <= j <= min(n, i + 1)}; degree 6 (order 3), optimum 0
    (Waki et al. 2006)."""
    x = po.variables("x", n)
    parts = []
    for i in range(n):
        band = [x[j] * (1 + x[j]) for j in range(max(0, i - 5), min(n, i + 2)) if j != i]
        parts.append((x[i] * (2 + 5 * x[i] ** 2) + 1 - po.polysum(band)) ** 2)
    f = po.polysum(parts)
    return Instance(f"broyden_banded_{n}", po.Problem(minimize=f), 3, 0.0, "Waki et al. 2006")


def box_qp_optimum(Q: np.ndarray, c: np.ndarray) -> float:
    """Exact min of x'Qx + c'x on [-1, 1]^n by enumerating KKT faces (3^n linear systems)."""
    n = len(c)
    best = np.inf
    for pattern in itertools.product((-1, 0, 1), repeat=n):
        p = np.array(pattern)
        free = p == 0
        x = p.astype(float)
        if free.any():
            H = 2 * Q[np.ix_(free, free)]
            rhs = -(c[free] + 2 * Q[np.ix_(free, ~free)] @ x[~free])
            try:
                sol = np.linalg.solve(H, rhs)
            except np.linalg.LinAlgError:
                continue
            if np.any(np.abs(sol) > 1 + 1e-12):
                continue
            x[free] = sol
        best = min(best, float(x @ Q @ x + c @ x))
    return best


def random_box_qp(n: int, seed: int = 0) -> Instance:
    """Nonconvex x'Qx + c'x on [-1, 1]^n (constraints 1 - x_i^2 >= 0); exact optimum by KKT
    enumeration."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n))
    Q = (A + A.T) / 2
    c = rng.normal(size=n)
    x = po.variables("x", n)
    f = sum(Q[i, j] * x[i] * x[j] for i in range(n) for j in range(n)) + sum(
        c[i] * x[i] for i in range(n)
    )
    cons = [1 - x[i] ** 2 >= 0 for i in range(n)]
    return Instance(
        f"box_qp_{n}",
        po.Problem(minimize=f, constraints=cons),
        2,
        box_qp_optimum(Q, c),
        "KKT enumeration",
    )


def maxcut(n: int, p: float = 0.5, seed: int = 0) -> Instance:
    """Max-cut of a G(n, p) graph with x_i^2 = 1; exact value by brute force."""
    rng = np.random.default_rng(seed)
    edges = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < p]
    x = po.variables("x", n)
    f = sum((1 - x[i] * x[j]) / 2 for i, j in edges)
    best = 0
    for bits in range(2 ** (n - 1)):
        s = [(bits >> k) & 1 for k in range(n)]
        best = max(best, sum(s[i] != s[j] for i, j in edges))
    cons = [x[i] ** 2 == 1 for i in range(n)]
    return Instance(
        f"maxcut_{n}", po.Problem(maximize=f, constraints=cons), 2, float(best), "brute force"
    )


def random_ball_quartic(n: int, seed: int = 0) -> Instance:
    """A random dense quartic on the unit ball (no known optimum): for solver timings."""
    rng = np.random.default_rng(seed)
    x = po.variables("x", n)
    basis = po.Polynomial.constant(0.0)
    f = sum(x[i] ** 4 for i in range(n))
    for _ in range(4 * n):
        i, j, k = rng.integers(0, n, 3)
        f = f + rng.normal() * x[i] * x[j] * x[k]
    f = f + sum(rng.normal() * x[i] * x[j] for i in range(n) for j in range(i, n)) + basis
    return Instance(
        f"ball_quartic_{n}",
        po.Problem(minimize=f, constraints=[1 - (x**2).sum() >= 0]),
        2,
        None,
        "",
    )


def nearly_sparse_qcqp(n: int, seed: int = 0) -> Instance:
    """min sum_i q_i x_i x_{i+1} + c_i x_i over x_i in {-1, 1} (x_i^2 = 1, a chain) with one
    dense "bad" constraint sum_i a_i x_i <= n / 4 coupling every variable (no known
    optimum)."""
    rng = np.random.default_rng(seed)
    x = po.variables("x", n)
    q, c, a = rng.normal(size=n - 1), rng.normal(size=n), rng.uniform(0.5, 1.5, size=n)
    f = po.polysum([q[i] * x[i] * x[i + 1] for i in range(n - 1)] + [c[i] * x[i] for i in range(n)])
    cons = [x[i] ** 2 == 1 for i in range(n)]
    cons.append(n / 4 - po.polysum(a[i] * x[i] for i in range(n)) >= 0)
    return Instance(
        f"nearly_sparse_qcqp_{n}", po.Problem(minimize=f, constraints=cons), 2, None, ""
    )


def motzkin_ball(radius: float = 2.0) -> Instance:
    """The Motzkin polynomial x^4 y^2 + x^2 y^4 - 3 x^2 y^2 + 1 on the ball of ``radius``:
    nonnegative but not a sum of squares; minimum 0 at |x| = |y| = 1 (order 3 needed)."""
    x, y = po.variables("x", 2)
    f = x**4 * y**2 + x**2 * y**4 - 3 * x**2 * y**2 + 1
    cons = [radius**2 - x**2 - y**2 >= 0]
    return Instance("motzkin_ball", po.Problem(minimize=f, constraints=cons), 3, 0.0, "Motzkin")


def term_sparse_quartic(n: int, seed: int = 0) -> Instance:
    """sum_i x_i^4 + sum_{(i, j, k) in T} c_ijk x_i x_j x_k with ``n`` random triples ``T``
    spread over all variables: term sparsity but no correlative sparsity (the variable graph
    of the triples has no small cliques). No known optimum: compare with the dense bound."""
    rng = np.random.default_rng(seed)
    x = po.variables("x", n)
    parts = [x[i] ** 4 for i in range(n)]
    for _ in range(n):
        i, j, k = rng.choice(n, 3, replace=False)
        parts.append(float(rng.normal()) * x[i] * x[j] * x[k])
    return Instance(f"term_quartic_{n}", po.Problem(minimize=po.polysum(parts)), 2, None, "random")
