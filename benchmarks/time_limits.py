"""Do time limits hold? Every solver on problems that need far longer than the limit.

Prints, per solver and limit: the wall time of the whole call, its ratio to the limit, the
status and the bound (``nan`` when the solver was stopped before a certified bound).

    python benchmarks/time_limits.py --limits 2,5,10
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import lipschitz
import polyopt as po
from lipschitz.random_nets import random_network

SOLVERS = ("clarabel", "sdpa", "arrow", "scs", "lowrank", "cvxpy:CLARABEL", "cvxpy:SCS")


def quartic(n: int = 8) -> po.Problem:
    """An n-variable quartic on [-1, 1]^n: its order-3 relaxation takes minutes to hours."""
    x = po.variables("x", n)
    w = np.random.default_rng(0).normal(size=n)
    f = sum((x[i] ** 2 - x[(i + 1) % n]) ** 2 for i in range(n)) + sum(
        float(w[i]) * x[i] * x[(i + 2) % n] for i in range(n)
    )
    return po.Problem(minimize=f, constraints=[1 - x[i] ** 2 >= 0 for i in range(n)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limits", default="2,5,10", help="comma-separated seconds")
    args = ap.parse_args()
    limits = [float(v) for v in args.limits.split(",")]
    prob = quartic()
    net = random_network([40, 40, 40, 10], seed=0)
    cases = [
        (f"quartic order 3, {s}", lambda t, s=s: prob.solve(order=3, solver=s, time_limit=t))
        for s in SOLVERS
    ]
    cases.append(
        (
            "quartic, LP hierarchy degree 6 (build ~7 s)",
            lambda t: prob.solve(method="lp", degree=6, time_limit=t),
        )
    )
    cases.append(
        (
            "upper_bound HR-2, (40, 40, 40, 10) net",
            lambda t: lipschitz.upper_bound(net, order=2, time_limit=t),
        )
    )
    print(f"{'case':<46} {'limit':>6} {'wall':>7} {'ratio':>6}  {'status':<11} bound")
    for name, run in cases:
        for limit in limits:
            t0 = time.perf_counter()
            r = run(limit)
            wall = time.perf_counter() - t0
            value = r.bound if hasattr(r, "bound") else r.value
            print(
                f"{name:<46} {limit:6.1f} {wall:7.2f} {wall / limit:6.3f}  {r.status:<11} "
                f"{value:.6g}"
            )


if __name__ == "__main__":
    main()
