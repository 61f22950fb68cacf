"""A short tour: classic problems solved by the dense hierarchy, with known optima."""

from __future__ import annotations

import numpy as np

from .algebra import variables
from .model import Problem


def demo_problems() -> list[tuple[str, Problem, int, float | None, str]]:
    """``(name, problem, order, known optimum, source)`` tuples."""
    out = []
    x = variables("x", 2)
    camel = (
        4 * x[0] ** 2
        - 2.1 * x[0] ** 4
        + x[0] ** 6 / 3
        + x[0] * x[1]
        - 4 * x[1] ** 2
        + 4 * x[1] ** 4
    )
    out.append(
        (
            "six-hump camel",
            Problem(minimize=camel),
            3,
            -1.031628453,
            "Henrion-Lasserre-Lofberg 2009 (GloptiPoly 3)",
        )
    )
    y = variables("y", 3)
    ball = Problem(
        minimize=y[0] ** 4 + y[1] ** 2 - y[0] * y[2], constraints=[1 - (y**2).sum() >= 0]
    )
    out.append(("quartic on the unit ball", ball, 2, None, ""))
    z = variables("z", 5)
    edges = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 0)]
    cut = sum((1 - z[i] * z[j]) / 2 for i, j in edges)
    cyc = Problem(maximize=cut, constraints=[z[i] ** 2 == 1 for i in range(5)])
    out.append(("max-cut 5-cycle, order 1", cyc, 1, 4.0, "brute force"))
    out.append(("max-cut 5-cycle, order 2", cyc, 2, 4.0, "brute force"))
    w = variables("w", 2)
    motz = Problem(
        minimize=w[0] ** 4 * w[1] ** 2 + w[0] ** 2 * w[1] ** 4 - 3 * w[0] ** 2 * w[1] ** 2 + 1
    )
    out.append(("Motzkin (not SOS), order 3", motz, 3, 0.0, "Motzkin 1967"))
    return out


def run_demo() -> None:
    """Solve the demo problems and print bound, status and time."""
    head = (
        f"{'problem':30s} {'order':>5s} {'bound':>14s} {'known':>10s} {'status':>11s} "
        f"{'seconds':>8s}  minimizers"
    )
    print(head)
    print("-" * len(head))
    for name, prob, order, known, _ in demo_problems():
        r = prob.solve(order=order)
        mins = r.minimizers()
        pts = (
            "; ".join("(" + ", ".join(f"{v:.4f}" for v in p) + ")" for p in mins)
            if mins.certified
            else "-"
        )
        k = "" if known is None else f"{known:.6g}"
        b = f"{r.bound:.8g}" if np.isfinite(r.bound) else str(r.bound)
        print(f"{name:30s} {r.order:5d} {b:>14s} {k:>10s} {r.status:>11s} {r.seconds:8.3f}  {pts}")
    print("\nbound: lower bound for minimize, upper bound for maximize. The Motzkin relaxation is")
    print("unbounded at every order, so it must not come back 'optimal'.")
